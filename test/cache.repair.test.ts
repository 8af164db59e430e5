// The feature cache is never trusted blindly: level files are checked against
// the sha1 recorded at extraction, a folder with cache.json or a level file
// missing or truncated is rebuilt and swapped in (one warning, no raw
// ENOTEMPTY), --rebuild-cache / rebuildCache replaces a cache whose images
// changed in place, and a non-finite feature names the file and the image.
import test from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CacheWriter } from '../lib/data/cache_writer';
import { CACHE_META, CacheMeta, levelFile } from '../lib/data/feature_cache';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { DatasetIndex, indexDataset } from '../lib/images/dataset';
import sharp from 'sharp';
import { extractFeatures, ExtractOptions } from '../lib/images/extract';
import { IMAGENET_MEAN, IMAGENET_STD, Preprocessing } from '../lib/images/preprocess';
import { makeMvtec, tempDir } from './helpers/mvtec';
import { fitImages } from '../lib/images/fit_images';

const prep: Preprocessing = { imageSize: 40, crop: 32, mean: IMAGENET_MEAN, std: IMAGENET_STD };

async function setup(t: { teardown: (f: () => Promise<void>) => void }, prepare?: (index: DatasetIndex) => Promise<void>) {
  const root = await makeMvtec({ bottle: { train: 3 }, cable: { train: 2 } }, { size: 48 });
  const index = await indexDataset(root);
  await prepare?.(index);
  const backbone = await Backbone.open(demoBackbonePath());
  t.teardown(() => backbone.close());
  const cacheDir = tempDir();
  const warnings: string[] = [];
  const options = (more: Partial<ExtractOptions> = {}): ExtractOptions => ({
    images: index.train, classNames: index.classNames, backbone, preprocessing: prep, cacheDir, onWarning: (m) => warnings.push(m), ...more,
  });
  const first = await extractFeatures(options());
  return { index, cacheDir, warnings, options, first };
}

const bytesOf = (dir: string, l: number) => fs.readFileSync(levelFile(dir, l));
const tempsIn = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('.'));

test('a level file corrupted at the same size fails its checksum and is rebuilt with one warning', async (t) => {
  const { cacheDir, warnings, options, first } = await setup(t);
  t.is(first.meta.checksums?.length, 3);
  const good = bytesOf(first.dir, 1);
  const bad = Buffer.from(good);
  bad[100] ^= 0x01; // one bit: a finite float16 stays finite
  fs.writeFileSync(levelFile(first.dir, 1), bad);
  const again = await extractFeatures(options());
  t.false(again.reused, 'the corrupted cache is not trained on');
  t.is(warnings.length, 1);
  t.regex(warnings[0], /level1\.bin: its checksum differs from the one recorded at extraction.*rebuilding it$/);
  t.false(warnings[0].includes('\n'));
  t.true(bytesOf(again.dir, 1).equals(good), 'rebuilt to the same bytes');
  t.deepEqual(tempsIn(cacheDir), []);
  t.true((await extractFeatures(options())).reused, 'the rebuilt cache verifies');
});

test('a cache folder without cache.json, or with a truncated or missing level file, is rebuilt (no ENOTEMPTY)', async (t) => {
  const { cacheDir, warnings, options, first } = await setup(t);
  const good = [0, 1, 2].map((l) => bytesOf(first.dir, l));
  const breakages: [string, () => void, RegExp][] = [
    ['cache.json deleted', () => fs.rmSync(path.join(first.dir, CACHE_META)), /cache\.json: no such file/],
    ['level file truncated', () => fs.truncateSync(levelFile(first.dir, 2), 10), /level2\.bin: expected \d+ bytes .* but found 10/],
    ['level file missing', () => fs.rmSync(levelFile(first.dir, 0)), /level0\.bin: expected \d+ bytes .* but found no file/],
  ];
  for (const [what, breakIt, why] of breakages) {
    warnings.length = 0;
    breakIt();
    const again = await extractFeatures(options());
    t.false(again.reused, what);
    t.is(again.dir, first.dir);
    t.is(warnings.length, 1, what);
    t.regex(warnings[0], why, what);
    t.true([0, 1, 2].every((l) => bytesOf(again.dir, l).equals(good[l])), `${what}: rebuilt whole`);
    t.deepEqual(tempsIn(cacheDir), [], `${what}: the broken folder was swapped out and removed`);
    t.true((await extractFeatures(options({ onProgress: () => t.fail('no extraction') }))).reused, `${what}: the next run reuses it`);
  }
});

