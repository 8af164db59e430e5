// Elementwise and row kernels, packColumns, firstNonFinite and the fused
// mixture head forward against float64 TypeScript references written from the
// headers in native/ops (elementwise.h, mixture_head.h).
import test from 'ava';
import { FloatArray, native } from '../lib/binding';
import { DType } from '../lib/tensor';
import { allFinite, assertClose, poisoned, randn, seeded } from './helpers/numeric';
import { mixtureHeadReference } from './helpers/mixture_reference';

const DTYPES: DType[] = ['float32', 'float64'];
const tol = (dtype: DType): [number, number] => (dtype === 'float32' ? [1e-5, 1e-5] : [1e-13, 1e-13]);
// Lengths around the kernels' grain (1 << 14) so that several chunks run.
const LENGTHS = [1, 7, 1000, 40000];

for (const dtype of DTYPES) {
  const [atol, rtol] = tol(dtype);

  test(`axpy, scale ${dtype}`, (t) => {
    const rng = seeded(t);
    for (const n of LENGTHS) {
      const alpha = rng.normal() * 3;
      const x = randn(rng, n, dtype);
      const y = randn(rng, n, dtype);
      const y0 = Float64Array.from(y);
      native.axpy(x.length, alpha, x, y);
      const a32 = dtype === 'float32' ? Math.fround(alpha) : alpha;
      assertClose(t, `axpy n=${n}`, y, y0.map((v, i) => v + a32 * x[i]), atol, rtol);

      const s = poisoned(n, dtype);
      native.scale(y.length, alpha, y, s);
      assertClose(t, `scale n=${n}`, s, Array.from(y, (v) => a32 * v), atol, rtol);
      const ys = Float64Array.from(y);
      native.scale(y.length, alpha, y, y); // out may alias x
      assertClose(t, `scale aliased n=${n}`, y, Array.from(ys, (v) => a32 * v), atol, rtol);
    }
  });

  test(`reluBackward ${dtype} zeroes the gradient where the ReLU output is not positive`, (t) => {
    const rng = seeded(t);
    for (const n of LENGTHS) {
      const h = randn(rng, n, dtype).map((v) => Math.max(0, v)) as FloatArray;
      if (n >= 7) h[n >> 1] = 0; // at least one clipped output, whatever the draw
      const dh = randn(rng, n, dtype);
      const ref = Array.from(dh, (g, i) => (h[i] > 0 ? g : 0));
      native.reluBackward(h.length, h, dh);
      assertClose(t, `n=${n}`, dh, ref, 0, 0);
      t.true(h.some((v) => v === 0) || n < 7, 'some outputs were clipped');
    }
  });

  test(`columnSum and rowSum ${dtype}`, (t) => {
    const rng = seeded(t);
    for (const [N, M] of [[1, 1], [5, 3], [64, 7], [300, 33], [1001, 5]]) {
      const X = randn(rng, N * M, dtype);
      const colRef = new Float64Array(M);
      const rowRef = new Float64Array(N);
      for (let n = 0; n < N; ++n) for (let m = 0; m < M; ++m) {
        colRef[m] += X[n * M + m];
        rowRef[n] += X[n * M + m];
      }
      const scaleTol = Math.sqrt(N) * atol;
      const v = poisoned(M, dtype);
      native.columnSum(N, M, X, 0, v); // beta = 0 must not read the NaN in v
      assertClose(t, `columnSum beta=0 ${N}x${M}`, v, colRef, scaleTol, rtol);
      const v0 = randn(rng, M, dtype);
      const vb = Float64Array.from(v0);
      native.columnSum(N, M, X, 0.5, v0);
      assertClose(t, `columnSum beta=0.5 ${N}x${M}`, v0, colRef.map((c, m) => c + 0.5 * vb[m]), scaleTol, rtol);
      const r = poisoned(N, dtype);
      native.rowSum(N, M, X, r);
      assertClose(t, `rowSum ${N}x${M}`, r, rowRef, Math.sqrt(M) * atol, rtol);
    }
  });

  test(`logSoftmaxRows ${dtype} is stable for large values and -Infinity`, (t) => {
    const rng = seeded(t);
    const N = 130;
    const M = 9;
    const X = randn(rng, N * M, dtype, 3);
    X[1 * M + 2] = -Infinity;
    X[1 * M + 5] = -Infinity;
    for (let m = 0; m < M; ++m) X[2 * M + m] = 1e3 + X[2 * M + m]; // exp would overflow
    for (let m = 0; m < M; ++m) X[3 * M + m] = -1e3 + X[3 * M + m]; // exp would underflow
    X[4 * M + 3] = 1e3;
    const Y = poisoned(N * M, dtype);
    native.logSoftmaxRows(N, M, X, Y);
    const got: number[] = [];
    const want: number[] = [];
    for (let n = 0; n < N; ++n) {
      const row = Array.from(X.subarray(n * M, (n + 1) * M));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
      for (let m = 0; m < M; ++m) {
        if (row[m] === -Infinity) t.is(Y[n * M + m], -Infinity, `a -Infinity input stays -Infinity (row ${n})`);
        else {
          got.push(Y[n * M + m]);
          want.push(row[m] - lse);
        }
      }
    }
    t.true(allFinite(got), 'every finite input has a finite log-probability');
    // Rows shifted by 1e3 lose the float's relative precision at 1e3 in X - lse.
    assertClose(t, 'log-softmax', got, want, atol * 1e3, rtol);
  });

  test(`logSoftmaxRows and its backward ${dtype}`, (t) => {
    const rng = seeded(t);
    for (const [N, M] of [[1, 1], [3, 4], [150, 11]]) {
      const X = randn(rng, N * M, dtype, 2);
      X[0] = 1e3;
      const ref = new Float64Array(N * M);
      for (let n = 0; n < N; ++n) {
        const row = Array.from(X.subarray(n * M, (n + 1) * M));
        const mx = Math.max(...row);
        const l = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
        for (let m = 0; m < M; ++m) ref[n * M + m] = row[m] - l;
      }
      const Y = poisoned(N * M, dtype);
      native.logSoftmaxRows(N, M, X, Y);
      assertClose(t, `logSoftmax ${N}x${M}`, Y, ref, atol, rtol);
      const Xc = Float64Array.from(X);
      native.logSoftmaxRows(N, M, X, X); // Y may alias X
      assertClose(t, `logSoftmax aliased ${N}x${M}`, X, ref, atol, rtol);
      t.notDeepEqual(Array.from(Xc), Array.from(X));

      const dY = randn(rng, N * M, dtype);
      const dRef = new Float64Array(N * M);
      for (let n = 0; n < N; ++n) {
        let total = 0;
        for (let m = 0; m < M; ++m) total += dY[n * M + m];
        for (let m = 0; m < M; ++m) dRef[n * M + m] = dY[n * M + m] - Math.exp(Y[n * M + m]) * total;
      }
      const dX = poisoned(N * M, dtype);
      native.logSoftmaxRowsBackward(N, M, Y, dY, dX);
      assertClose(t, `logSoftmaxBackward ${N}x${M}`, dX, dRef, atol, rtol);
      native.logSoftmaxRowsBackward(N, M, Y, dY, dY); // dX may alias dY
      assertClose(t, `logSoftmaxBackward aliased ${N}x${M}`, dY, dRef, atol, rtol);
    }
  });

  test(`packColumns and unpackColumnsBackward ${dtype}`, (t) => {
    const rng = seeded(t);
    for (const [N, ldx, c0, W0, P] of [[1, 1, 0, 1, 0], [5, 7, 2, 3, 0], [70, 9, 1, 5, 4], [130, 6, 0, 6, 3], [4, 5, 5, 0, 2]]) {
      const X = randn(rng, N * ldx, dtype);
      const Z = P > 0 ? randn(rng, N * P, dtype) : null;
      const W = W0 + P;
      const out = poisoned(N * W, dtype);
      native.packColumns(N, X, ldx, c0, W0, Z, P, out);
      const ref = new Float64Array(N * W);
      for (let n = 0; n < N; ++n) {
        for (let j = 0; j < W0; ++j) ref[n * W + j] = X[n * ldx + c0 + j];
        for (let j = 0; j < P; ++j) ref[n * W + W0 + j] = Z![n * P + j];
      }
      const label = `N=${N} ldx=${ldx} c0=${c0} W0=${W0} P=${P}`;
      assertClose(t, `pack ${label}`, out, ref, 0, 0);

      const dOut = randn(rng, N * W, dtype);
      const dX = randn(rng, N * ldx, dtype);
      const dXRef = Float64Array.from(dX);
      for (let n = 0; n < N; ++n) for (let j = 0; j < W0; ++j) dXRef[n * ldx + c0 + j] += dOut[n * W + j];
      const dZ = P > 0 ? poisoned(N * P, dtype) : null;
      native.unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ);
      assertClose(t, `unpack dX (accumulated, other columns untouched) ${label}`, dX, dXRef, atol, rtol);
      if (dZ) {
        const dZRef = new Float64Array(N * P);
        for (let n = 0; n < N; ++n) for (let j = 0; j < P; ++j) dZRef[n * P + j] = dOut[n * W + W0 + j];
        assertClose(t, `unpack dZ (assigned) ${label}`, dZ, dZRef, 0, 0);
        const dX2 = Float64Array.from(dX);
        native.unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, null); // dZ may be omitted
        for (let n = 0; n < N; ++n) for (let j = 0; j < W0; ++j) dX2[n * ldx + c0 + j] += dOut[n * W + j];
        assertClose(t, `unpack without dZ ${label}`, dX, dX2, atol, rtol);
      }
    }
  });

  test(`firstNonFinite ${dtype}`, (t) => {
    const rng = seeded(t);
    const n = 5000;
    const x = randn(rng, n, dtype, 1e3);
    t.is(native.firstNonFinite(x), -1);
    t.is(native.firstNonFinite(native.alloc(0, dtype)), -1);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const i = 1 + rng.int(n - 2);
      const y = x.slice();
      y[i] = bad;
      y[n - 1] = NaN;
      t.is(native.firstNonFinite(y), i, `${bad} at ${i}`);
    }
    const big = x.slice();
    big[0] = dtype === 'float32' ? 3.4e38 : 1.7e308;
    t.is(native.firstNonFinite(big), -1, 'the largest finite values are finite');
  });

  test(`mixtureHeadForward ${dtype} matches the header's math`, (t) => {
    const rng = seeded(t);
    for (const [N, C, K, M] of [[1, 1, 1, 1], [7, 5, 3, 3], [90, 6, 4, 2], [40, 3, 2, 5]]) {
      const z = randn(rng, N * C, dtype);
      const logdet = randn(rng, N, dtype, 2);
      const labels = new Int32Array(N).map(() => rng.int(K));
      const Y = randn(rng, N * K, dtype).map(() => 0.01 + rng.uniform()) as FloatArray;
      const cent = randn(rng, K * M * C, dtype, 1.5);
      const lpi = randn(rng, K, dtype);
      const lpa = randn(rng, K * M, dtype);
      const ref = mixtureHeadReference(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa);
      const out = { Lg: poisoned(N, dtype), Le: poisoned(N, dtype), Lmi: poisoned(N, dtype), Lgi: poisoned(N, dtype), logp: poisoned(N, dtype) };
      native.mixtureHeadForward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, out.Lg, out.Le, out.Lmi, out.Lgi, out.logp);
      const label = `N=${N} C=${C} K=${K} M=${M}`;
      const [a, r] = dtype === 'float32' ? [1e-5, 1e-5] : [1e-12, 1e-12];
      for (const key of ['Lg', 'Le', 'Lmi', 'Lgi', 'logp'] as const) assertClose(t, `${key} ${label}`, out[key], ref[key], a, r);

      // Outputs passed as null are skipped; the others are unchanged by it.
      const Le = poisoned(N, dtype);
      const Lg = poisoned(N, dtype);
      native.mixtureHeadForward(N, C, K, M, z, logdet, null, null, cent, lpi, lpa, Lg, Le, null, null, null);
      assertClose(t, `Lg without labels ${label}`, Lg, ref.Lg, a, r);
      assertClose(t, `Le without labels ${label}`, Le, ref.Le, a, r);
    }
  });
}
