// Feature extraction into the on-disk cache and reading it back: the data set
// index, preprocessing, the shipped demo backbone, the cache's layout (rows
// (h*w, C) per image in (y, x) order), its reuse, and its FeatureSource.
import test from 'ava';
import * as fs from 'fs';
import { native } from '../lib/binding';
import { openFeatureSource } from '../lib/data/open_source';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { indexDataset } from '../lib/images/dataset';
import { extractFeatures, ExtractProgress } from '../lib/images/extract';
import { IMAGENET_MEAN, IMAGENET_STD, loadImage, Preprocessing } from '../lib/images/preprocess';
import { makeMvtec, tempDir } from './helpers/mvtec';

const prep: Preprocessing = { imageSize: 40, crop: 32, mean: IMAGENET_MEAN, std: IMAGENET_STD };

test('extraction writes each image\'s rows (h*w, C) in (y, x) order as float16, reads them back, and reuses the cache', async (t) => {
  const root = await makeMvtec({ bottle: { train: 5, good: 1, defects: { crack: 1 } }, cable: { train: 4 } }, { size: 48 });
  const index = await indexDataset(root);
  t.deepEqual(index.classNames, ['bottle', 'cable']);
  t.is(index.train.length, 9);
  t.deepEqual(index.test.map((x) => [x.defect, x.maskPath === null]), [['crack', false], ['good', true]]);
  const backbone = await Backbone.open(demoBackbonePath());
  const cacheDir = tempDir();
  const progress: ExtractProgress[] = [];
  const r = await extractFeatures({ images: index.train, classNames: index.classNames, backbone, preprocessing: prep, cacheDir, batchSize: 4, onProgress: (p) => progress.push(p) });
  t.false(r.reused);
  t.deepEqual(r.meta.levels.map((l) => [l.name, l.channels, l.height, l.width]), [['stage2', 32, 8, 8], ['stage3', 64, 4, 4], ['stage4', 96, 2, 2]]);
  t.deepEqual(progress.map((p) => p.done), [4, 8, 9]);
  t.true(progress.every((p) => p.total === 9 && p.imagesPerSecond > 0 && p.etaSeconds >= 0));
  t.is(progress[2].etaSeconds, 0);

  // The stored rows are the backbone's maps of the preprocessed image, transposed, to float16 precision.
  const source = openFeatureSource({ kind: 'cache', dir: r.dir });
  t.deepEqual(Array.from(source.labels), [0, 0, 0, 0, 0, 1, 1, 1, 1]);
  const id = 6;
  const maps = await backbone.run(await loadImage(index.train[id].path, prep), 1, prep.crop);
  for (let l = 0; l < 3; ++l) {
    const { channels: C, height: h, width: w } = source.levels[l];
    const out = new Float32Array(2 * h * w * C).fill(NaN);
    source.read(l, Int32Array.from([id, 0]), out);
    let worst = 0;
    for (let c = 0; c < C; ++c) {
      for (let i = 0; i < h * w; ++i) {
        const want = maps[l].data[c * h * w + i];
        worst = Math.max(worst, Math.abs(out[i * C + c] - want) / (1e-3 + 1e-3 * Math.abs(want)));
      }
    }
    t.true(worst <= 1, `level ${l}: float16 rows within 1e-3 + 1e-3|ref| (worst ratio ${worst})`);
    t.is(native.firstNonFinite(out), -1, 'every value written');
  }
  t.throws(() => source.read(0, Int32Array.from([9]), new Float32Array(8 * 8 * 32)), { instanceOf: RangeError, message: /image ids in \[0, 9\)/ });
  source.close();

  const again = await extractFeatures({ images: index.train, classNames: index.classNames, backbone, preprocessing: prep, cacheDir, onProgress: () => t.fail('no extraction') });
  t.true(again.reused);
  t.is(again.dir, r.dir);
  const other = await extractFeatures({ images: index.train, classNames: index.classNames, backbone, preprocessing: { ...prep, crop: 24 }, cacheDir });
  t.false(other.reused, 'another preprocessing is another key');
  t.deepEqual(fs.readdirSync(cacheDir).filter((f) => f.startsWith('.')), [], 'no temporary folder left');
  await backbone.close();
});
