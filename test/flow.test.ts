// FrEIA's contract for the flow: forward then inverse returns the input and
// minus the log-determinant; the log-determinant equals log|det J| of a
// brute-force Jacobian; the fixed rotation is in SO(C); initialisation is
// seeded and starts from a unit global scale.
import test from 'ava';
import { globalScale, globalScaleLogdet } from './helpers/test_ops';
import { CouplingBlock, GLOBAL_SCALE_INIT } from '../lib/nn/coupling_block';
import { Flow } from '../lib/nn/flow';
import { haarRotation } from '../lib/nn/init';
import { Random } from '../lib/random';
import { DType, Tensor } from '../lib/tensor';
import { flowKinkDistance } from './helpers/kink';
import { allFinite, assertClose, logAbsDet, randn, randTensor, seeded } from './helpers/numeric';

const CLAMP = 1.9;

/** Moves every block's global affine off its identity initialisation, so the inverse must undo a real scale and offset. */
function perturbGlobalAffine(rng: Random, flow: { blocks: CouplingBlock[] }): void {
  for (const block of flow.blocks) {
    for (let j = 0; j < block.C; ++j) {
      block.globalScale.data[j] = GLOBAL_SCALE_INIT + rng.normal();
      block.globalOffset.data[j] = 0.3 * rng.normal();
    }
  }
}

for (const dtype of ['float32', 'float64'] as DType[]) {
  const tolerance = dtype === 'float32' ? 1e-4 : 1e-10;
  for (const P of [0, 8]) {
    test(`round trip ${dtype} ${P > 0 ? 'conditional' : 'unconditional'}: |x - f^-1(f(x))| and |logdet + logdet_rev| <= ${tolerance}`, (t) => {
      const rng = seeded(t);
      for (const C of [2, 3, 27, 64]) {
        const flow = Flow.create({ channels: C, condChannels: P, couplings: 6, clamp: CLAMP }, rng, dtype);
        perturbGlobalAffine(rng, flow);
        const N = 50;
        const x = randTensor(rng, [N, C], dtype);
        const cond = P > 0 ? randTensor(rng, [N, P], dtype) : null;
        const { z, logdet } = flow.forward(x, cond);
        t.true(allFinite(z.data) && allFinite(logdet.data), `C=${C}: forward is finite`);
        t.deepEqual(z.shape, [N, C]);
        t.deepEqual(logdet.shape, [N]);
        let moved = 0;
        for (let i = 0; i < x.size; ++i) moved = Math.max(moved, Math.abs(z.data[i] - x.data[i]));
        t.true(moved > 0.1, `C=${C}: the flow is not the identity`);
        t.true(logdet.data.some((v) => Math.abs(v) > 1e-3), `C=${C}: the log-determinant is not trivially 0`);
        const back = flow.inverse(z, cond);
        assertClose(t, `C=${C} x`, back.x.data, x.data, tolerance, 0);
        assertClose(t, `C=${C} logdet + logdet_rev`, Array.from(back.logdet.data, (v, i) => v + logdet.data[i]), new Float64Array(N), tolerance, 0);
      }
    });
  }
}

test('float32 and float64 copies of one flow agree', (t) => {
  const rng = seeded(t);
  const flow = Flow.create({ channels: 27, condChannels: 5, couplings: 6, clamp: CLAMP }, rng, 'float32');
  perturbGlobalAffine(rng, flow);
  const flow64 = flow.to('float64');
  t.is(flow64.dtype, 'float64');
  const x = randTensor(rng, [40, 27], 'float32');
  const cond = randTensor(rng, [40, 5], 'float32');
  const a = flow.forward(x, cond);
  const b = flow64.forward(x.clone('float64'), cond.clone('float64'));
  assertClose(t, 'z', a.z.data, b.z.data, 1e-4, 1e-4);
  assertClose(t, 'logdet', a.logdet.data, b.logdet.data, 1e-4, 1e-4);
});