// Uncompressed PNGs: the file's size depends on the image's size only.
async function writeRawPng(file: string, fill: number): Promise<void> {
  const pixels = Buffer.alloc(48 * 48 * 3, fill);
  await sharp(pixels, { raw: { width: 48, height: 48, channels: 3 } }).png({ compressionLevel: 0 }).toFile(file);
}

test('images rewritten in place with the same size and time: the key does not see it, rebuild does', async (t) => {
  let file = '';
  const { cacheDir, options, first } = await setup(t, async (index) => {
    file = index.train[0].path;
    await writeRawPng(file, 40);
    fs.utimesSync(file, 1.7e9, 1.7e9); // whole seconds: restored exactly below
  });
  const st = fs.statSync(file);
  const before = fs.readFileSync(file);
  await writeRawPng(file, 200);
  t.is(fs.statSync(file).size, st.size);
  t.false(fs.readFileSync(file).equals(before));
  fs.utimesSync(file, 1.7e9, 1.7e9);
  t.is(fs.statSync(file).mtimeMs, st.mtimeMs);
  const stale = await extractFeatures(options());
  t.true(stale.reused, 'the documented key: paths, sizes, modification times');
  const old = bytesOf(first.dir, 0);
  const rebuilt = await extractFeatures(options({ rebuild: true }));
  t.false(rebuilt.reused);
  t.is(rebuilt.dir, first.dir);
  t.false(bytesOf(rebuilt.dir, 0).equals(old), 'image 0 re-extracted');
  const elsewhere = await extractFeatures(options({ cacheDir: tempDir() }));
  t.true(bytesOf(rebuilt.dir, 0).equals(bytesOf(elsewhere.dir, 0)), 'the features of the bytes the image now has');
  t.deepEqual(tempsIn(cacheDir), []);
});

test('fitImages: rebuildCache must be a boolean and re-extracts when true', async (t) => {
  const root = await makeMvtec({ grid: { train: 2 } }, { size: 32 });
  const cacheDir = tempDir();
  const small = { data: root, cacheDir, imageSize: 32, condChannels: 8, couplings: 1, intraCentres: 1, metaEpochs: 1, subEpochs: 1, imagesPerBatch: 2 };
  await t.throwsAsync(fitImages({ ...small, rebuildCache: 'yes' as unknown as boolean }), { message: 'Expected a boolean for options.rebuildCache but received "yes"' });
  const a = await fitImages(small);
  const b = await fitImages(small);
  const c = await fitImages({ ...small, rebuildCache: true });
  t.deepEqual([a.cache.reused, b.cache.reused, c.cache.reused], [false, true, false]);
  for (const r of [a, b, c]) r.model.close();
});

test('a non-finite feature is refused at extraction, and one in a cache names the level file and the image', async (t) => {
  const { index, options, first } = await setup(t);
  // A cache holding a NaN under good checksums (as an older hgad could write): not trained on.
  const meta = JSON.parse(fs.readFileSync(path.join(first.dir, CACHE_META), 'utf8')) as CacheMeta;
  const bytes = bytesOf(first.dir, 1);
  const per = 4 * 4 * 64;
  const at = 3 * per + 5 * 64 + 7; // image 3, position 5 = (y 1, x 1), channel 7
  bytes.writeUInt16LE(0x7e00, at * 2); // float16 NaN
  fs.writeFileSync(levelFile(first.dir, 1), bytes);
  meta.checksums![1] = crypto.createHash('sha1').update(bytes).digest('hex');
  fs.writeFileSync(path.join(first.dir, CACHE_META), JSON.stringify(meta));
  const err = await t.throwsAsync(extractFeatures(options()));
  t.is(
    err!.message,
    `${levelFile(first.dir, 1)}: a non-finite feature value of image 3 (${index.train[3].path}), level 1 (stage3), position (y 1, x 1), channel 7; ` +
      `delete the cache folder ${first.dir} or run again with --rebuild-cache`,
  );

  // The writer refuses a non-finite value, and a float16 overflow, naming the image.
  const levels = [{ name: 'a', channels: 2, height: 1, width: 2 }];
  const w = new CacheWriter(path.join(tempDir(), '0123456789abcdef'), levels, 'float16', 2);
  t.throws(() => w.appendImage(0, Float32Array.of(0, 1, NaN, 2), 'x/img.png'), { message: 'x/img.png: a non-finite feature value in level 0 (a), position (y 0, x 0), channel 1: the feature extractor gave NaN' });
  t.throws(() => w.appendImage(0, Float32Array.of(0, 1, 2, 1e5), 'x/img.png'), {
    message: "x/img.png: a non-finite feature value in level 0 (a), position (y 0, x 1), channel 1: 100000 is beyond float16's range (65504): store the cache as float32 (--cache-float32)",
  });
  w.abort();
});
