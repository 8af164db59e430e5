// Scoring without class ids: the inferred class and the marginal against
// their definitions (scores under each given class), an item alone against
// the same item in a batch, the marginal's calibration through the model
// file, and older files without it.
import test from 'ava';
import { HGAD } from '../lib/hgad';
import { HgadModel } from '../lib/hgad/model';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeModel, encodeModel, modelFromTensors, modelTensors, saveModel } from '../lib/hgad/persist';
import { FormatError } from '../lib/errors';
import { Random } from '../lib/random';
import { SYNTHETIC_C, SYNTHETIC_K, syntheticClasses } from './helpers/synthetic';

const C = SYNTHETIC_C;
const K = SYNTHETIC_K;

const synthetic = (seed: number, perClass: number, shift = 0) => syntheticClasses(seed, perClass, shift, 3);

const config = { levels: [{ channels: C, condChannels: 0 }, { channels: C, condChannels: 4 }], classNames: ['a', 'b', 'c'], couplings: 2, clamp: 1.9, intraCentres: 3 };

let trained: HgadModel | null = null;
/** One small two-level model trained once for the file (the second level conditioned). */
function model(): HgadModel {
  if (trained) return trained;
  const data = synthetic(1, 100);
  const rng = new Random(9);
  const cond = Float32Array.from({ length: data.labels.length * 4 }, () => rng.normal());
  const m = HgadModel.create(config, 3);
  // lr 3e-2: at 3e-3 the centres cannot move far enough in 40 steps for the posterior to learn the classes
  m.fitSync([data, { ...data, cond }], { epochs: 10, batchSize: 64, lr: 3e-2, seed: 1 });
  trained = m;
  return m;
}

function inputsOf(features: Float32Array, seed = 5) {
  const rng = new Random(seed);
  const cond = Float32Array.from({ length: (features.length / C) * 4 }, () => rng.normal());
  return [{ features }, { features, cond }];
}

const close = (a: number, b: number, tol = 1e-4) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));

test('class-free scores match their definitions: the inferred class scored as given, the marginal as log sum_k pi_k p(z | k)', (t) => {
  const m = model();
  const test = synthetic(2, 10);
  const inputs = inputsOf(test.features);
  const N = test.labels.length;
  const perClass = Array.from({ length: K }, (_, k) => m.scoreSync(inputs, k));
  const inferred = m.scoreSync(inputs, undefined, 'inferred');
  const marginal = m.scoreSync(inputs, undefined, 'marginal');
  t.is(inferred.classFree!.rule, 'inferred');
  t.deepEqual(Array.from(marginal.classFree!.classes), Array.from(inferred.classFree!.classes));
  let right = 0;
  for (let i = 0; i < N; ++i) {
    const k = inferred.classFree!.classes[i];
    right += k === test.labels[i] ? 1 : 0;
    for (let l = 0; l < 2; ++l) t.true(close(inferred.levels[l].logp[i], perClass[k].levels[l].logp[i]));
    t.true(close(inferred.calibrated![i], perClass[k].calibrated![i]));
    const p = inferred.classFree!.posterior[i];
    t.true(p >= 1 / K - 1e-6 && p <= 1);
    for (let l = 0; l < 2; ++l) {
      const lpi = m.levels[l].head.logPriorsHost();
      const terms = perClass.map((s, kk) => C * s.levels[l].logp[i] + lpi[kk]);
      const mx = Math.max(...terms);
      const want = (mx + Math.log(terms.reduce((a, v) => a + Math.exp(v - mx), 0))) / C;
      t.true(close(marginal.levels[l].logp[i], want), `marginal at level ${l}, vector ${i}: ${marginal.levels[l].logp[i]} vs ${want}`);
    }
  }
  // well-separated classes: the posterior finds them
  t.true(right / N >= 0.9, `inferred class right on ${right} of ${N}`);
  t.true(marginal.calibrated!.every(Number.isFinite));
});

test('class-free scoring of one vector alone equals the same vector in a batch (both rules)', (t) => {
  const m = model();
  const features = synthetic(4, 4, 0.5).features;
  const inputs = inputsOf(features);
  const N = features.length / C;
  for (const rule of ['inferred', 'marginal'] as const) {
    const batch = m.scoreSync(inputs, undefined, rule);
    for (const i of [0, 5, N - 1]) {
      const one = m.scoreSync(inputs.map((x) => ({ features: x.features.slice(i * C, (i + 1) * C), cond: x.cond?.slice(i * 4, (i + 1) * 4) })), undefined, rule);
      t.is(one.classFree!.classes[0], batch.classFree!.classes[i]);
      t.is(one.classFree!.posterior[0], batch.classFree!.posterior[i]);
      t.is(one.calibrated![0], batch.calibrated![i]);
      for (let l = 0; l < 2; ++l) t.is(one.levels[l].logp[0], batch.levels[l].logp[i]);
    }
  }
});

