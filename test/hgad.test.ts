// The public asynchronous model: fit and score off the main thread, progress,
// seeded repeatability, persistence, and errors that leave the model intact.
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { auroc } from '../lib/metrics/auroc';
import { Random } from '../lib/random';
import { loadModel, saveModel, encodeModel, decodeModel } from '../lib/hgad/persist';
import { FormatError } from '../lib/errors';
import type { GaussianMixture } from '../lib/nn/heads';
import { SYNTHETIC_C, SYNTHETIC_K, syntheticClasses } from './helpers/synthetic';

const C = SYNTHETIC_C;
const K = SYNTHETIC_K;

const synthetic = (seed: number, perClass: number, shift = 0) => syntheticClasses(seed, perClass, shift, 2);

const config = { levels: [{ channels: C, condChannels: 0 }], classNames: ['a', 'b', 'c'], couplings: 2, clamp: 1.9, intraCentres: 3 };
const train = { epochs: 3, batchSize: 64, lr: 3e-3, seed: 1 };

test('fit reports progress, keeps the event loop free, and learns to separate anomalies', async (t) => {
  const model = HGAD.create(config, 3);
  const data = synthetic(1, 150);
  const progress: number[] = [];
  let ticks = 0;
  const timer = setInterval(() => ++ticks, 5);
  const summary = await model.fit([data], { ...train, onProgress: (p) => progress.push(p.losses.loss) });
  clearInterval(timer);
  t.true(ticks > 0, 'timers fired while fit ran');
  t.is(progress.length, 3 * Math.floor(450 / 64));
  t.true(progress.every(Number.isFinite));
  t.true(summary.seconds >= 0);
  t.true(model.info().calibrated);
  const normal = synthetic(2, 60);
  const anomal = synthetic(3, 60, 3);
  const features = new Float32Array(normal.features.length + anomal.features.length);
  features.set(normal.features);
  features.set(anomal.features, normal.features.length);
  const truth = new Uint8Array(features.length / C).fill(1, normal.labels.length);
  const classes = new Int32Array(truth.length);
  classes.set(normal.labels);
  classes.set(anomal.labels, normal.labels.length);
  const scores = await model.score([{ features }], classes);
  t.true(auroc(scores.calibrated!, truth) > 0.9);
  t.true(auroc(scores.levels[0].logp.map((v) => -v), truth) > 0.9);
  t.is(scores.fusion!.length, truth.length);
});

test('the same seed gives the same model; calibrated scores do not depend on the batch', async (t) => {
  const data = synthetic(4, 80);
  const a = HGAD.create(config, 5);
  const b = HGAD.create(config, 5);
  await a.fit([data], train);
  await b.fit([data], train);
  t.deepEqual(encodeModel(a.core), encodeModel(b.core));
  const probe = synthetic(6, 10);
  const whole = await a.score([{ features: probe.features }], probe.labels);
  const part = await a.score([{ features: probe.features.subarray(0, 5 * C) }], probe.labels.subarray(0, 5));
  t.deepEqual(Array.from(part.calibrated!), Array.from(whole.calibrated!.subarray(0, 5)));
});

test('a non-finite loss stops fit with a clear error and leaves the weights unchanged', async (t) => {
  const model = HGAD.create(config, 7);
  const before = encodeModel(model.core);
  const data = synthetic(8, 50);
  data.features[7] = 1e30;
  const err = await t.throwsAsync(model.fit([data], train));
  t.regex(err!.message, /loss became|non-finite|Expected finite/);
  t.deepEqual(encodeModel(model.core), before);
});

