// Finite-difference checks (float64) of the composed model: the HGAD mixture
// loss in both stages, a whole coupling block, and a 3-block conditional flow
// followed by the mixture loss. The reference detaches some paths (see
// native/ops/mixture_head.h and the golden FORMAT.md): the priors in L_mi, and
// the main centres where they enter the intra-class centres. Those gradients
// are checked against finite differences of the objective that the detached
// rule differentiates, named at each check.
import test, { ExecutionContext } from 'ava';
import { FloatArray } from '../lib/binding';
import { backward } from '../lib/autograd/tape';
import { CouplingBlock, GLOBAL_SCALE_INIT } from '../lib/nn/coupling_block';
import { Flow } from '../lib/nn/flow';
import { GaussianMixture, LossWeights, smoothedOneHot } from '../lib/nn/heads';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { addScalars, checkGradient, weightedSum } from './helpers/gradcheck';
import { flowKinkDistance, kinkDistance } from './helpers/kink';
import { mixtureHeadReference } from './helpers/mixture_reference';
import { assertClose, randn, randTensor, seeded } from './helpers/numeric';

const F64 = 'float64';
const [K, M, C, N, P] = [3, 3, 5, 7, 3];
const SMOOTHING = 0.02;
const WEIGHTS: LossWeights = { lambda1: 1.5, lambda2: 10 };

function randomMixture(rng: Random): GaussianMixture {
  return new GaussianMixture(
    { channels: C, classes: K, intraCentres: M },
    randTensor(rng, [K, C], F64, 1.5),
    randTensor(rng, [K, M - 1, C], F64, 0.7),
    randTensor(rng, [K], F64),
    randTensor(rng, [K, M], F64),
  );
}

function randomLabels(rng: Random): Int32Array {
  const labels = new Int32Array(N).map(() => rng.int(K));
  labels[0] = 0;
  labels[1] = K - 1;
  return labels;
}

/** The global affine away from its identity initialisation, so that its gradients are generic. */
function perturbGlobalAffine(rng: Random, block: CouplingBlock): void {
  for (let j = 0; j < block.C; ++j) {
    block.globalScale.data[j] = GLOBAL_SCALE_INIT + rng.normal();
    block.globalOffset.data[j] = 0.3 * rng.normal();
  }
}

for (const stage of [1, 2] as const) {
  test(`mixture loss stage ${stage}: gradients of z, logdet, mu, muDelta, phiInter, phiIntra`, (t) => {
    const rng = seeded(t);
    const mixture = randomMixture(rng);
    const z = randTensor(rng, [N, C], F64, 1, true);
    const logdet = randTensor(rng, [N], F64, 3, true);
    const labels = randomLabels(rng);
    const Y = smoothedOneHot(labels, K, SMOOTHING, F64);
    const run = (s: 1 | 2 = stage) => mixture.loss(z, logdet, labels, Y, s, WEIGHTS);
    const loss = () => run().loss.data[0];

    // the value: the stage's combination of the per-sample terms' means
    const cent = mixture.centres();
    const lsm = (v: FloatArray, rows: number, cols: number) => {
      const out = new Float64Array(v.length);
      for (let r = 0; r < rows; ++r) {
        const row = Array.from(v.subarray(r * cols, (r + 1) * cols));
        const mx = Math.max(...row);
        const l = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
        row.forEach((x, c) => (out[r * cols + c] = x - l));
      }
      return out;
    };
    const ref = mixtureHeadReference(N, C, K, M, z.data, logdet.data, labels, Y, cent, lsm(mixture.phiInter.data, 1, K), lsm(mixture.phiIntra.data, K, M));
    const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / N;
    const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    let expected = WEIGHTS.lambda1 * mean(ref.Lg) - WEIGHTS.lambda2 * mean(ref.Lmi) + mean(ref.Le);
    if (stage === 2) expected += mean(ref.Lgi) + mean(ref.logp.map((v) => softplus(-v)));
    const { loss: value, terms } = run();
    assertClose(t, 'loss value', value.data, [expected], 1e-12, 1e-12);
    t.is(terms.L_g_intra === undefined, stage === 1);

    backward(run().loss);
    checkGradient(t, 'z', z, loss);
    checkGradient(t, 'logdet', logdet, loss);
    // L_mi's priors are detached: d/dphiInter of the loss without L_mi's prior path
    // equals that of loss + lambda2 * L_mi (which removes L_mi's whole dependence on phiInter).
    checkGradient(t, 'phiInter (L_mi priors detached)', mixture.phiInter, () => {
      const r = run();
      return r.loss.data[0] + WEIGHTS.lambda2 * r.terms.L_mi;
    });
    if (stage === 1) {
      checkGradient(t, 'mu', mixture.mu, loss);
      t.is(mixture.muDelta.grad, null, 'stage 1 does not touch muDelta');
      t.is(mixture.phiIntra.grad, null, 'stage 1 does not touch phiIntra');
    } else {
      // mu is detached in mu + muDelta: it receives the inter-class terms only (the stage 1 loss)
      checkGradient(t, 'mu (intra-class path detached)', mixture.mu, () => run(1).loss.data[0]);
      checkGradient(t, 'muDelta', mixture.muDelta, loss);
      checkGradient(t, 'phiIntra', mixture.phiIntra, loss);
    }
  });
}

