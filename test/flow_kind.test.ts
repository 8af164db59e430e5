import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backward, noGrad } from '../lib/autograd/tape';
import type { Flow } from '../lib/nn/flow';
import { cpu } from '../lib/backend/cpu';
import { HGAD } from '../lib/hgad';
import { validateModelConfig } from '../lib/hgad/config';
import { GaussianMixture, headKind, MODEL_KINDS, SingleGaussian } from '../lib/nn/heads';
import { encodeSafetensors, parseSafetensors } from '../lib/io/safetensors';
import { decodeModel, encodeModel, modelTensors } from '../lib/hgad/persist';
import { mapsFromScores } from '../lib/hgad/score_maps';
import { HgadModel } from '../lib/hgad/model';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { emulatedBackend } from './helpers/device';
import { compare } from './helpers/golden';

/** log N(z; 0, I) + logdet, divided by C, on the host in float64 from the flow's output.  -> (N) */
function standardNormalLogp(flow: Flow, features: Float32Array): Float64Array {
  const C = flow.config.channels;
  const N = features.length / C;
  const out = new Float64Array(N);
  noGrad(() => {
    const { z, logdet } = flow.forward(Tensor.from(features, [N, C]), null);
    for (let n = 0; n < N; ++n) {
      let sq = 0;
      for (let c = 0; c < C; ++c) sq += z.data[n * C + c] * z.data[n * C + c];
      out[n] = (-0.5 * sq - 0.5 * Math.log(2 * Math.PI) * C + logdet.data[n]) / C;
    }
  });
  return out;
}

const randn = (n: number, rng: Random, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());

test('the single-Gaussian head: loss and gradients equal mean(0.5|z|^2 - logdet)/C on the CPU and the emulated GPU', (t) => {
  const rng = new Random(Math.floor(Math.random() * 1e9));
  const N = 37;
  const C = 11;
  const zv = randn(N * C, rng);
  const lv = randn(N, rng, 3);
  // reference, in float64 on the host: L = sum(0.5 |z|^2 - logdet) / (N C), dL/dz = z / (N C), dL/dlogdet = -1 / (N C)
  let acc = 0;
  for (const v of zv) acc += 0.5 * v * v;
  for (const v of lv) acc -= v;
  const ref = acc / (N * C);
  const refDz = Float64Array.from(zv, (v) => v / (N * C));
  const refDlogdet = new Float64Array(N).fill(-1 / (N * C));
  for (const be of [cpu, emulatedBackend()]) {
    const head = headKind('flow').create({ channels: C, classes: 3, intraCentres: 4 }, new Random(1), be);
    t.true(head instanceof SingleGaussian);
    t.is(head.backend, be);
    const z = Tensor.from(zv, [N, C], 'float32', true, be);
    const logdet = Tensor.from(lv, [N], 'float32', true, be);
    const labels = be.intFromHost(Int32Array.from({ length: N }, (_, i) => i % 3));
    const { loss, terms } = head.loss(z, logdet, labels, be.alloc(N * 3, 'float32', 1 / 3), 2, { lambda1: 1, lambda2: 100 });
    t.true(Math.abs(terms.L_g - ref) <= 1e-5 + 1e-5 * Math.abs(ref), `${be.label}: ${terms.L_g} vs ${ref}`);
    backward(loss);
    t.true(compare(be.toHost(z.gradStorage!), refDz, 1e-6, 1e-4).ok, `${be.label} dz`);
    t.true(compare(be.toHost(logdet.gradStorage!), refDlogdet, 1e-6, 1e-4).ok, `${be.label} dlogdet`);
    t.deepEqual(head.parameters(), [], 'the flows alone learn');
    t.deepEqual(head.groups(), { centres: [], weights: [] });
  }
});

test('a flow-kind model scores log N(z; 0, I) + logdet per dimension, for every class; it saves, loads and trains through HGAD', async (t) => {
  const rng = new Random(5);
  const C = 6;
  const config = { levels: [{ channels: C, condChannels: 0 }], classNames: ['a', 'b'], couplings: 2, clamp: 1.9, intraCentres: 3, kind: 'flow' as const };
  const model = HGAD.create(config, 3);
  const N = 64;
  const features = randn(N * C, rng);
  const labels = Int32Array.from({ length: N }, (_, i) => i % 2);
  await model.fit([{ features, labels }], { epochs: 2, batchSize: 16, lr: 1e-3 });
  const x = randn(20 * C, rng);
  const s0 = await model.score([{ features: x }], 0);
  const s1 = await model.score([{ features: x }], 1);
  const want = standardNormalLogp(model.core.levels[0].flow, x);
  t.true(compare(s0.levels[0].logp, want, 1e-5, 1e-5).ok);
  t.deepEqual(Array.from(s1.levels[0].logp), Array.from(s0.levels[0].logp), 'one distribution for every class');
  t.true(s0.levels[0].negEntropy.every((v) => v === 0));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-flow-')), 'm.safetensors');
  await model.save(file);
  const again = await HGAD.load(file);
  t.is(again.config.kind, 'flow');
  t.deepEqual(Array.from((await again.score([{ features: x }], 0)).levels[0].logp), Array.from(s0.levels[0].logp));
  model.close();
  again.close();
});

