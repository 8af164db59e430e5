import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gaussianNll } from '../lib/autograd/ops';
import { backward } from '../lib/autograd/tape';
import { cpu } from '../lib/backend/cpu';
import { HGAD } from '../lib/hgad';
import { singleGaussianLogp } from '../bench/baseline';
import { validateModelConfig } from '../lib/hgad/config';
import { GaussianMixture } from '../lib/nn/mixture';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { emulatedBackend } from './helpers/device';
import { compare } from './helpers/golden';

const randn = (n: number, rng: Random, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());

test('the single-Gaussian head: loss and gradients equal mean(0.5|z|^2 - logdet)/C on the CPU and the emulated GPU', (t) => {
  const rng = new Random(Math.floor(Math.random() * 1e9));
  const N = 37;
  const C = 11;
  const zv = randn(N * C, rng);
  const lv = randn(N, rng, 3);
  // reference: the host-only autograd op of the baseline
  const zr = Tensor.from(zv, [N, C], 'float64', true);
  const lr = Tensor.from(lv, [N], 'float64', true);
  const ref = gaussianNll(zr, lr);
  backward(ref);
  for (const be of [cpu, emulatedBackend()]) {
    const mixture = GaussianMixture.create({ channels: C, classes: 3, intraCentres: 4, single: true }, new Random(1)).onBackend(be);
    const z = Tensor.from(zv, [N, C], 'float32', true, be);
    const logdet = Tensor.from(lv, [N], 'float32', true, be);
    const labels = be.intFromHost(Int32Array.from({ length: N }, (_, i) => i % 3));
    const { loss, terms } = mixture.loss(z, logdet, labels, be.alloc(N * 3, 'float32', 1 / 3), 2, { lambda1: 1, lambda2: 100 });
    t.true(Math.abs(terms.L_g - ref.data[0]) <= 1e-5 + 1e-5 * Math.abs(ref.data[0]), `${be.label}: ${terms.L_g} vs ${ref.data[0]}`);
    backward(loss);
    t.true(compare(be.toHost(z.gradStorage!), zr.grad!, 1e-6, 1e-4).ok, `${be.label} dz`);
    t.true(compare(be.toHost(logdet.gradStorage!), lr.grad!, 1e-6, 1e-4).ok, `${be.label} dlogdet`);
    t.is(mixture.mu.gradStorage, null, 'the class centres are not trained');
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
  const want = singleGaussianLogp(model.core.levels[0].flow, x);
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
