// CPU kernels against plain float64 TypeScript references written here from
// the headers in native/ops: GEMM (every transpose, padded leading
// dimensions, beta 0 never reading C, fused bias/relu), the fused coupling,
// alloc, and the thread count. Elementwise, row kernels and the mixture head
// are in ops.cpu.elementwise.test.ts.
import test from 'ava';
import { FloatArray, native } from '../lib/binding';
import { DType } from '../lib/tensor';
import { Random } from '../lib/random';
import { allFinite, assertClose, poisoned, randn, seeded } from './helpers/numeric';

const DTYPES: DType[] = ['float32', 'float64'];

// C = relu?(beta*C0 + op(A) op(B) + bias) over the (M, N) block, in float64.
function gemmReference(
  transA: boolean, transB: boolean, M: number, N: number, K: number, A: ArrayLike<number>, lda: number,
  B: ArrayLike<number>, ldb: number, beta: number, C0: ArrayLike<number>, ldc: number, bias: ArrayLike<number> | null, relu: boolean,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; ++i) {
    for (let j = 0; j < N; ++j) {
      let acc = 0;
      for (let k = 0; k < K; ++k) {
        const a = transA ? A[k * lda + i] : A[i * lda + k];
        const b = transB ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      if (beta !== 0) acc += beta * C0[i * ldc + j];
      if (bias) acc += bias[j];
      out[i * N + j] = relu && acc < 0 ? 0 : acc;
    }
  }
  return out;
}

// A (rows, cols) matrix with row stride ld; the padding columns hold NaN so a
// kernel that reads past a row's end poisons its result.
function paddedMatrix(rng: Random, rows: number, cols: number, ld: number, dtype: DType): FloatArray {
  const m = poisoned(Math.max(1, rows * ld), dtype);
  const v = randn(rng, rows * cols, dtype);
  for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) m[r * ld + c] = v[r * cols + c];
  return m;
}

const SIZES: [number, number, number][] = [[1, 1, 1], [7, 5, 3], [33, 65, 17], [130, 70, 257], [20, 37, 1030]];
const VARIANTS = [
  { beta: 0, bias: false, relu: false },
  { beta: 0, bias: true, relu: true },
  { beta: 1, bias: true, relu: true },
  { beta: 1, bias: false, relu: false },
  { beta: -0.5, bias: true, relu: false },
];
const SENTINEL = 777.25;

for (const dtype of DTYPES) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      test(`gemm ${dtype} transA=${transA} transB=${transB} matches the float64 reference`, (t) => {
        const rng = seeded(t);
        for (const [M, N, K] of SIZES) {
          for (const v of VARIANTS) {
            const [aRows, aCols] = transA ? [K, M] : [M, K];
            const [bRows, bCols] = transB ? [N, K] : [K, N];
            const lda = aCols + 1 + rng.int(4);
            const ldb = bCols + 1 + rng.int(4);
            const ldc = N + 1 + rng.int(4);
            const A = paddedMatrix(rng, aRows, aCols, lda, dtype);
            const B = paddedMatrix(rng, bRows, bCols, ldb, dtype);
            const C = native.alloc(M * ldc, dtype, SENTINEL);
            const C0 = randn(rng, M * ldc, dtype);
            for (let i = 0; i < M; ++i) for (let j = 0; j < N; ++j) C[i * ldc + j] = v.beta === 0 ? NaN : C0[i * ldc + j];
            const bias = v.bias ? randn(rng, N, dtype) : null;
            const ref = gemmReference(transA, transB, M, N, K, A, lda, B, ldb, v.beta, C, ldc, bias, v.relu);
            native.gemm(transA, transB, M, N, K, A, lda, B, ldb, v.beta, C, ldc, bias, v.relu);
            const got = new Float64Array(M * N);
            let paddingKept = true;
            for (let i = 0; i < M; ++i) {
              for (let j = 0; j < N; ++j) got[i * N + j] = C[i * ldc + j];
              for (let j = N; j < ldc; ++j) paddingKept &&= C[i * ldc + j] === SENTINEL;
            }
            const label = `${M}x${N}x${K} lda=${lda} ldb=${ldb} ldc=${ldc} ${JSON.stringify(v)}`;
            t.true(paddingKept, `${label}: C's padding columns were written`);
            t.true(allFinite(got), `${label}: an element of C is not finite (unwritten, or C/padding read)`);
            const s = Math.sqrt(K);
            if (dtype === 'float32') assertClose(t, label, got, ref, 1e-5 * s, 1e-4 * s);
            else assertClose(t, label, got, ref, 1e-12, 1e-12);
          }
        }
      });
    }
  }

  test(`gemm ${dtype} with K = 0 gives relu?(beta*C + bias)`, (t) => {
    const rng = seeded(t);
    const [M, N] = [3, 5];
    const bias = randn(rng, N, dtype);
    const C = poisoned(M * N, dtype);
    native.gemm(false, false, M, N, 0, native.alloc(0, dtype), 1, native.alloc(0, dtype), N, 0, C, N, bias, true);
    const ref = gemmReference(false, false, M, N, 0, [], 1, [], N, 0, C, N, bias, true);
    assertClose(t, 'K=0', C, ref, 0, 0);
  });
}