/**
 * Per-sample Jacobians of f: (N, C) -> (N, C) by central differences in each
 * input dimension (rows are independent, so one pass per dimension serves every sample).
 * Returns J[n] as (C, C) row-major: J[n][i*C + j] = d f_i / d x_j.
 */
function bruteForceJacobians(f: (x: Tensor) => Tensor, x: Tensor, h = 1e-5): Float64Array[] {
  const [N, C] = x.shape;
  const J = Array.from({ length: N }, () => new Float64Array(C * C));
  for (let j = 0; j < C; ++j) {
    const xp = x.clone();
    const xm = x.clone();
    for (let n = 0; n < N; ++n) {
      xp.data[n * C + j] += h;
      xm.data[n * C + j] -= h;
    }
    const zp = f(xp).data;
    const zm = f(xm).data;
    for (let n = 0; n < N; ++n) for (let i = 0; i < C; ++i) J[n][i * C + j] = (zp[n * C + i] - zm[n * C + i]) / (2 * h);
  }
  return J;
}

for (const C of [2, 3, 5, 8]) {
  test(`logdet equals log|det J| of the brute-force Jacobian, C=${C} (single blocks and a 4-block flow, float64)`, (t) => {
    const rng = seeded(t);
    const N = 6;
    for (const P of [0, 3]) {
      const flow = Flow.create({ channels: C, condChannels: P, couplings: 4, clamp: CLAMP }, rng, 'float64');
      perturbGlobalAffine(rng, flow);
      const cond = P > 0 ? randTensor(rng, [N, P], 'float64') : null;
      const x = randTensor(rng, [N, C], 'float64');
      while (flowKinkDistance(flow.blocks, x, cond) < 1e-3) x.data.set(randn(rng, x.size, 'float64'));

      const cases: [string, (x: Tensor) => [Tensor, Tensor]][] = [
        ...flow.blocks.slice(0, 2).map((block, i) => [`block ${i}`, (v: Tensor) => block.forward(v, cond, null)] as [string, (x: Tensor) => [Tensor, Tensor]]),
        ['4-block flow', (v: Tensor) => {
          const out = flow.forward(v, cond);
          return [out.z, out.logdet];
        }],
      ];
      let largest = 0;
      for (const [name, f] of cases) {
        const [, logdet] = f(x);
        const J = bruteForceJacobians((v) => f(v)[0], x);
        const brute = J.map((Jn) => logAbsDet(Jn, C));
        t.true(brute.every((b) => b.sign !== 0), `${name}: the Jacobian is invertible`);
        const label = `C=${C} P=${P} ${name}`;
        assertClose(t, label, logdet.data, brute.map((b) => b.logAbs), 1e-6, 1e-6);
        for (const b of brute) largest = Math.max(largest, Math.abs(b.logAbs));
      }
      // Not vacuous: some case (a single block can be near volume-preserving) has a clearly non-zero log-determinant.
      t.true(largest > 1e-3, `C=${C} P=${P}: a non-trivial log-determinant (largest |log det| ${largest})`);
    }
  });
}

test('haarRotation is orthogonal with determinant +1', (t) => {
  const rng = seeded(t);
  for (const C of [1, 2, 3, 5, 8, 27, 33, 64, 97]) {
    const draws = C <= 3 ? 20 : 3;
    for (let d = 0; d < draws; ++d) {
      const R = haarRotation(rng, C);
      t.is(R.length, C * C);
      const RRt = new Float64Array(C * C);
      const RtR = new Float64Array(C * C);
      for (let i = 0; i < C; ++i) {
        for (let j = 0; j < C; ++j) {
          let a = 0;
          let b = 0;
          for (let k = 0; k < C; ++k) {
            a += R[i * C + k] * R[j * C + k];
            b += R[k * C + i] * R[k * C + j];
          }
          RRt[i * C + j] = a;
          RtR[i * C + j] = b;
        }
      }
      const I = new Float64Array(C * C);
      for (let i = 0; i < C; ++i) I[i * C + i] = 1;
      assertClose(t, `R R^T C=${C}`, RRt, I, 1e-12, 0);
      assertClose(t, `R^T R C=${C}`, RtR, I, 1e-12, 0);
      const det = logAbsDet(R, C);
      t.is(det.sign, 1, `det R > 0 (C=${C})`);
      t.true(Math.abs(det.logAbs) < 1e-10, `|det R| = 1 (C=${C}): log ${det.logAbs}`);
    }
  }
  // different draws differ, and not by a sign pattern only
  const a = haarRotation(new Random(1), 4);
  const b = haarRotation(new Random(2), 4);
  t.true(Array.from(a).some((v, i) => Math.abs(Math.abs(v) - Math.abs(b[i])) > 1e-3));
});