test('score reuses one worker across calls, sees new weights after fit, and close() stops it', async (t) => {
  const model = HGAD.create(config, 21);
  const probe = synthetic(22, 5);
  const before = await model.score([{ features: probe.features }], probe.labels);
  const t0 = Date.now();
  const again = await model.score([{ features: probe.features }], probe.labels);
  t.log(`second score call: ${Date.now() - t0} ms`);
  t.deepEqual(Array.from(again.levels[0].logp), Array.from(before.levels[0].logp));
  await model.fit([synthetic(23, 60)], train);
  const after = await model.score([{ features: probe.features }], probe.labels);
  t.notDeepEqual(Array.from(after.levels[0].logp), Array.from(before.levels[0].logp), 'scores follow the trained weights');
  const concurrent = await Promise.all([0, 1, 2].map((k) => model.score([{ features: probe.features }], k)));
  t.is(concurrent.length, 3);
  t.true(concurrent.every((s) => s.levels[0].logp.length === 15));
  model.close();
  const reopened = await model.score([{ features: probe.features }], probe.labels);
  t.deepEqual(Array.from(reopened.levels[0].logp), Array.from(after.levels[0].logp));
  model.close();
});

test('training that diverges stops with an error naming where, and the model keeps its weights', async (t) => {
  const model = HGAD.create(config, 11);
  const before = encodeModel(model.core);
  const err = await t.throwsAsync(model.fit([synthetic(12, 60)], { ...train, lr: 1e9, warmEpochs: 0, epochs: 5 }));
  t.regex(err!.message, /fit: (training diverged|the loss became) .*level 0, epoch \d+, iteration \d+.*Lower the learning rate/);
  t.deepEqual(encodeModel(model.core), before);
});

test('fit and score reject bad inputs with errors naming the argument', async (t) => {
  const model = HGAD.create(config, 0);
  const data = synthetic(9, 20);
  await t.throwsAsync(model.fit([{ features: data.features, labels: data.labels.subarray(1) }], train), { instanceOf: RangeError, message: /labels/ });
  await t.throwsAsync(model.fit([{ features: data.features.subarray(1), labels: data.labels }], train), { instanceOf: RangeError, message: /features/ });
  await t.throwsAsync(model.fit([{ features: data.features, labels: data.labels.map(() => 3) }], train), { instanceOf: RangeError, message: /class ids in \[0, 3\)/ });
  await t.throwsAsync(model.fit([{ features: data.features, labels: data.labels }], { ...train, epochs: 0 }), { instanceOf: RangeError, message: /epochs/ });
  await t.throwsAsync(model.fit([{ features: data.features, labels: data.labels }], { ...train, lr: -1 }), { instanceOf: RangeError, message: /lr/ });
  await t.throwsAsync(model.score([{ features: data.features }], 5), { instanceOf: RangeError, message: /classId/ });
  await t.throwsAsync(model.score([{ features: Array.from(data.features) as unknown as Float32Array }], 0), { instanceOf: TypeError, message: /features/ });
  await t.throwsAsync(model.score([{ features: data.features, cond: new Float32Array(3) }], 0), { instanceOf: TypeError, message: /cond/ });
  t.throws(() => HGAD.create({ ...config, classNames: [] }), { instanceOf: TypeError, message: /classNames/ });
  t.throws(() => HGAD.create({ ...config, levels: [{ channels: 1, condChannels: 0 }] }), { instanceOf: RangeError, message: /channels/ });
});

