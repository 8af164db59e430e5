// The gradient rule of every differentiable op in lib/autograd/ops.ts against
// central finite differences in float64, and the tape's contract: freed after
// backward, leaf gradients accumulate, noGrad records nothing. Mixture loss,
// coupling block and whole-flow checks are in gradcheck.model.test.ts.
import test from 'ava';
import { FloatArray } from '../lib/binding';
import { affineRotate, coupling, linear, packColumns, sum } from '../lib/autograd/ops';
import { globalScaleLogdet, mulConst } from './helpers/test_ops';
import { backward, GradNode, isGradEnabled, noGrad } from '../lib/autograd/tape';
import { GLOBAL_SCALE_INIT } from '../lib/nn/coupling_block';
import { haarRotation } from '../lib/nn/init';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { addScalars, checkGradient, weightedSum } from './helpers/gradcheck';
import { randn, randTensor, seeded } from './helpers/numeric';

const F64 = 'float64';

function leaf(rng: Random, shape: number[], scale = 1): Tensor {
  return randTensor(rng, shape, F64, scale, true);
}

/** Redraws x until no pre-activation of x W^T + b lies within `margin` of the ReLU's kink. */
function awayFromKink(rng: Random, x: Tensor, W: Tensor, b: Tensor | null, margin: number): void {
  for (let attempt = 0; attempt < 1000; ++attempt) {
    const pre = noGrad(() => linear(x, W, b, false));
    if (pre.data.every((v) => Math.abs(v) > margin)) return;
    x.data.set(randn(rng, x.size, F64));
  }
  throw new Error('could not draw inputs away from the ReLU kink');
}

for (const relu of [false, true]) {
  for (const withBias of [true, false]) {
    test(`linear (relu=${relu}, bias=${withBias}): gradients of x, W, b`, (t) => {
      const rng = seeded(t);
      const [N, I, O] = [6, 5, 4];
      const x = leaf(rng, [N, I]);
      const W = leaf(rng, [O, I]);
      const b = withBias ? leaf(rng, [O]) : null;
      if (relu) awayFromKink(rng, x, W, b, 1e-3);
      const w = randn(rng, N * O, F64);
      const objective = () => weightedSum(linear(x, W, b, relu), w).data[0];
      backward(weightedSum(linear(x, W, b, relu), w));
      checkGradient(t, 'x', x, objective);
      checkGradient(t, 'W', W, objective);
      if (b) checkGradient(t, 'b', b, objective);
      if (relu) {
        const y = noGrad(() => linear(x, W, b, true));
        t.true(Array.from(y.data).some((v) => v === 0), 'some pre-activations are negative, so the ReLU is exercised');
      }
    });
  }
}

test('packColumns: gradients of x (only the packed columns) and z', (t) => {
  const rng = seeded(t);
  const [N, C, P, c0, W0] = [5, 7, 3, 2, 4];
  const x = leaf(rng, [N, C]);
  const z = leaf(rng, [N, P]);
  const w = randn(rng, N * (W0 + P), F64);
  const objective = () => weightedSum(packColumns(x, c0, W0, z), w).data[0];
  backward(weightedSum(packColumns(x, c0, W0, z), w));
  checkGradient(t, 'z', z, objective);
  checkGradient(t, 'x', x, objective);
  // columns outside [c0, c0 + W0) get an exact zero gradient
  const outside = Array.from(x.grad!).filter((_, i) => i % C < c0 || i % C >= c0 + W0);
  t.true(outside.length > 0 && outside.every((v) => v === 0));
  const xr = leaf(rng, [N, C]);
  xr.data.set(x.data);
  const only = () => weightedSum(packColumns(xr, c0, W0, null), w.subarray(0, N * W0)).data[0];
  backward(weightedSum(packColumns(xr, c0, W0, null), w.subarray(0, N * W0)));
  const grad = xr.grad!;
  t.is(grad.length, N * C);
  checkGradient(t, 'x (z = null)', xr, only);
  t.is(grad[c0 - 1], 0);
});