// ---------------------------------------------------------------- coupling

interface CouplingCase { N: number; C: number; clamp: number; withLogdetIn: boolean }

function couplingReference(c: CouplingCase, x: ArrayLike<number>, a: ArrayLike<number>, ldIn: ArrayLike<number> | null, ldConst: number, inverse: boolean) {
  const { N, C, clamp } = c;
  const C1 = Math.ceil(C / 2);
  const C2 = C - C1;
  const out = new Float64Array(N * C);
  const logdet = new Float64Array(N);
  for (let n = 0; n < N; ++n) {
    let sum = 0;
    for (let j = 0; j < C1; ++j) out[n * C + j] = x[n * C + j];
    for (let j = 0; j < C2; ++j) {
      const s = clamp * Math.tanh(0.1 * a[n * 2 * C2 + j]);
      const tt = 0.1 * a[n * 2 * C2 + C2 + j];
      sum += s;
      const v = x[n * C + C1 + j];
      out[n * C + C1 + j] = inverse ? (v - tt) * Math.exp(-s) : v * Math.exp(s) + tt;
    }
    const base = ldIn ? ldIn[n] : 0;
    logdet[n] = inverse ? base - ldConst - sum : base + ldConst + sum;
  }
  return { out, logdet };
}

function couplingBackwardReference(c: CouplingCase, x: ArrayLike<number>, a: ArrayLike<number>, dy: ArrayLike<number>, dld: ArrayLike<number> | null) {
  const { N, C, clamp } = c;
  const C1 = Math.ceil(C / 2);
  const C2 = C - C1;
  const dx = new Float64Array(N * C);
  const da = new Float64Array(N * 2 * C2);
  for (let n = 0; n < N; ++n) {
    for (let j = 0; j < C1; ++j) dx[n * C + j] = dy[n * C + j];
    for (let j = 0; j < C2; ++j) {
      const th = Math.tanh(0.1 * a[n * 2 * C2 + j]);
      const e = Math.exp(clamp * th);
      const g = dy[n * C + C1 + j];
      dx[n * C + C1 + j] = g * e;
      const ds = g * x[n * C + C1 + j] * e + (dld ? dld[n] : 0);
      da[n * 2 * C2 + j] = ds * clamp * 0.1 * (1 - th * th);
      da[n * 2 * C2 + C2 + j] = 0.1 * g;
    }
  }
  return { dx, da };
}

const COUPLING_CASES: CouplingCase[] = [];
for (const C of [2, 3, 8, 27]) for (const N of [1, 37, 150]) for (const withLogdetIn of [false, true]) {
  COUPLING_CASES.push({ N, C, clamp: 1.9, withLogdetIn });
}