test('several feature levels, one conditional, train and score together', async (t) => {
  const { positionalConditions } = await import('../lib/nn/positional_encoding');
  const multi = HGAD.create({ ...config, levels: [{ channels: C, condChannels: 0 }, { channels: 4, condChannels: 8 }] }, 13);
  const level0 = synthetic(14, 40);
  const N1 = 60;
  const rng = new Random(15);
  const features1 = Float32Array.from({ length: N1 * 4 }, () => rng.normal());
  const cond1 = new Float32Array(N1 * 8);
  const grid = positionalConditions(8, 3, 4); // 12 positions x 8
  for (let n = 0; n < N1; ++n) cond1.set(grid.subarray((n % 12) * 8, (n % 12) * 8 + 8), n * 8);
  const labels1 = Int32Array.from({ length: N1 }, (_, n) => n % K);
  await multi.fit([level0, { features: features1, labels: labels1, cond: cond1 }], train);
  const probe = synthetic(16, 4);
  // Levels of different sizes: per-level scores only.
  const s = await multi.score([{ features: probe.features }, { features: features1.subarray(0, 8 * 4), cond: cond1.subarray(0, 8 * 8) }], 1);
  t.is(s.levels.length, 2);
  t.is(s.levels[0].logp.length, 12);
  t.is(s.levels[1].logp.length, 8);
  t.is(s.calibrated, null);
  t.true([...s.levels[0].logp, ...s.levels[1].logp, ...s.levels[1].negEntropy].every(Number.isFinite));
  // Same sizes: combined scores too.
  const same = await multi.score([{ features: probe.features.subarray(0, 8 * C) }, { features: features1.subarray(0, 8 * 4), cond: cond1.subarray(0, 8 * 8) }], 2);
  t.is(same.calibrated!.length, 8);
  t.true(same.calibrated!.every(Number.isFinite));
  await t.throwsAsync(multi.score([{ features: probe.features }, { features: features1 }], 0), { instanceOf: TypeError, message: /inputs\[1\]\.cond/ });
});

test('models round-trip through safetensors files; corrupt and truncated files are rejected', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-model-'));
  const model = HGAD.create({ ...config, levels: [{ channels: C, condChannels: 4 }] }, 2);
  const file = path.join(dir, 'm.safetensors');
  await model.save(file);
  const loaded = await HGAD.load(file);
  t.deepEqual(encodeModel(loaded.core), encodeModel(model.core));
  t.deepEqual(loaded.info(), model.info());
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(path.join(dir, 'trunc.safetensors'), bytes.subarray(0, bytes.length - 10));
  await t.throwsAsync(HGAD.load(path.join(dir, 'trunc.safetensors')), { instanceOf: FormatError });
  const corrupt = Buffer.from(bytes);
  corrupt.write('{"x', 8);
  fs.writeFileSync(path.join(dir, 'corrupt.safetensors'), corrupt);
  await t.throwsAsync(HGAD.load(path.join(dir, 'corrupt.safetensors')), { instanceOf: FormatError });
  await t.throwsAsync(HGAD.load(path.join(dir, 'missing.safetensors')), { message: /no such file/ });
  // A tensor of the wrong shape or a non-finite weight is rejected by name.
  const m = loadModel(file);
  (m.levels[0].head as GaussianMixture).mu.data[0] = NaN;
  saveModel(m, path.join(dir, 'nan.safetensors'));
  t.throws(() => decodeModel(fs.readFileSync(path.join(dir, 'nan.safetensors')), 'nan.safetensors'), { instanceOf: FormatError, message: /level0\.mu.*non-finite/ });
  fs.rmSync(dir, { recursive: true });
});

test('device option: auto falls back to the CPU without a GPU, cuda without one throws at create, bad values are named', async (t) => {
  const { devices } = await import('../lib/backend/devices');
  t.throws(() => HGAD.create(config, 0, { device: 'gpu' as never }), { instanceOf: RangeError, message: /Expected "cpu", "cuda" or "auto" for options.device but received "gpu"/ });
  t.throws(() => HGAD.create(config, 0, { precision: 'fp16' as never }), { instanceOf: RangeError, message: /options.precision/ });
  if (devices().devices.length > 0) {
    t.log('a GPU is present: the no-GPU fallbacks were not exercised');
    t.is(HGAD.create(config, 0, { device: 'auto' }).device, 'cuda');
    return;
  }
  t.throws(() => HGAD.create(config, 0, { device: 'cuda' }), { message: /^CUDA is not available: / });
  const auto = HGAD.create(config, 3, { device: 'auto', precision: 'tf32' });
  t.is(auto.device, 'cpu');
  t.like(auto.info(), { device: 'cpu', precision: 'tf32' });
  const data = synthetic(1, 30);
  await auto.fit([data], { ...train, epochs: 1 });
  const s = await auto.score([{ features: data.features }], data.labels);
  t.true(s.calibrated!.every(Number.isFinite));
  auto.close();
});
