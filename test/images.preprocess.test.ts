// Preprocessing as the reference (resize the shorter side, centre crop,
// ImageNet mean/std, greyscale to RGB), mask alignment, and pyramid mode.
import test from 'ava';
import * as path from 'path';
import { Backbone, demoBackbonePath, resizeBilinear } from '../lib/images/backbone';
import { IMAGENET_MEAN, IMAGENET_STD, loadImage, loadMask, resizeGeometry } from '../lib/images/preprocess';
import { Random } from '../lib/random';
import { tempDir, writePng } from './helpers/mvtec';
import { seeded } from './helpers/numeric';

test('a greyscale image becomes RGB, normalised per channel by the mean and std', async (t) => {
  const rng = seeded(t);
  const v = 20 + Math.floor(rng.uniform() * 200);
  const file = path.join(tempDir(), 'grey.png');
  await writePng(file, 24, 24, 1, new Uint8Array(24 * 24).fill(v));
  const x = await loadImage(file, { imageSize: 16, crop: 16, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  t.is(x.length, 3 * 16 * 16);
  for (let c = 0; c < 3; ++c) {
    const want = (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
    const plane = x.subarray(c * 256, (c + 1) * 256);
    t.true(plane.every((p) => Math.abs(p - want) <= 1e-5 + 1e-5 * Math.abs(want)), `channel ${c}: ${plane[0]} vs ${want}`);
  }
});

test('resize keeps the aspect (shorter side = imageSize) and the crop is centred as torchvision\'s', (t) => {
  const p = { imageSize: 10, crop: 8, mean: IMAGENET_MEAN, std: IMAGENET_STD };
  t.deepEqual(resizeGeometry(30, 20, p), { width: 15, height: 10, left: 4, top: 1 });
  t.deepEqual(resizeGeometry(20, 35, p), { width: 10, height: 17, left: 1, top: 5 });
});

test('a mask is resized nearest-neighbour and cropped as its image: a square stays where it was', async (t) => {
  const file = path.join(tempDir(), 'm.png');
  const px = new Uint8Array(40 * 40);
  for (let y = 10; y < 20; ++y) for (let x = 20; x < 30; ++x) px[y * 40 + x] = 255;
  await writePng(file, 40, 40, 1, px);
  // 40 -> 20 (scale 1/2), crop 16 at offset 2: the square covers rows 3..7 and columns 8..12 of the crop.
  const m = await loadMask(file, { imageSize: 20, crop: 16, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  let bad = 0;
  for (let y = 0; y < 16; ++y) for (let x = 0; x < 16; ++x) if (m[y * 16 + x] !== (y >= 3 && y < 8 && x >= 8 && x < 13 ? 1 : 0)) bad++;
  t.is(bad, 0);
});

test('pyramid mode runs one output on the image at scales 1, 1/2, 1/4', async (t) => {
  const b = await Backbone.open(demoBackbonePath(), { pyramid: true, levels: ['stage3'] });
  t.deepEqual(b.levelNames, ['stage3@1', 'stage3@0.5', 'stage3@0.25']);
  const rng = new Random(Math.floor(Math.random() * 2 ** 31));
  const S = 64;
  const img = Float32Array.from({ length: 2 * 3 * S * S }, () => rng.normal());
  const maps = await b.run(img, 2, S);
  t.deepEqual(maps.map((m) => [m.channels, m.height, m.width]), [[64, 8, 8], [64, 4, 4], [64, 2, 2]]);
  // The half-scale level is the plain backbone run on the bilinearly halved image.
  const plain = await Backbone.open(demoBackbonePath(), { levels: ['stage3'] });
  const half = new Float32Array(2 * 3 * 32 * 32);
  for (let i = 0; i < 2; ++i) resizeBilinear(img.subarray(i * 3 * S * S, (i + 1) * 3 * S * S), S, 32, half.subarray(i * 3 * 1024, (i + 1) * 3 * 1024));
  const [ref] = await plain.run(half, 2, 32);
  t.deepEqual(Array.from(maps[1].data), Array.from(ref.data));
  // With align_corners = true the corners map onto each other: 4 -> 2 keeps
  // rows and columns 0 and 3 (test/images.resize.test.ts checks it against PyTorch).
  const tiny = Float32Array.from({ length: 3 * 16 }, (_, i) => i);
  const down = resizeBilinear(tiny, 4, 2);
  t.deepEqual(Array.from(down.subarray(0, 4)), [0, 3, 12, 15]);
  await b.close();
  await plain.close();
});