test("the marginal's calibration round-trips through the model file; files without it load and refuse the marginal in one line", async (t) => {
  const m = model();
  for (const l of m.levels) {
    t.truthy(l.calibration!.marginal);
    t.true(l.calibration!.marginal!.std[0] > 0);
  }
  const back = decodeModel(encodeModel(m));
  back.levels.forEach((l, i) => {
    t.deepEqual(Array.from(l.calibration!.marginal!.mean), Array.from(Float32Array.from(m.levels[i].calibration!.marginal!.mean)));
    t.deepEqual(Array.from(l.calibration!.marginal!.std), Array.from(Float32Array.from(m.levels[i].calibration!.marginal!.std)));
    t.deepEqual(Array.from(l.calibration!.marginal!.count!), Array.from(m.levels[i].calibration!.marginal!.count!));
  });
  const features = synthetic(5, 3).features;
  const a = m.scoreSync(inputsOf(features), undefined, 'marginal');
  const b = back.scoreSync(inputsOf(features), undefined, 'marginal');
  for (let i = 0; i < a.calibrated!.length; ++i) t.true(close(a.calibrated![i], b.calibrated![i], 1e-5));

  // An older file: no marginal tensors.
  const tensors = modelTensors(m);
  for (const name of Object.keys(tensors)) if (name.includes('.marginal.')) delete tensors[name];
  const old = modelFromTensors(m.config, tensors);
  t.is(old.levels[0].calibration!.marginal ?? null, null);
  const err = t.throws(() => old.scoreSync(inputsOf(features), undefined, 'marginal'), { instanceOf: RangeError });
  t.false(err!.message.includes('\n'));
  t.regex(err!.message, /marginal.*has none/);
  // the default falls back to the inferred class
  t.is(old.scoreSync(inputsOf(features)).classFree!.rule, 'inferred');
  t.is(m.scoreSync(inputsOf(features)).classFree!.rule, 'marginal');

  // A damaged file: half of the marginal, or a bad std.
  const half = modelTensors(m);
  delete half['level0.marginal.std'];
  t.throws(() => modelFromTensors(m.config, half, 'm.safetensors'), { instanceOf: FormatError, message: /missing tensor level0\.marginal\.std/ });
  const bad = modelTensors(m);
  bad['level1.marginal.std'].data[0] = 0;
  t.throws(() => modelFromTensors(m.config, bad, 'm.safetensors'), { instanceOf: FormatError, message: /level1\.marginal\.std must be positive/ });
  const orphan = modelTensors(m);
  for (const name of Object.keys(orphan)) if (name.startsWith('level0.calibration.')) delete orphan[name];
  t.throws(() => modelFromTensors(m.config, orphan, 'm.safetensors'), { instanceOf: FormatError, message: /level0\.marginal without level0\.calibration/ });

  // The API: the class left out (undefined, as an HTTP service passes it) scores class-free.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-cf-')), 'm.safetensors');
  saveModel(m, file);
  const api = await HGAD.load(file);
  const s = await api.score(inputsOf(features), undefined);
  t.is(s.classFree!.rule, 'marginal');
  for (let i = 0; i < a.calibrated!.length; ++i) t.true(close(s.calibrated![i], a.calibrated![i], 1e-5));
  const inferred = await api.score(inputsOf(features), undefined, { classFree: 'inferred' });
  t.is(inferred.classFree!.rule, 'inferred');
  await t.throwsAsync(() => api.score(inputsOf(features), undefined, { classFree: 'nearest' as never }), { instanceOf: RangeError, message: /Expected one of inferred, marginal for options\.classFree but received "?nearest"?/ });
  api.close();
});

test('class-free scoring needs as many vectors at every level', (t) => {
  const m = model();
  const a = synthetic(6, 2).features;
  const b = synthetic(6, 3).features;
  t.throws(() => m.scoreSync([{ features: a }, inputsOf(b)[1]], undefined), { instanceOf: RangeError, message: /vectors at every level/ });
});