for (const [C, withLogdetIn] of [[4, true], [5, false], [5, true], [2, true]] as const) {
  test(`coupling C=${C} logdetIn=${withLogdetIn}: gradients of x, a, logdetIn, logdetConst`, (t) => {
    const rng = seeded(t);
    const N = 6;
    const C2 = Math.floor(C / 2);
    const clamp = 1.9;
    const x = leaf(rng, [N, C]);
    const a = leaf(rng, [N, 2 * C2], 4);
    const ldIn = withLogdetIn ? leaf(rng, [N]) : null;
    const ldConst = leaf(rng, [1]);
    const wy = randn(rng, N * C, F64);
    const wl = randn(rng, N, F64);
    const run = () => {
      const [y, logdet] = coupling(x, a, clamp, ldIn, ldConst);
      return addScalars(weightedSum(y, wy), weightedSum(logdet, wl));
    };
    const objective = () => run().data[0];
    backward(run());
    checkGradient(t, 'x', x, objective);
    checkGradient(t, 'a', a, objective);
    if (ldIn) checkGradient(t, 'logdetIn', ldIn, objective);
    checkGradient(t, 'logdetConst', ldConst, objective);
  });
}

test('coupling with only y or only logdet used: the unused output gets no gradient and the rule still holds', (t) => {
  const rng = seeded(t);
  const [N, C] = [5, 6];
  const x = leaf(rng, [N, C]);
  const a = leaf(rng, [N, C], 4);
  const ldConst = leaf(rng, [1]);
  const wy = randn(rng, N * C, F64);
  const wl = randn(rng, N, F64);
  const yOnly = () => weightedSum(coupling(x, a, 1.9, null, ldConst)[0], wy);
  backward(yOnly());
  checkGradient(t, 'x (y only)', x, () => yOnly().data[0]);
  checkGradient(t, 'a (y only)', a, () => yOnly().data[0]);
  t.is(ldConst.grad, null, 'logdetConst gets no gradient when logdet is unused');
  for (const p of [x, a, ldConst]) p.zeroGrad();
  const ldOnly = () => weightedSum(coupling(x, a, 1.9, null, ldConst)[1], wl);
  backward(ldOnly());
  checkGradient(t, 'a (logdet only)', a, () => ldOnly().data[0]);
  checkGradient(t, 'logdetConst (logdet only)', ldConst, () => ldOnly().data[0]);
  const C1 = Math.ceil(C / 2);
  t.true(Array.from(x.grad!).every((v, i) => v === 0 || i % C >= C1), 'x1 does not reach the logdet');
});

test('globalScaleLogdet: gradient of g, on both sides of the softplus threshold', (t) => {
  const rng = seeded(t);
  const C = 7;
  const g = leaf(rng, [C], 3);
  for (let j = 0; j < C; ++j) g.data[j] += GLOBAL_SCALE_INIT;
  g.data[0] = 45 + rng.uniform(); // 0.5 g > 20: the linear branch
  g.data[1] = -2 - rng.uniform();
  const w = randn(rng, 1, F64);
  const objective = () => weightedSum(globalScaleLogdet(g), w).data[0];
  backward(weightedSum(globalScaleLogdet(g), w));
  checkGradient(t, 'g', g, objective);
});

test('affineRotate: gradients of v, g and offset', (t) => {
  const rng = seeded(t);
  for (const C of [2, 3, 6]) {
    const N = 5;
    const v = leaf(rng, [N, C]);
    const g = leaf(rng, [C]);
    for (let j = 0; j < C; ++j) g.data[j] += GLOBAL_SCALE_INIT;
    const offset = leaf(rng, [C], 0.5);
    const R = Tensor.from(haarRotation(rng, C), [C, C], F64);
    const w = randn(rng, N * C, F64);
    const objective = () => weightedSum(affineRotate(v, g, offset, R), w).data[0];
    backward(weightedSum(affineRotate(v, g, offset, R), w));
    checkGradient(t, `v C=${C}`, v, objective);
    checkGradient(t, `g C=${C}`, g, objective);
    checkGradient(t, `offset C=${C}`, offset, objective);
    t.is(R.grad, null, 'the rotation is constant');
  }
});

test('sum and mulConst', (t) => {
  const rng = seeded(t);
  const x = leaf(rng, [3, 4]);
  const w = randn(rng, 12, F64);
  const w2 = randn(rng, 12, F64);
  // sum(mulConst(mulConst(x, w), w2)): d/dx = w * w2
  const objective = () => sum(mulConst(mulConst(x, w), w2)).data[0];
  const root = sum(mulConst(mulConst(x, w), w2));
  t.deepEqual(root.shape, [1]);
  backward(root);
  checkGradient(t, 'x', x, objective);
  t.deepEqual(Array.from(x.grad!), Array.from(w, (v, i) => v * w2[i]));
  const s = leaf(rng, [5]);
  backward(sum(s));
  t.deepEqual(Array.from(s.grad!), [1, 1, 1, 1, 1]);
});

