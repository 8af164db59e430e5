// HGAD.fitImages end to end on a tiny MVTec-layout data set with the shipped
// demo backbone: extraction into the cache, training from it in the worker,
// the model's record of its backbone, and the check that refuses another.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { FitImagesProgress, fitImages, fitFeatureMaps } from '../lib/images/fit_images';
import { checkFeatureOrigin, modelPreprocessing } from '../lib/images/feature_extractor';
import { sha256File } from '../lib/images/backbone';
import { makeMvtec, tempDir } from './helpers/mvtec';

const small = { imageSize: 32, condChannels: 8, couplings: 2, intraCentres: 2, metaEpochs: 2, subEpochs: 1, imagesPerBatch: 2 };

test('fitImages extracts once, trains every level from the cache, records the backbone; a second run reuses the cache', async (t) => {
  const root = await makeMvtec({ grid: { train: 4 }, wood: { train: 4, good: 1, defects: { hole: 1 } } }, { size: 40 });
  const cacheDir = tempDir();
  const progress: FitImagesProgress[] = [];
  const r = await fitImages({ data: root, cacheDir, ...small, onProgress: (p) => progress.push(p) });
  t.false(r.cache.reused);
  t.deepEqual(r.index.classNames, ['grid', 'wood']);
  const extract = progress.filter((p) => p.phase === 'extract');
  const train = progress.filter((p) => p.phase === 'train');
  t.is(extract.at(-1)!.done, 8);
  // 2 meta-epochs x 1 sub-epoch x 4 batches of 2 images x 3 levels
  t.is(train.length, 2 * 4 * 3);
  t.true(train.every((p) => p.phase === 'train' && Number.isFinite(p.losses.loss) && p.vectorsPerSecond > 0));
  const info = r.model.info();
  t.deepEqual(info.levels, [{ channels: 32, condChannels: 8 }, { channels: 64, condChannels: 8 }, { channels: 96, condChannels: 8 }]);
  t.true(info.calibrated);
  const origin = r.model.config.features!;
  t.is(origin.backbone.sha256, await sha256File(demoBackbonePath()));
  t.deepEqual(origin.levels, ['stage2', 'stage3', 'stage4']);
  t.deepEqual(origin.preprocessing.imageSize, 32);

  // The record survives the model file, and scoring can check a backbone against it.
  const file = path.join(tempDir(), 'm.safetensors');
  await r.model.save(file);
  const loaded = await HGAD.load(file);
  t.deepEqual(loaded.config.features, origin);
  const prep = modelPreprocessing(loaded.config, file);
  const demo = await Backbone.open(demoBackbonePath());
  t.notThrows(() => checkFeatureOrigin(loaded.config, file, demo, prep));
  t.throws(() => checkFeatureOrigin(loaded.config, file, demo, { ...prep, crop: 24 }), { message: /resized to 32, cropped to 32 .* but the given preprocessing is 32, 24/ });
  await demo.close();
  // Another backbone of the same graph and outputs: one weight bit flipped.
  const copy = path.join(tempDir(), 'other.onnx');
  const bytes = fs.readFileSync(demoBackbonePath());
  bytes[bytes.length - 5] ^= 1;
  fs.writeFileSync(copy, bytes);
  const other = await Backbone.open(copy);
  const err = t.throws(() => checkFeatureOrigin(loaded.config, file, other, prep));
  t.regex(err!.message, new RegExp(`^${file.replace(/[.]/g, '\\.')}: the model was trained with the backbone demo_backbone\\.onnx \\(sha256 [0-9a-f]{12}…\\) but .*other\\.onnx \\(sha256 [0-9a-f]{12}…\\) was given`));
  await other.close();

  const again = await fitImages({ data: root, cacheDir, ...small, metaEpochs: 1, lr: 1e-4, onProgress: (p) => t.not(p.phase, 'extract') });
  t.true(again.cache.reused, 'other flow settings reuse the features');
  t.is(again.cache.dir, r.cache.dir);
});