test('model kind is validated; hgad is the default and is not written out', (t) => {
  const base = { levels: [{ channels: 4, condChannels: 0 }], classNames: ['a'], couplings: 1, clamp: 1, intraCentres: 1 };
  t.is(validateModelConfig(base).kind, undefined);
  t.is(validateModelConfig({ ...base, kind: 'hgad' }).kind, undefined);
  t.is(validateModelConfig({ ...base, kind: 'flow' }).kind, 'flow');
  t.throws(() => validateModelConfig({ ...base, kind: 'cflow' }), { instanceOf: RangeError, message: /Expected one of hgad, flow for config.kind but received "cflow"/ });
});

test('the kinds come from the head registry: each creates its head, and the model asks the head', (t) => {
  t.deepEqual([...MODEL_KINDS], ['hgad', 'flow']);
  const base = { levels: [{ channels: 6, condChannels: 4 }, { channels: 4, condChannels: 0 }], classNames: ['a', 'b', 'c'], couplings: 1, clamp: 1.9, intraCentres: 2 };
  const hgad = HgadModel.create(base, 1);
  const flow = HgadModel.create({ ...base, kind: 'flow' }, 1);
  t.true(hgad.levels.every((l) => l.head instanceof GaussianMixture && l.head.hasEntropy));
  t.true(flow.levels.every((l) => l.head instanceof SingleGaussian && !l.head.hasEntropy));
  // The file holds what the head names: the mixture's tensors for hgad, none for flow.
  const names = (m: HgadModel) => Object.keys(modelTensors(m)).filter((n) => !n.includes('.flow.')).sort();
  t.deepEqual(names(hgad), ['level0.mu', 'level0.muDelta', 'level0.phiInter', 'level0.phiIntra', 'level1.mu', 'level1.muDelta', 'level1.phiInter', 'level1.phiIntra']);
  t.deepEqual(names(flow), []);
  t.true(decodeModel(encodeModel(flow)).levels.every((l) => l.head instanceof SingleGaussian));
});

test('a flow-kind file from when the kind kept unused class parameters still loads; other extra tensors are still refused', (t) => {
  const base = { levels: [{ channels: 6, condChannels: 0 }], classNames: ['a', 'b'], couplings: 1, clamp: 1.9, intraCentres: 3 };
  const flow = HgadModel.create({ ...base, kind: 'flow' }, 2);
  const file = parseSafetensors(encodeModel(flow), 'new');
  const legacy = { ...file.tensors };
  const mixture = GaussianMixture.create({ channels: 6, classes: 2, intraCentres: 3 }, new Random(3));
  for (const [name, tensor] of Object.entries(mixture.tensors())) legacy[`level0.${name}`] = { dtype: 'F32', shape: [...tensor.shape], data: Float32Array.from(tensor.data) };
  const old = decodeModel(encodeSafetensors(legacy, file.metadata), 'old.safetensors');
  t.true(old.levels[0].head instanceof SingleGaussian);
  const x = Tensor.from(randn(5 * 6, new Random(4)), [5, 6]);
  const score = (m: HgadModel) => Array.from(m.scoreSync([{ features: Float32Array.from(x.data) }], 0).levels[0].logp);
  t.deepEqual(score(old), score(flow));
  const junk = { ...file.tensors, 'level0.other': { dtype: 'F32' as const, shape: [1], data: new Float32Array(1) } };
  t.throws(() => decodeModel(encodeSafetensors(junk, file.metadata), 'junk.safetensors'), { message: /holds 1 tensor .* does not use: level0\.other/ });
});

test('the map code asks the head: without an inter-class entropy the fused map is the logp map', (t) => {
  const b = 2;
  const h = 4;
  const rng = new Random(6);
  const level = { b, h, w: h, data: randn(b * h * h, rng) };
  const positions = { logp: [level], negEntropy: [{ b, h, w: h, data: new Float32Array(b * h * h) }] };
  const opts = { height: 8, width: 8, sigma: 1 };
  const logpMap = mapsFromScores(positions, null, { ...opts, kind: 'logp' });
  const fusedFlow = mapsFromScores(positions, null, { ...opts, kind: 'fused' }, { hasEntropy: false });
  const fusedHgad = mapsFromScores(positions, null, { ...opts, kind: 'fused' }, { hasEntropy: true });
  t.deepEqual(Array.from(fusedFlow.maps), Array.from(logpMap.maps));
  t.true(fusedHgad.maps.every((v) => v === 0), 'a zero entropy multiplies the reference fused map away');
});