test('the tape is freed after backward: no node is left on any tensor of the graph', (t) => {
  const rng = seeded(t);
  const x = leaf(rng, [4, 3]);
  const W = leaf(rng, [5, 3]);
  const b = leaf(rng, [5]);
  const y = linear(x, W, b, false);
  const m = mulConst(y, randn(rng, 20, F64));
  const root = sum(m);
  const nodes: GradNode[] = [y.node!, m.node!, root.node!];
  t.true(nodes.every((n) => n !== null && n !== undefined), 'every op recorded a node');
  t.true(y.requiresGrad && m.requiresGrad && root.requiresGrad);
  backward(root);
  for (const [name, tensor] of Object.entries({ x, W, b, y, m, root })) t.is(tensor.node, null, `${name}.node after backward`);
  for (const n of nodes) {
    t.is(n.inputs.length, 0, `${n.name} released its inputs`);
    t.is(n.outputs.length, 0, `${n.name} released its outputs`);
  }
  t.is(y.grad, null, 'activations do not keep gradients');
});

test('leaf gradients accumulate (+=) across two backward calls; zeroGrad resets', (t) => {
  const rng = seeded(t);
  const x = leaf(rng, [4, 3]);
  const W = leaf(rng, [2, 3]);
  const b = leaf(rng, [2]);
  const w = randn(rng, 8, F64);
  const run = () => backward(weightedSum(linear(x, W, b, false), w));
  run();
  const first = [x, W, b].map((p) => Float64Array.from(p.grad!));
  run();
  [x, W, b].forEach((p, i) => {
    const twice = first[i].map((v) => 2 * v);
    t.deepEqual(Array.from(p.grad!), Array.from(twice), `param ${i} accumulated`);
  });
  // a leaf used twice in one graph receives the sum of both contributions
  const v = leaf(rng, [3]);
  const u = randn(rng, 3, F64);
  const u2 = randn(rng, 3, F64);
  backward(sumOfTwo(v, u, u2));
  t.deepEqual(Array.from(v.grad!), Array.from(u, (a, i) => a + u2[i]));
  x.zeroGrad();
  t.is(x.grad, null);
});

function sumOfTwo(v: Tensor, u: FloatArray, u2: FloatArray): Tensor {
  return addScalars(weightedSum(v, u), weightedSum(v, u2));
}

test('noGrad records nothing and restores the previous state, even on a throw', (t) => {
  const rng = seeded(t);
  const x = leaf(rng, [2, 3]);
  const W = leaf(rng, [4, 3]);
  t.true(isGradEnabled());
  const y = noGrad(() => {
    t.false(isGradEnabled());
    return linear(x, W, null, true);
  });
  t.is(y.node, null);
  t.false(y.requiresGrad);
  t.throws(() => backward(sum(y)), { message: /does not require a gradient/ });
  t.true(isGradEnabled());
  t.throws(() => noGrad(() => {
    throw new Error('inside');
  }), { message: 'inside' });
  t.true(isGradEnabled(), 'restored after a throw');
  t.is(W.grad, null);
  // nested noGrad keeps it off until the outer one ends
  noGrad(() => {
    noGrad(() => undefined);
    t.false(isGradEnabled());
  });
  // and a tensor that requires no gradient records nothing even with the tape on
  const c = Tensor.from(randn(rng, 6, F64), [2, 3], F64);
  const out = linear(c, Tensor.from(randn(rng, 12, F64), [4, 3], F64), null);
  t.is(out.node, null);
});

test('backward checks its root and seed', (t) => {
  const rng = seeded(t);
  const x = leaf(rng, [2, 3]);
  const y = mulConst(x, randn(rng, 6, F64));
  t.throws(() => backward(y), { instanceOf: RangeError, message: /scalar root/ });
  t.throws(() => backward(y, randn(rng, 5, F64)), { instanceOf: RangeError, message: /seed of length 6/ });
  const seed = randn(rng, 6, F64);
  backward(y, seed);
  t.is(seed.length, 6);
  t.truthy(x.grad);
});
