// Data and model files that used to give a wrong answer quietly or a raw
// JavaScript error: class ids that Int32Array.fill would truncate, classes
// too small to calibrate, runs that never reach stage 2, diverged losses,
// model files whose tensors do not match their configuration, hostile
// metadata, SharedArrayBuffer-backed arrays and null options.
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { FormatError } from '../lib/errors';
import { encodeSafetensors, parseSafetensors, SafeTensor } from '../lib/io/safetensors';
import { decodeModel } from '../lib/hgad/persist';
import { DivergenceGuard, DIVERGENCE_FACTOR } from '../lib/hgad/divergence';
import type { ModelConfig } from '../lib/hgad/config';
import { Random } from '../lib/random';
import { inSharedMemory } from '../lib/hgad/lifetime';
import { firstNonFiniteOf } from '../lib/hgad/checks';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-rel-model-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const C = 4;
const config = (K: number, couplings = 1): ModelConfig => ({
  levels: [{ channels: C, condChannels: 0 }],
  classNames: Array.from({ length: K }, (_, k) => `c${k}`),
  couplings,
  clamp: 1.9,
  intraCentres: 2,
});

function data(labels: number[], seed: number): { features: Float32Array; labels: Int32Array } {
  const rng = new Random(seed);
  const features = Float32Array.from({ length: labels.length * C }, (_, i) => rng.normal() + labels[Math.floor(i / C)]);
  return { features, labels: Int32Array.from(labels) };
}

test('score() refuses a class id that is not an integer in [0, K) instead of truncating it', async (t) => {
  const model = HGAD.create(config(2), 3);
  const x = data([0, 1, 0, 1], 5).features;
  for (const bad of [1.5, NaN, 2 ** 32 + 1, -0.5, 2, -1, Infinity]) {
    const err = await t.throwsAsync(() => model.score([{ features: x }], bad), { instanceOf: RangeError });
    t.is(err!.message, `Expected an integer class id in [0, 2) for classId but received ${Number.isNaN(bad) ? 'NaN' : String(bad)}`);
    t.throws(() => model.core.scoreSync([{ features: x }], bad), { instanceOf: RangeError });
  }
  const ok = await model.score([{ features: x }], 1);
  t.is(ok.levels[0].logp.length, 4);
  model.close();
});

test('arrays backed by a SharedArrayBuffer fit and score as ordinary arrays do', async (t) => {
  const d = data(Array.from({ length: 64 }, (_, i) => i % 2), 7);
  const shared = new Float32Array(new SharedArrayBuffer(d.features.byteLength));
  shared.set(d.features);
  const sharedLabels = new Int32Array(new SharedArrayBuffer(d.labels.byteLength));
  sharedLabels.set(d.labels);
  const a = HGAD.create(config(2), 11);
  const b = HGAD.create(config(2), 11);
  const opts = { epochs: 1, batchSize: 16, stage1Epochs: 0, warmEpochs: 0 };
  await a.fit([{ features: shared, labels: sharedLabels }], opts);
  await b.fit([d], opts);
  const sa = await a.score([{ features: shared }], sharedLabels);
  const sb = await b.score([{ features: d.features }], d.labels);
  t.deepEqual(Array.from(sa.levels[0].logp), Array.from(sb.levels[0].logp));
  t.deepEqual(Array.from(sa.calibrated!), Array.from(sb.calibrated!));
  a.close();
  b.close();
});

test('fit() shares its data with the worker: shared arrays as they are, others copied once, the caller\'s arrays left whole', async (t) => {
  const shared = new Float32Array(new SharedArrayBuffer(16));
  t.is(inSharedMemory(shared), shared);
  const rng = new Random(21);
  const big = Float32Array.from({ length: 40 }, () => rng.normal());
  const view = big.subarray(8, 24);
  const copy = inSharedMemory(view);
  t.true(copy.buffer instanceof SharedArrayBuffer);
  t.is(copy.buffer.byteLength, view.byteLength, 'only the view\'s bytes');
  t.deepEqual(Array.from(copy), Array.from(view));
  const ids = Int32Array.from([0, 1, 1]);
  t.true(inSharedMemory(ids) instanceof Int32Array && inSharedMemory(ids).buffer instanceof SharedArrayBuffer);
  // The caller's (ordinary) arrays stay whole and usable: nothing is transferred away.
  const d = data(Array.from({ length: 48 }, (_, i) => i % 2), 13);
  const before = Array.from(d.features);
  const model = HGAD.create(config(2), 5);
  await model.fit([{ features: d.features.subarray(0, 32 * C), labels: d.labels.subarray(0, 32) }], { epochs: 1, batchSize: 16, stage1Epochs: 0 });
  t.is(d.features.length, 48 * C);
  t.deepEqual(Array.from(d.features), before);
  model.close();
});