test('fitImages checks its options before reading any image', async (t) => {
  const data = tempDir();
  await t.throwsAsync(fitImages({ data, imageSize: 0 }), { instanceOf: RangeError, message: /Expected an integer image size in \[1, 8192\] for options.imageSize but received 0/ });
  await t.throwsAsync(fitImages({ data, imageSize: 32, crop: 40 }), { instanceOf: RangeError, message: /crop size in \[1, imageSize = 32\] for options.crop but received 40/ });
  await t.throwsAsync(fitImages({ data, condChannels: 6 }), { instanceOf: RangeError, message: /multiple of 4 .* for options.condChannels but received 6/ });
  await t.throwsAsync(fitImages({ data, lr: -1 }), { instanceOf: RangeError, message: /for options.lr but received -1/ });
  await t.throwsAsync(fitImages({ data, couplings: 0 }), { instanceOf: RangeError, message: /config.couplings/ });
  await t.throwsAsync(fitImages({ data: 3 as never }), { instanceOf: TypeError, message: /Expected a data set folder or a DatasetIndex for options.data but received 3/ });
  await t.throwsAsync(fitImages({ data, device: 'gpu' as never }), { instanceOf: RangeError, message: /options.device/ });
  await t.throwsAsync(fitImages({ data }), { message: new RegExp(`${data}: no class folders`) });
});

test('fitFeatureMaps trains on precomputed .npy maps (N, C, H, W per level) through the cache; bad files are named', async (t) => {
  const { writeNpy } = await import('../lib/io/npy');
  const dir = tempDir();
  const rng = new (await import('../lib/random')).Random(Math.floor(Math.random() * 2 ** 31));
  const maps = (N: number, C: number, H: number, W: number) => Float32Array.from({ length: N * C * H * W }, () => rng.normal());
  const a = maps(6, 4, 3, 3);
  const b = maps(6, 6, 2, 2);
  writeNpy(path.join(dir, 'a.npy'), { dtype: 'float32', shape: [6, 4, 3, 3], data: a });
  writeNpy(path.join(dir, 'b.npy'), { dtype: 'float32', shape: [6, 6, 2, 2], data: b });
  const labels = Int32Array.from([0, 0, 0, 1, 1, 1]);
  const cacheDir = tempDir();
  const r = await fitFeatureMaps({ featureMaps: [path.join(dir, 'a.npy'), path.join(dir, 'b.npy')], labels, classNames: ['x', 'y'], cacheDir, ...small });
  t.deepEqual(r.model.info().levels, [{ channels: 4, condChannels: 8 }, { channels: 6, condChannels: 8 }]);
  t.is(r.model.config.features, undefined, 'no backbone recorded');
  // The cache holds the maps transposed to rows, as float16.
  const { openFeatureSource } = await import('../lib/data/open_source');
  const source = openFeatureSource({ kind: 'cache', dir: r.cache.dir });
  const out = new Float32Array(3 * 3 * 4);
  source.read(0, Int32Array.from([4]), out);
  let worst = 0;
  for (let c = 0; c < 4; ++c) for (let i = 0; i < 9; ++i) worst = Math.max(worst, Math.abs(out[i * 4 + c] - a[4 * 36 + c * 9 + i]) - 1e-3 * Math.abs(a[4 * 36 + c * 9 + i]));
  t.true(worst <= 1e-3, `rows of image 4 (worst excess ${worst})`);
  source.close();

  writeNpy(path.join(dir, 'c.npy'), { dtype: 'float32', shape: [5, 6, 2, 2], data: maps(5, 6, 2, 2) });
  await t.throwsAsync(fitFeatureMaps({ featureMaps: [path.join(dir, 'a.npy'), path.join(dir, 'c.npy')], labels, classNames: ['x', 'y'], cacheDir, ...small }),
    { message: /c\.npy: holds 5 images but .*a\.npy holds 6/ });
  writeNpy(path.join(dir, 'd.npy'), { dtype: 'float32', shape: [6, 36], data: a.subarray(0, 216) });
  await t.throwsAsync(fitFeatureMaps({ featureMaps: [path.join(dir, 'd.npy')], labels, classNames: ['x', 'y'], cacheDir, ...small }),
    { message: /d\.npy: expected feature maps of shape \(N, C, H, W\) but found \(6, 36\)/ });
  await t.throwsAsync(fitFeatureMaps({ featureMaps: [path.join(dir, 'a.npy')], labels: Int32Array.from([0, 0, 0, 1, 1, 2]), classNames: ['x', 'y'], cacheDir, ...small }),
    { instanceOf: RangeError, message: /Expected class ids in \[0, 2\) for labels\[5\] but received 2/ });
});
