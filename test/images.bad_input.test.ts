// Bad input on the image path: each case is one clear error naming the file
// at fault, and nothing half-written is left (the cache folder stays empty).
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from '../lib/errors';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { indexDataset } from '../lib/images/dataset';
import * as disk from '../lib/io/disk';
import { inspectDataset } from '../lib/images/inspect';
import { Random } from '../lib/random';
import { makeMvtec, tempDir, texture, writePng } from './helpers/mvtec';
import { fitImages } from '../lib/images/fit_images';

const small = { imageSize: 32, condChannels: 8, couplings: 1, intraCentres: 2, metaEpochs: 1, subEpochs: 1, imagesPerBatch: 2 };
const flatOnnx = path.join(__dirname, '..', '..', 'test', 'fixtures', 'onnx', 'flat_output.onnx');

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Runs fitImages expecting a failure; checks that the cache folder holds nothing afterwards. */
async function failsCleanly(t: import('ava').ExecutionContext, options: Parameters<typeof fitImages>[0], message: RegExp): Promise<Error> {
  const cacheDir = tempDir();
  const err = await t.throwsAsync(fitImages({ cacheDir, ...small, ...options }), { message });
  t.deepEqual(fs.readdirSync(cacheDir), [], 'nothing written to the cache folder');
  return err!;
}

test('an unreadable image is listed and fails the run, unless skipping is allowed; a truncated one fails at decode', async (t) => {
  const root = await makeMvtec({ carpet: { train: 5 } });
  const bad = path.join(root, 'carpet', 'train', 'good', '002.png');
  fs.writeFileSync(bad, 'this is not a png');
  const err = await failsCleanly(t, { data: root }, new RegExp(`^${escape(bad)}: 1 unreadable training image: ${escape(bad)} \\(cannot read the image .*\\)\\. .*--skip-unreadable`));
  t.true(err instanceof FormatError);

  const r = await fitImages({ data: root, cacheDir: tempDir(), ...small, skipUnreadable: true });
  t.deepEqual(r.skipped.map((s) => s.path), [bad]);
  t.regex(r.skipped[0].reason, /^cannot read the image/);

  // A valid header over broken pixel data passes the header check and fails when decoded.
  const whole = fs.readFileSync(path.join(root, 'carpet', 'train', 'good', '001.png'));
  fs.writeFileSync(bad, whole.subarray(0, Math.floor(whole.length * 0.6)));
  await failsCleanly(t, { data: root }, new RegExp(`^${escape(bad)}: cannot read the image`));
  const skipped = await fitImages({ data: root, cacheDir: tempDir(), ...small, skipUnreadable: true });
  t.deepEqual(skipped.skipped.map((s) => s.path), [bad], 'skipped at decode time, recorded with the cache');
});

test('a class folder without train/good, a defect image without its mask, a mask of another size: each named', async (t) => {
  const root = await makeMvtec({ leather: { train: 2, defects: { cut: 1 } } });
  fs.mkdirSync(path.join(root, 'tile', 'test', 'good'), { recursive: true });
  await failsCleanly(t, { data: root }, new RegExp(`^${escape(path.join(root, 'tile'))}: class folder without train/good`));
  await t.throwsAsync(indexDataset(root, { classes: ['nope'] }), { message: new RegExp(`${escape(path.join(root, 'nope'))}: no such class folder`) });

  const mask = path.join(root, 'leather', 'ground_truth', 'cut', '000_mask.png');
  const image = path.join(root, 'leather', 'test', 'cut', '000.png');
  fs.renameSync(mask, mask + '.bak');
  await failsCleanly(t, { data: root, classes: ['leather'] }, new RegExp(`^${escape(image)}: defect image without its ground-truth mask \\(expected ${escape(mask)}\\)`));
  await writePng(mask, 16, 16, 1, new Uint8Array(256));
  await failsCleanly(t, { data: root, classes: ['leather'] }, new RegExp(`^${escape(mask)}: mask of 16x16 for the image ${escape(image)} of 32x32`));
});