for (const dtype of DTYPES) {
  const [atol, rtol] = dtype === 'float32' ? [2e-5, 2e-5] : [1e-12, 1e-12];

  test(`couplingForward / couplingInverse ${dtype} match the reference and invert each other`, (t) => {
    const rng = seeded(t);
    for (const c of COUPLING_CASES) {
      const C2 = Math.floor(c.C / 2);
      const clamp = 0.5 + 2.5 * rng.uniform();
      const cc = { ...c, clamp };
      const x = randn(rng, c.N * c.C, dtype);
      const a = randn(rng, c.N * 2 * C2, dtype, 4);
      const ldIn = c.withLogdetIn ? randn(rng, c.N, dtype, 3) : null;
      const ldConst = rng.normal();
      const ldConstArr = randn(rng, 1, dtype).fill(ldConst);
      const y = poisoned(c.N * c.C, dtype);
      const ld = poisoned(c.N, dtype);
      native.couplingForward(c.N, c.C, x, a, clamp, ldIn, ldConstArr, y, ld);
      const ref = couplingReference(cc, x, a, ldIn, dtype === 'float32' ? Math.fround(ldConst) : ldConst, false);
      const label = `N=${c.N} C=${c.C} logdetIn=${c.withLogdetIn}`;
      assertClose(t, `forward y ${label}`, y, ref.out, atol, rtol);
      assertClose(t, `forward logdet ${label}`, ld, ref.logdet, atol, rtol);

      const xBack = poisoned(c.N * c.C, dtype);
      const ldBack = poisoned(c.N, dtype);
      native.couplingInverse(c.N, c.C, y, a, clamp, ld, ldConstArr, xBack, ldBack);
      const inv = couplingReference(cc, y, a, ld, dtype === 'float32' ? Math.fround(ldConst) : ldConst, true);
      assertClose(t, `inverse x ${label}`, xBack, inv.out, atol, rtol);
      assertClose(t, `inverse logdet ${label}`, ldBack, inv.logdet, atol, rtol);
      assertClose(t, `round trip x ${label}`, xBack, x, 10 * atol, 10 * rtol);
      // forward then inverse with the forward's logdet as logdetIn returns to logdetIn (or 0)
      assertClose(t, `round trip logdet ${label}`, ldBack, ldIn ?? new Float64Array(c.N), 10 * atol, 10 * rtol);
    }
  });

  test(`couplingBackward ${dtype} matches the reference, with and without dlogdet`, (t) => {
    const rng = seeded(t);
    for (const c of COUPLING_CASES) {
      const C2 = Math.floor(c.C / 2);
      const x = randn(rng, c.N * c.C, dtype);
      const a = randn(rng, c.N * 2 * C2, dtype, 4);
      const dy = randn(rng, c.N * c.C, dtype);
      const dld = c.withLogdetIn ? randn(rng, c.N, dtype) : null;
      const dx = poisoned(c.N * c.C, dtype);
      const da = poisoned(c.N * 2 * C2, dtype);
      native.couplingBackward(c.N, c.C, x, a, c.clamp, dy, dld, dx, da);
      const ref = couplingBackwardReference(c, x, a, dy, dld);
      const label = `N=${c.N} C=${c.C} dlogdet=${c.withLogdetIn}`;
      assertClose(t, `dx ${label}`, dx, ref.dx, atol, rtol);
      assertClose(t, `da ${label}`, da, ref.da, atol, rtol);
    }
  });
}

// ---------------------------------------------------------------- alloc