test('a non-finite value in a shared array is found past the first checked chunk, naming its vector', (t) => {
  const n = (1 << 18) + 4 * C;
  const x = new Float32Array(new SharedArrayBuffer(n * 4)).fill(0.5);
  t.is(firstNonFiniteOf(x), -1);
  const at = (1 << 18) + 2 * C + 1;
  x[at] = NaN;
  t.is(firstNonFiniteOf(x), at);
  const labels = new Int32Array(new SharedArrayBuffer((n / C) * 4));
  const model = HGAD.create(config(2), 5);
  const err = t.throws(() => model.core.fitSync([{ features: x, labels }], { epochs: 1 }), { instanceOf: RangeError });
  t.regex(err!.message, new RegExp(`NaN at vector ${Math.floor(at / C)}, dimension ${at % C}`));
});

test('fit(data, null) trains with the defaults; fit(data, 3) is a TypeError', async (t) => {
  const model = HGAD.create(config(2), 2);
  const d = data(Array.from({ length: 32 }, (_, i) => i % 2), 9);
  const summary = await model.fit([d], null);
  t.true(Number.isFinite(summary.finalLosses[0].loss));
  const err = await t.throwsAsync(() => model.fit([d], 3 as never), { instanceOf: TypeError });
  t.is(err!.message, 'Expected an options object for options but received 3');
});

test('classes with 0 or 1 training vectors are recorded, warned about, and give NaN calibrated scores', async (t) => {
  // Class 2 has one vector, class 3 none.
  const labels = [...Array.from({ length: 40 }, (_, i) => i % 2), 2];
  const model = HGAD.create(config(4), 4);
  const d = data(labels, 13);
  const summary = await model.fit([d], { epochs: 3, batchSize: 8 });
  t.is(summary.warnings.length, 1);
  t.regex(summary.warnings[0], /^2 classes have fewer than 2 training vectors, too few to calibrate: "c2" \(1\), "c3" \(0\)/);
  const info = model.info();
  t.deepEqual(info.trainingCounts, [20, 20, 1, 0]);
  t.deepEqual(info.uncalibratedClasses, ['c2', 'c3']);
  const s = await model.score([{ features: d.features.subarray(0, 3 * C).slice() }], Int32Array.of(0, 2, 3));
  t.true(Number.isFinite(s.calibrated![0]));
  t.true(Number.isNaN(s.calibrated![1]) && Number.isNaN(s.calibrated![2]));
  t.deepEqual(s.uncalibratedClasses, [2, 3]);
  t.true(s.levels[0].logp.every(Number.isFinite));
  const file = path.join(tmp, 'counts.safetensors');
  await model.save(file);
  const back = await HGAD.load(file);
  t.deepEqual(back.info().trainingCounts, [20, 20, 1, 0]);
  model.close();
});

test('a fit whose epochs are all stage 1 says the intra-class mixtures were never trained', async (t) => {
  const model = HGAD.create(config(2), 6);
  const d = data(Array.from({ length: 32 }, (_, i) => i % 2), 17);
  const summary = await model.fit([d], { epochs: 2, stage1Epochs: 2, batchSize: 8 });
  t.deepEqual(summary.warnings, [
    'all 2 epochs are stage 1 (stage1Epochs = 2): the intra-class mixtures were never trained; use more than 2 epochs or a smaller stage1Epochs',
  ]);
  const longer = await model.fit([d], { epochs: 3, stage1Epochs: 2, batchSize: 8 });
  t.deepEqual(longer.warnings, []);
});

test('a loss that explodes stops the fit as diverged; a non-finite loss at the first iteration does not blame the learning rate', async (t) => {
  const cfg = config(2, 3);
  const guard = new DivergenceGuard(cfg);
  const at = (i: number) => `level 0, epoch 1, iteration ${i}`;
  guard.observe(0, 12, at(1), 1e-3);
  guard.observe(0, 12 * DIVERGENCE_FACTOR * 0.5, at(2), 1e-3); // large but within the bound: not diverged
  guard.observe(1, 5e5, at(1), 1e-3); // each level starts its own reference
  const err = t.throws(() => guard.observe(0, 3e21, at(3), 1e-3));
  t.regex(err!.message, /^fit: training diverged at level 0, epoch 1, iteration 3: the loss grew from 12\.00 to 3\.00e\+21; the weights were not kept\./);
  t.regex(err!.message, /fewer couplings \(now 3\)/);

  // 128 couplings take these features past float32 at initialisation.
  const model = HGAD.create({ ...config(2, 128), clamp: 1.9 }, 1);
  const d = data(Array.from({ length: 64 }, (_, i) => i % 2), 19);
  for (let i = 0; i < d.features.length; ++i) d.features[i] *= 30;
  const before = model.info().parameters;
  const fitErr = await t.throwsAsync(() => model.fit([d], { epochs: 1, batchSize: 64 }));
  t.regex(fitErr!.message, /epoch 1, iteration 1.*the learning rate is not the cause: the flow \(128 couplings, clamp 1\.9\)/);
  t.false(fitErr!.message.includes('\n'));
  t.is(model.info().parameters, before);
});