test('images of mixed sizes or modes within a class are refused naming the file, unless mixing is allowed', async (t) => {
  const root = await makeMvtec({ screw: { train: 3 } });
  const odd = path.join(root, 'screw', 'train', 'good', '009.png');
  await writePng(odd, 40, 32, 3, texture(new Random(2), 0, 40, 3).subarray(0, 40 * 32 * 3));
  await failsCleanly(t, { data: root }, new RegExp(`^${escape(odd)}: image of 40x32, 3 channels, srgb uchar in class "screw" whose first image .*000\\.png is 32x32, 3 channels`));
  fs.rmSync(odd);
  const grey = path.join(root, 'screw', 'train', 'good', '010.png');
  await writePng(grey, 32, 32, 1, texture(new Random(3), 0, 32, 1));
  await failsCleanly(t, { data: root }, new RegExp(`^${escape(grey)}: image of 32x32, 1 channel, b-w uchar in class "screw"`));
  const index = await indexDataset(root);
  const ok = await inspectDataset(index, { allowMixed: true });
  t.is(ok.train.length, 4, 'allowed: the grey image is made RGB at decode');
  const r = await fitImages({ data: root, cacheDir: tempDir(), ...small, allowMixed: true });
  t.is(r.model.info().levels.length, 3);
});

test('a corrupt ONNX file, an output that is not 4-D, a level name the model does not have: each named', async (t) => {
  const root = await makeMvtec({ pill: { train: 2 } });
  const corrupt = path.join(tempDir(), 'broken.onnx');
  fs.writeFileSync(corrupt, fs.readFileSync(demoBackbonePath()).subarray(0, 5000));
  await failsCleanly(t, { data: root, backbone: corrupt }, new RegExp(`^${escape(corrupt)}: not a loadable ONNX model`));
  await failsCleanly(t, { data: root, backbone: path.join(tempDir(), 'missing.onnx') }, /missing\.onnx: no such file \(expected an ONNX model\)/);
  await failsCleanly(t, { data: root, backbone: flatOnnx }, new RegExp(`^${escape(flatOnnx)}: output "pooled" has 2 dimensions; feature levels must be 4-D`));
  const one = await Backbone.open(flatOnnx, { levels: ['map'] });
  t.deepEqual(one.levelNames, ['map'], 'its 4-D output alone is fine');
  await one.close();
  await failsCleanly(t, { data: root, levels: ['stage3', 'stage9'] },
    new RegExp(`^Expected an output of ${escape(demoBackbonePath())} \\(stage2, stage3, stage4\\) for levels\\[1\\] but received "stage9"`));
});

test('too little free disk for the cache is refused before extraction, naming the folder and the sizes', async (t) => {
  const root = await makeMvtec({ zipper: { train: 2 } });
  const original = disk.checkFreeSpace;
  (disk as { checkFreeSpace: typeof original }).checkFreeSpace = (dir, need, what) => original(dir, need, what, () => 1024 * 1024);
  try {
    const cacheDir = tempDir();
    await t.throwsAsync(fitImages({ data: root, cacheDir, ...small }), {
      message: new RegExp(`^${escape(cacheDir)}: too little free disk for the feature cache: it needs [0-9.]+ MB \\(plus 16\\.0 MB spare\\) and 1\\.0 MB are free`),
    });
    t.deepEqual(fs.readdirSync(cacheDir), []);
  } finally {
    (disk as { checkFreeSpace: typeof original }).checkFreeSpace = original;
  }
  t.throws(() => disk.checkFreeSpace('/x', 100 * 2 ** 20, 'it', () => 104 * 2 ** 20), { message: /^\/x: too little free disk for it: it needs 100\.0 MB \(plus 16\.0 MB spare\) and 104\.0 MB are free/ });
  t.notThrows(() => disk.checkFreeSpace('/x', 100 * 2 ** 20, 'it', () => 117 * 2 ** 20));
});