test('alloc returns zero-filled typed arrays whose data starts on a 64-byte boundary, with the requested fill', (t) => {
  const kinds = [
    ['float32', Float32Array, 4],
    ['float64', Float64Array, 8],
    ['int32', Int32Array, 4],
  ] as const;
  for (const [dtype, Ctor, bytes] of kinds) {
    for (const length of [0, 1, 3, 17, 1000]) {
      // several in a row, so that a lucky placement of one buffer does not hide a missing alignment
      for (let k = 0; k < 4; ++k) {
        const a = native.alloc(length, dtype as 'float32');
        t.true(a instanceof Ctor, `${dtype} alloc is a ${Ctor.name}`);
        t.is(a.length, length);
        t.is(a.byteLength, length * bytes, `${dtype}[${length}] byteLength`);
        t.is(native.addressModulo(a, 64), 0, `${dtype}[${length}] data address is 64-byte aligned`);
        t.true(a.every((v: number) => Object.is(v, 0)), `${dtype}[${length}] zero-filled without a fill`);
      }
      const fill = dtype === 'int32' ? -7 : -2.25;
      const f = native.alloc(length, dtype as 'float32', fill);
      t.true(Array.from(f).every((v) => v === fill), `${dtype}[${length}] filled with ${fill}`);
      t.is(native.addressModulo(f, 64), 0);
      const z = native.alloc(length, dtype as 'float32', 0);
      t.true(Array.from(z).every((v) => Object.is(v, 0)), `${dtype}[${length}] filled with +0`);
    }
  }
  const nan = native.alloc(9, 'float64', NaN);
  t.true(Array.from(nan).every(Number.isNaN), 'float64 NaN fill');
  const f32 = native.alloc(5, 'float32', 0.1);
  t.true(Array.from(f32).every((v) => v === Math.fround(0.1)), 'float32 fill is rounded to float32');
  // every allocation is independent memory
  const p = native.alloc(4, 'float64', 1);
  const q = native.alloc(4, 'float64', 1);
  p[0] = 5;
  t.is(q[0], 1);
  t.not(p.buffer, q.buffer);
  // and addressModulo itself sees a misaligned view
  const view = new Float32Array(p.buffer, p.byteOffset + 4, 2);
  t.is(native.addressModulo(view, 64), 4);
});

// ---------------------------------------------------------------- threads

function threadSensitiveRun(rng: Random): FloatArray[] {
  const outs: FloatArray[] = [];
  const [M, N, K] = [300, 200, 600];
  const A = randn(rng, M * K, 'float32');
  const B = randn(rng, K * N, 'float32');
  const bias = randn(rng, N, 'float32');
  for (const [ta, tb] of [[false, false], [true, true]] as const) {
    const C = poisoned(M * N, 'float32');
    native.gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0, C, N, bias, true);
    outs.push(C);
  }
  const X = randn(rng, 1000 * 33, 'float64');
  const v = poisoned(33, 'float64');
  native.columnSum(1000, 33, X, 0, v);
  outs.push(v);
  const [n, C] = [500, 9];
  const y = poisoned(n * C, 'float32');
  const ld = poisoned(n, 'float32');
  native.couplingForward(n, C, randn(rng, n * C, 'float32'), randn(rng, n * 8, 'float32'), 1.9, null, Float32Array.of(0.5), y, ld);
  outs.push(y, ld);
  return outs;
}

test.serial('setThreadCount changes threadCount, and 1 and 2 threads agree', (t) => {
  const original = native.threadCount();
  t.true(Number.isInteger(original) && original >= 1);
  const rng = seeded(t);
  const seed = rng.nextUint32();
  try {
    native.setThreadCount(1);
    t.is(native.threadCount(), 1);
    t.is(native.buildInfo().threads, 1);
    const one = threadSensitiveRun(new Random(seed));
    native.setThreadCount(2);
    t.is(native.threadCount(), 2);
    const two = threadSensitiveRun(new Random(seed));
    one.forEach((a, i) => {
      t.true(allFinite(two[i]), `output ${i} fully written with 2 threads`);
      const f32 = two[i] instanceof Float32Array;
      assertClose(t, `output ${i} (1 vs 2 threads)`, two[i], a, f32 ? 1e-4 : 1e-12, f32 ? 1e-5 : 1e-12);
    });
  } finally {
    native.setThreadCount(original);
  }
  t.is(native.threadCount(), original);
});