function flowParameters(flow: Flow): Float64Array[] {
  return flow.blocks.flatMap((b) => [b.wPerm, ...b.parameters()].map((p) => Float64Array.from(p.data)));
}

test('a seeded Flow.create is reproducible, and another seed gives other parameters', (t) => {
  const rng = seeded(t);
  const seed = rng.nextUint32();
  const config = { channels: 7, condChannels: 4, couplings: 3, clamp: CLAMP };
  const a = flowParameters(Flow.create(config, seed));
  const b = flowParameters(Flow.create(config, new Random(seed)));
  t.deepEqual(a, b, 'same seed (number or Random) -> identical parameters');
  const c = flowParameters(Flow.create(config, seed + 1));
  const differing = a.filter((p, i) => p.some((v, j) => v !== c[i][j])).length;
  // globalScale and globalOffset are constant initialisations; every random tensor must differ
  t.is(differing, config.couplings * 5, 'another seed changes wPerm, w1, b1, w2 and b2 of every block');
  const f64 = flowParameters(Flow.create(config, seed, 'float64'));
  t.deepEqual(a, f64.map((p) => p.map(Math.fround)), 'float32 parameters are the float64 ones rounded');
  t.notDeepEqual(a[0], flowParameters(Flow.create(config, seed))[7], 'blocks draw different rotations');
});

test('the global scale initialises to exactly 1 and the offset to 0', (t) => {
  t.true(Math.abs(globalScale(GLOBAL_SCALE_INIT) - 1) <= 1e-12, `globalScale(GLOBAL_SCALE_INIT) = ${globalScale(GLOBAL_SCALE_INIT)}`);
  const rng = seeded(t);
  for (const dtype of ['float32', 'float64'] as DType[]) {
    const flow = Flow.create({ channels: 6, condChannels: 0, couplings: 2, clamp: CLAMP }, rng, dtype);
    for (const block of flow.blocks) {
      t.true(Array.from(block.globalScale.data).every((g) => Math.abs(globalScale(g) - 1) <= (dtype === 'float32' ? 1e-6 : 1e-12)), `${dtype} scale`);
      t.true(Array.from(block.globalOffset.data).every((v) => v === 0), `${dtype} offset`);
    }
    // so the global affine adds nothing to the log-determinant at initialisation
    const logScaleSum = globalScaleLogdet(flow.blocks[0].globalScale).data[0];
    t.true(Math.abs(logScaleSum) <= (dtype === 'float32' ? 1e-5 : 1e-12), `${dtype} sum(log scale) = ${logScaleSum}`);
  }
});

test('an unconditional and a conditional flow with one sample, and inputs far in the tails, still invert', (t) => {
  const rng = seeded(t);
  for (const P of [0, 2]) {
    const flow = Flow.create({ channels: 4, condChannels: P, couplings: 6, clamp: CLAMP }, rng, 'float64');
    perturbGlobalAffine(rng, flow);
    const x = Tensor.from(randn(rng, 4, 'float64', 30), [1, 4], 'float64');
    const cond = P > 0 ? randTensor(rng, [1, P], 'float64') : null;
    const { z, logdet } = flow.forward(x, cond);
    const back = flow.inverse(z, cond);
    assertClose(t, `P=${P} x`, back.x.data, x.data, 1e-9, 1e-10);
    assertClose(t, `P=${P} logdet`, [back.logdet.data[0] + logdet.data[0]], [0], 1e-10, 0);
  }
});