function modelFile(model: HGAD, edit: (tensors: Record<string, SafeTensor>, meta: { config: ModelConfig } & Record<string, unknown>) => void): Buffer {
  const { tensors, metadata } = parseSafetensors(encodeModelBytes(model));
  const meta = JSON.parse(metadata.hgad);
  edit(tensors, meta);
  return encodeSafetensors(tensors, { hgad: JSON.stringify(meta) });
}

function encodeModelBytes(model: HGAD): Buffer {
  const file = path.join(tmp, `m-${Math.random().toString(16).slice(2)}.safetensors`);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { saveModel } = require('../lib/hgad/persist') as typeof import('../lib/hgad/persist');
  saveModel(model.core, file);
  return fs.readFileSync(file);
}

test('a model file must hold exactly the tensors its configuration describes', (t) => {
  const model = HGAD.create(config(2, 2), 8);
  t.notThrows(() => decodeModel(modelFile(model, () => undefined)));
  // The configuration says 1 coupling but the file holds 2 blocks.
  const fewer = modelFile(model, (_, meta) => {
    meta.config.couplings = 1;
  });
  const err = t.throws(() => decodeModel(fewer, 'm.safetensors'), { instanceOf: FormatError });
  t.regex(err!.message, /^m\.safetensors: holds 7 tensors its configuration \(1 level, 1 couplings\) does not use: level0\.flow\.1\./);
  const junk = modelFile(model, (tensors) => {
    for (let i = 0; i < 1000; ++i) tensors[`junk${i}`] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
  });
  t.regex(t.throws(() => decodeModel(junk, 'j.safetensors'))!.message, /holds 1000 tensors .* does not use: junk0, junk1, junk10, \.\.\./);
  const missing = modelFile(model, (tensors) => {
    delete tensors['level0.mu'];
  });
  t.regex(t.throws(() => decodeModel(missing, 'x'))!.message, /missing tensor level0\.mu/);
});

test('hostile model metadata is one FormatError naming the file', (t) => {
  const model = HGAD.create(config(2, 1), 8);
  const tensors = parseSafetensors(encodeModelBytes(model)).tensors;
  const cases: [string, RegExp][] = [
    ['null', /the "hgad" metadata entry is not a JSON object \(found null\)/],
    ['[1]', /not a JSON object \(found an array\)/],
    ['"x"', /not a JSON object \(found string\)/],
    [JSON.stringify({ format: 'hgad', version: 1, config: { ...config(2, 1), couplings: 2 ** 32 } }), /Expected an integer <= 1024 for config\.couplings but received 4294967296/],
    [JSON.stringify({ format: 'hgad', version: 1, config: { ...config(2, 1), levels: [{ channels: 2 ** 31, condChannels: 0 }] } }), /Expected an integer <= 65536 for config\.levels\[0\]\.channels/],
    [JSON.stringify({ format: 'hgad', version: 1, config: { ...config(2, 1), intraCentres: 1e9 } }), /config\.intraCentres/],
  ];
  for (const [hgad, message] of cases) {
    const err = t.throws(() => decodeModel(encodeSafetensors(tensors, { hgad }), 'bad.safetensors'), { instanceOf: FormatError });
    t.regex(err!.message, /^bad\.safetensors: /);
    t.regex(err!.message, message);
    t.false(err!.message.includes('\n'));
  }
});

test('HGAD.create refuses configurations past the limits with one RangeError', (t) => {
  t.throws(() => HGAD.create({ ...config(2), couplings: 2 ** 32 }), { instanceOf: RangeError, message: /config\.couplings/ });
  const names = Array.from({ length: 100_001 }, (_, k) => String(k));
  t.throws(() => HGAD.create({ ...config(2), classNames: names }), { instanceOf: RangeError, message: /at most 100000 class names/ });
});