test('coupling block: gradients of x, cond, logdetIn and every parameter', (t) => {
  const rng = seeded(t);
  for (const [channels, condChannels] of [[5, 3], [4, 0], [3, 2]]) {
    const block = CouplingBlock.create({ channels, condChannels, clamp: 1.9 }, rng, F64);
    perturbGlobalAffine(rng, block);
    const x = randTensor(rng, [N, channels], F64, 1, true);
    const cond = condChannels > 0 ? randTensor(rng, [N, condChannels], F64, 1, true) : null;
    while (kinkDistance(block, x, cond) < 1e-4) {
      x.data.set(randn(rng, x.size, F64));
      if (cond) cond.data.set(randn(rng, cond.size, F64));
    }
    const ldIn = randTensor(rng, [N], F64, 1, true);
    const wy = randn(rng, N * channels, F64);
    const wl = randn(rng, N, F64);
    const run = () => {
      const [y, logdet] = block.forward(x, cond, ldIn);
      return addScalars(weightedSum(y, wy), weightedSum(logdet, wl));
    };
    const objective = () => run().data[0];
    backward(run());
    const label = `C=${channels} P=${condChannels}`;
    checkGradient(t, `x ${label}`, x, objective);
    if (cond) checkGradient(t, `cond ${label}`, cond, objective);
    checkGradient(t, `logdetIn ${label}`, ldIn, objective);
    for (const name of ['globalScale', 'globalOffset', 'w1', 'b1', 'w2', 'b2'] as const) {
      checkGradient(t, `${name} ${label}`, block[name], objective);
    }
    t.is(block.wPerm.grad, null, 'the rotation is fixed');
  }
});

function checkFlowEndToEnd(t: ExecutionContext, stage: 1 | 2): void {
  const rng = seeded(t);
  const flow = Flow.create({ channels: C, condChannels: P, couplings: 3, clamp: 1.9 }, rng, F64);
  for (const block of flow.blocks) perturbGlobalAffine(rng, block);
  const mixture = randomMixture(rng);
  const x = randTensor(rng, [N, C], F64, 1, true);
  const cond = randTensor(rng, [N, P], F64, 1, true);
  while (flowKinkDistance(flow.blocks, x, cond) < 1e-4) {
    x.data.set(randn(rng, x.size, F64));
    cond.data.set(randn(rng, cond.size, F64));
  }
  const labels = randomLabels(rng);
  const Y = smoothedOneHot(labels, K, SMOOTHING, F64);
  let lastZ: Tensor | null = null;
  const run = () => {
    const { z, logdet } = flow.forward(x, cond);
    lastZ = z;
    return mixture.loss(z, logdet, labels, Y, stage, WEIGHTS).loss;
  };
  const objective = () => run().data[0];
  backward(run());
  t.is(lastZ!.node, null, 'the flow graph was freed');
  checkGradient(t, 'x', x, objective);
  checkGradient(t, 'cond', cond, objective);
  const [b0, b1, b2] = flow.blocks;
  checkGradient(t, 'block 0 w1', b0.w1, objective);
  checkGradient(t, 'block 0 w2', b0.w2, objective);
  checkGradient(t, 'block 1 b1', b1.b1, objective);
  checkGradient(t, 'block 1 globalOffset', b1.globalOffset, objective);
  checkGradient(t, 'block 2 globalScale', b2.globalScale, objective);
  checkGradient(t, 'block 2 b2', b2.b2, objective);
  if (stage === 2) checkGradient(t, 'muDelta', mixture.muDelta, objective);
}

test('3-block conditional flow + mixture loss stage 1, end to end', (t) => checkFlowEndToEnd(t, 1));
test('3-block conditional flow + mixture loss stage 2, end to end', (t) => checkFlowEndToEnd(t, 2));
