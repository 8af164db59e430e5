// The parity table: one row per op of the Backend interface, each with cases
// whose sizes cross the kernels' edges (odd channel counts, padded leading
// dimensions, rows of one element, out-of-range indices). test/parity.test.ts
// runs every case on every available backend and compares it with the CPU
// backend in float64, the reference. To add an op, add its row here, with the
// native case group that checks it on a GPU (then run scripts/gen_parity_cases.js).
import { Backend, IntStorage, Storage } from '../../lib/backend/types';
import { Random } from '../../lib/random';

/** The inputs of one case: float arrays (rounded to float32 for every backend), int32 arrays, and outputs to allocate (poisoned with NaN). */
export interface OpCase {
  label: string;
  floats: Record<string, Float64Array>;
  ints?: Record<string, Int32Array>;
  /** Outputs to allocate: name -> length. */
  outs?: Record<string, number>;
  /** The arrays compared after the run: outputs and arrays updated in place. */
  check: string[];
  /** Calls the op; a returned array is compared as `result`. */
  run(be: Backend, s: Record<string, Storage & IntStorage>): Float64Array | void;
  atol: number;
  rtol: number;
}

export interface OpRow {
  op: keyof Backend;
  /**
   * The case group of native/test/cuda_parity_test.cu that checks this op's
   * CUDA kernel on a GPU (its generated list, native/test/parity_cases.gen.h,
   * comes from this table: scripts/gen_parity_cases.js).
   */
  native: string;
  cases(rng: Random): OpCase[];
}

/** The native case groups of the device resources (allocator, streams, copies), which have no Backend op. */
export const NATIVE_RESOURCE_GROUPS = ['fillCopyStreamCases', 'memoryCases', 'streamLifetimeCases'];

function randn(rng: Random, n: number, scale = 1, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, () => shift + scale * rng.normal());
}

function uniform(rng: Random, n: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

/** Row indices in [0, rows) with some outside it (-1 and rows), which gather as zeros. */
function indices(rng: Random, n: number, rows: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i % 9 === 4 ? -1 : i % 11 === 7 ? rows : Math.floor(rng.uniform() * rows)));
}

/** Label-smoothed one-hot rows (N, K) for labels in [0, K). */
function smoothedRows(labels: Int32Array, K: number, smoothing: number): Float64Array {
  const Y = new Float64Array(labels.length * K).fill(smoothing / K);
  labels.forEach((l, n) => {
    if (l >= 0 && l < K) Y[n * K + l] += 1 - smoothing;
  });
  return Y;
}

const gemm: OpRow = {
  op: 'gemm', native: 'gemmCases',
  cases: (rng) => {
    const out: OpCase[] = [];
    for (const [M, N, K] of [[130, 130, 22], [7, 33, 130], [1, 5, 1]]) {
      for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
        const lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 2, ldc = N + 1;
        const aRows = tA ? K : M, bRows = tB ? N : K;
        out.push({
          label: `M=${M} N=${N} K=${K} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} beta 0.5 bias relu`,
          floats: { A: randn(rng, aRows * lda), B: randn(rng, bRows * ldb), C: randn(rng, M * ldc), bias: randn(rng, N) },
          check: ['C'],
          run: (be, s) => be.gemm(tA, tB, M, N, K, s.A, lda, s.B, ldb, 0.5, s.C, ldc, s.bias, true),
          atol: 1e-5 * Math.sqrt(K) * 4, rtol: 1e-5,
        });
      }
    }
    return out;
  },
};

function couplingCase(rng: Random, N: number, C: number, inverse: boolean): OpCase {
  const C2 = Math.floor(C / 2);
  return {
    label: `N=${N} C=${C}`,
    floats: { x: randn(rng, N * C), a: randn(rng, N * 2 * C2, 3), logdetIn: randn(rng, N), logdetConst: randn(rng, 1) },
    outs: { y: N * C, logdetOut: N },
    check: ['y', 'logdetOut'],
    run: (be, s) => (inverse ? be.couplingInverse : be.couplingForward).call(be, N, C, s.x, s.a, 1.9, s.logdetIn, s.logdetConst, s.y, s.logdetOut),
    atol: 1e-5, rtol: 1e-5,
  };
}

const coupling: OpRow[] = [
  { op: 'couplingForward', native: 'couplingCases', cases: (rng) => [couplingCase(rng, 37, 9, false), couplingCase(rng, 1, 2, false), couplingCase(rng, 300, 200, false)] },
  { op: 'couplingInverse', native: 'couplingCases', cases: (rng) => [couplingCase(rng, 37, 9, true), couplingCase(rng, 1, 3, true)] },
  {
    op: 'couplingBackward', native: 'couplingCases',
    cases: (rng) => [[37, 9], [5, 2]].map(([N, C]) => {
      const C2 = Math.floor(C / 2);
      return {
        label: `N=${N} C=${C}`,
        floats: { x: randn(rng, N * C), a: randn(rng, N * 2 * C2, 3), dy: randn(rng, N * C), dlogdet: randn(rng, N) },
        outs: { dx: N * C, da: N * 2 * C2 },
        check: ['dx', 'da'],
        run: (be, s) => be.couplingBackward(N, C, s.x, s.a, 1.9, s.dy, s.dlogdet, s.dx, s.da),
        atol: 1e-5, rtol: 1e-5,
      };
    }),
  },
];

const elementwise: OpRow[] = [
  {
    op: 'axpy', native: 'flatCases',
    cases: (rng) => [1, 1027, 40000].map((n) => ({
      label: `n=${n}`, floats: { x: randn(rng, n), y: randn(rng, n) }, check: ['y'],
      run: (be, s) => be.axpy(-0.75, s.x, s.y), atol: 1e-6, rtol: 1e-6,
    })),
  },
  {
    op: 'scale', native: 'flatCases',
    cases: (rng) => [1, 1027].map((n) => ({
      label: `n=${n}`, floats: { x: randn(rng, n) }, outs: { out: n }, check: ['out'],
      run: (be, s) => be.scale(1.25, s.x, s.out), atol: 1e-6, rtol: 1e-6,
    })),
  },
  {
    op: 'reluBackward', native: 'flatCases',
    cases: (rng) => [1, 1027].map((n) => ({
      label: `n=${n}`, floats: { h: randn(rng, n).map((v) => Math.max(0, v)), dh: randn(rng, n) }, check: ['dh'],
      run: (be, s) => be.reluBackward(s.h, s.dh), atol: 0, rtol: 0,
    })),
  },
  {
    op: 'columnSum', native: 'rowCases',
    cases: (rng) => [[300, 17], [1, 1], [5000, 3]].map(([N, M]) => ({
      label: `N=${N} M=${M} beta 0.5`, floats: { X: randn(rng, N * M), v: randn(rng, M) }, check: ['v'],
      run: (be, s) => be.columnSum(N, M, s.X, 0.5, s.v), atol: 1e-5 * Math.sqrt(N), rtol: 1e-5,
    })),
  },
  {
    op: 'rowSum', native: 'rowCases',
    cases: (rng) => [[17, 300], [1, 1], [1, 5000]].map(([N, M]) => ({
      label: `N=${N} M=${M}`, floats: { X: randn(rng, N * M) }, outs: { r: N }, check: ['r'],
      run: (be, s) => be.rowSum(N, M, s.X, s.r), atol: 1e-5 * Math.sqrt(M), rtol: 1e-5,
    })),
  },
  {
    op: 'logSoftmaxRows', native: 'rowCases',
    cases: (rng) => [[17, 45], [3, 1]].map(([N, M]) => ({
      label: `N=${N} M=${M}`, floats: { X: randn(rng, N * M, 5) }, outs: { Y: N * M }, check: ['Y'],
      run: (be, s) => be.logSoftmaxRows(N, M, s.X, s.Y), atol: 1e-5, rtol: 1e-5,
    })),
  },
  {
    op: 'logSoftmaxRowsBackward', native: 'rowCases',
    cases: (rng) => [[17, 45], [3, 1]].map(([N, M]) => ({
      label: `N=${N} M=${M}`, floats: { Y: uniform(rng, N * M, -6, 0), dY: randn(rng, N * M) }, outs: { dX: N * M }, check: ['dX'],
      run: (be, s) => be.logSoftmaxRowsBackward(N, M, s.Y, s.dY, s.dX), atol: 1e-5, rtol: 1e-5,
    })),
  },
  {
    op: 'packColumns', native: 'packCases',
    cases: (rng) => [[23, 11, 2, 5, 4], [4, 3, 0, 3, 0]].map(([N, ldx, c0, W0, P]) => ({
      label: `N=${N} ldx=${ldx} c0=${c0} W0=${W0} P=${P}`, floats: { X: randn(rng, N * ldx), Z: randn(rng, Math.max(1, N * P)) },
      outs: { out: N * (W0 + P) }, check: ['out'],
      run: (be, s) => be.packColumns(N, s.X, ldx, c0, W0, P > 0 ? s.Z : null, P, s.out), atol: 0, rtol: 0,
    })),
  },
  {
    op: 'unpackColumnsBackward', native: 'packCases',
    cases: (rng) => [[23, 11, 2, 5, 4]].map(([N, ldx, c0, W0, P]) => ({
      label: `N=${N} ldx=${ldx} c0=${c0} W0=${W0} P=${P}`, floats: { dOut: randn(rng, N * (W0 + P)), dX: randn(rng, N * ldx) },
      outs: { dZ: N * P }, check: ['dX', 'dZ'],
      run: (be, s) => be.unpackColumnsBackward(N, s.dOut, W0, P, s.dX, ldx, c0, s.dZ), atol: 1e-6, rtol: 1e-6,
    })),
  },
];

/** Raw global scales on both branches of the softplus threshold (and a tiny scale). */
function globalScales(rng: Random, C: number): Float64Array {
  const g = randn(rng, C, 4);
  if (C > 2) {
    g[0] = 45;
    g[1] = -30;
  }
  return g;
}

const fold: OpRow[] = [
  {
    op: 'affineFold', native: 'affineFoldCases',
    cases: (rng) => [33, 1, 200].flatMap((C) => [false, true].map((inverse) => ({
      label: `C=${C}${inverse ? ' inverse' : ''}`,
      floats: { R: randn(rng, C * C), g: globalScales(rng, C), offset: randn(rng, C) },
      outs: { W: C * C, b: C, logdetConst: 1 }, check: ['W', 'b', 'logdetConst'],
      run: (be, s) => be.affineFold(C, s.R, s.g, s.offset, s.W, s.b, s.logdetConst, inverse), atol: 1e-5, rtol: 1e-5,
    }))),
  },
  {
    op: 'affineFoldBackward', native: 'affineFoldCases',
    cases: (rng) => [33, 1].flatMap((C) => [true, false].map((withConst) => ({
      label: `C=${C}${withConst ? ' dConst' : ''}`,
      floats: { R: randn(rng, C * C), g: globalScales(rng, C), dW: randn(rng, C * C), db: randn(rng, C), dConst: randn(rng, 1) },
      outs: { dg: C, dOffset: C }, check: ['dg', 'dOffset'],
      run: (be, s) => be.affineFoldBackward(C, s.R, s.g, s.dW, s.db, withConst ? s.dConst : null, s.dg, s.dOffset), atol: 1e-5, rtol: 1e-5,
    }))),
  },
  {
    op: 'centresCompose', native: 'centresCases',
    cases: (rng) => [[3, 4, 5], [2, 1, 7]].map(([K, M, C]) => ({
      label: `K=${K} M=${M} C=${C}`, floats: { mu: randn(rng, K * C), muDelta: randn(rng, Math.max(1, K * (M - 1) * C)) },
      outs: { cent: K * M * C }, check: ['cent'],
      run: (be, s) => be.centresCompose(K, M, C, s.mu, s.muDelta, s.cent), atol: 1e-6, rtol: 1e-6,
    })),
  },
  {
    op: 'centresComposeBackward', native: 'centresCases',
    cases: (rng) => [[3, 4, 5], [2, 1, 7]].map(([K, M, C]) => ({
      label: `K=${K} M=${M} C=${C}`, floats: { dcent: randn(rng, K * M * C) },
      outs: { dmu: K * C, dDelta: Math.max(1, K * (M - 1) * C) }, check: M > 1 ? ['dmu', 'dDelta'] : ['dmu'],
      run: (be, s) => be.centresComposeBackward(K, M, C, s.dcent, s.dmu, M > 1 ? s.dDelta : null), atol: 0, rtol: 0,
    })),
  },
];

const batch: OpRow[] = [
  {
    op: 'gatherRows', native: 'gatherCases',
    cases: (rng) => [[50, 7, 20], [1, 1, 1], [300, 200, 40]].map(([n, C, rows]) => ({
      label: `n=${n} C=${C} srcRows=${rows} (out-of-range rows are zeros)`,
      floats: { src: randn(rng, rows * C) }, ints: { idx: indices(rng, n, rows) }, outs: { dst: n * C }, check: ['dst'],
      run: (be, s) => be.gatherRows(n, C, s.src, s.idx, s.dst), atol: 0, rtol: 0,
    })),
  },
  {
    op: 'repeatRows', native: 'repeatRowsCases',
    cases: (rng) => [[3, 12, 8], [1, 1, 1], [9, 64, 33]].map(([copies, R, P]) => ({
      label: `copies=${copies} R=${R} P=${P}`,
      floats: { table: randn(rng, R * P) }, outs: { y: copies * R * P }, check: ['y'],
      run: (be, s) => be.repeatRows(copies, R, P, s.table, s.y), atol: 0, rtol: 0,
    })),
  },
  {
    op: 'haarOrthogonal', native: 'orthogonalCases',
    // Sizes around the CPU kernel's 32-column panels; a Gaussian matrix's QR is
    // well conditioned, so float32 follows float64 to a few ulps times C.
    cases: (rng) => [1, 5, 33, 70].map((C) => ({
      label: `C=${C}`,
      floats: { a: randn(rng, C * C) }, outs: { q: C * C }, check: ['q'],
      run: (be, s) => be.haarOrthogonal(C, s.a, s.q), atol: 2e-5, rtol: 1e-3,
    })),
  },
  {
    op: 'oneHot', native: 'oneHotCases',
    cases: (rng) => [[40, 6, 0.1], [3, 1, 0]].map(([N, K, smoothing]) => ({
      label: `N=${N} K=${K} smoothing=${smoothing}`, floats: {}, ints: { labels: indices(rng, N, K) }, outs: { Y: N * K }, check: ['Y'],
      run: (be, s) => be.oneHot(N, K, s.labels, smoothing, s.Y), atol: 1e-7, rtol: 1e-7,
    })),
  },
  {
    op: 'lossSums', native: 'lossSumsCases',
    cases: (rng) => [1, 1000, 20000].flatMap((N) => [true, false].map((full) => ({
      label: `N=${N}${full ? '' : ' (Lgi, logp null)'}`,
      floats: { Lg: randn(rng, N), Le: uniform(rng, N, 0, 3), Lmi: randn(rng, N), Lgi: randn(rng, N), logp: randn(rng, N, 50) },
      check: ['result'],
      run: (be, s) => be.lossSums(N, s.Lg, s.Le, s.Lmi, full ? s.Lgi : null, full ? s.logp : null), atol: 1e-9, rtol: 1e-9,
    }))),
  },
  {
    op: 'adamStep', native: 'adamCases',
    cases: (rng) => [1, 1027].flatMap((n) => [0, 1e-4].map((wd) => ({
      label: `n=${n} weightDecay=${wd} step 3`,
      floats: { p: randn(rng, n), g: randn(rng, n), m: randn(rng, n, 0.1), v: uniform(rng, n, 0, 0.01) },
      check: ['p', 'm', 'v'],
      run: (be, s) => be.adamStep(s.p, s.g, s.m, s.v, 2e-3, 0.9, 0.999, 1e-8, wd, 3), atol: 1e-6, rtol: 1e-5,
    }))),
  },
];

function mixtureInputs(rng: Random, N: number, C: number, K: number, M: number) {
  const labels = Int32Array.from({ length: N }, () => Math.floor(rng.uniform() * K));
  return {
    floats: {
      z: randn(rng, N * C), logdet: randn(rng, N, 3), Y: smoothedRows(labels, K, 0.1), centres: randn(rng, K * M * C),
      lpi: randn(rng, K).map((v) => -Math.log(K) + 0.1 * v), lpa: randn(rng, K * M).map((v) => -Math.log(M) + 0.1 * v),
    },
    ints: { labels },
  };
}

const mixture: OpRow[] = [
  {
    op: 'mixtureHeadForward', native: 'mixtureCases',
    cases: (rng) => [[50, 6, 4, 3], [7, 33, 2, 1]].map(([N, C, K, M]) => ({
      label: `N=${N} C=${C} K=${K} M=${M}`, ...mixtureInputs(rng, N, C, K, M),
      outs: { Lg: N, Le: N, Lmi: N, Lgi: N, logp: N }, check: ['Lg', 'Le', 'Lmi', 'Lgi', 'logp'],
      run: (be, s) => be.mixtureHeadForward(N, C, K, M, s.z, s.logdet, s.labels, s.Y, s.centres, s.lpi, s.lpa, s.Lg, s.Le, s.Lmi, s.Lgi, s.logp),
      atol: 1e-4, rtol: 1e-5,
    })),
  },
  {
    op: 'mixtureHeadBackward', native: 'mixtureCases',
    cases: (rng) => [[50, 6, 4, 3], [7, 33, 2, 1]].map(([N, C, K, M]) => ({
      label: `N=${N} C=${C} K=${K} M=${M}`, ...mixtureInputs(rng, N, C, K, M),
      outs: { dz: N * C, dlogdet: N, dcent: K * M * C, dlpi: K, dlpa: K * M }, check: ['dz', 'dlogdet', 'dcent', 'dlpi', 'dlpa'],
      run: (be, s) => be.mixtureHeadBackward(N, C, K, M, s.z, s.logdet, s.labels, s.Y, s.centres, s.lpi, s.lpa, 0.5, 1, 0.25, 0.75, 0.1,
        s.dz, s.dlogdet, s.dcent, s.dlpi, s.dlpa),
      atol: 1e-5, rtol: 1e-4,
    })),
  },
];

const maps: OpRow[] = [
  {
    op: 'mapMax', native: 'mapCases',
    cases: (rng) => [1, 4099].map((n) => ({
      label: `n=${n}`, floats: { x: randn(rng, n, 3, -7) }, outs: { m: 1 }, check: ['m'],
      run: (be, s) => be.mapMax(n, s.x, s.m), atol: 0, rtol: 0,
    })),
  },
  {
    op: 'mapShift', native: 'mapCases',
    cases: (rng) => [0, 1].map((mode) => ({
      label: `n=1027 mode ${mode}`, floats: { x: randn(rng, 1027, 3), m: Float64Array.of(4.5) }, outs: { y: 1027 }, check: ['y'],
      run: (be, s) => be.mapShift(1027, s.x, s.m, mode, s.y), atol: 1e-6, rtol: 1e-6,
    })),
  },
  {
    op: 'upsampleBilinear', native: 'mapCases',
    cases: (rng) => [[2, 5, 7, 19, 23], [1, 1, 1, 4, 4], [1, 8, 8, 1, 3]].map(([B, h, w, H, W]) => ({
      label: `B=${B} ${h}x${w} -> ${H}x${W} beta 1`, floats: { x: randn(rng, B * h * w), y: randn(rng, B * H * W) }, check: ['y'],
      run: (be, s) => be.upsampleBilinear(B, h, w, H, W, s.x, 1, s.y), atol: 1e-5, rtol: 1e-5,
    })),
  },
  {
    op: 'gaussianBlur', native: 'mapCases',
    cases: (rng) => [[2, 17, 13, 2], [1, 3, 40, 4], [1, 1, 1, 1]].map(([B, H, W, sigma]) => ({
      label: `B=${B} ${H}x${W} sigma=${sigma} (radius past the image: reflected twice)`, floats: { x: randn(rng, B * H * W) },
      outs: { work: B * H * W, y: B * H * W }, check: ['y'],
      run: (be, s) => be.gaussianBlur(B, H, W, sigma, 4, s.x, s.work, s.y), atol: 1e-6, rtol: 1e-5,
    })),
  },
  {
    op: 'mapProduct', native: 'mapCases',
    cases: (rng) => [1, 1027].map((n) => ({
      label: `n=${n}`, floats: { a: randn(rng, n), b: randn(rng, n) }, outs: { y: n }, check: ['y'],
      run: (be, s) => be.mapProduct(n, s.a, s.b, s.y), atol: 1e-7, rtol: 1e-6,
    })),
  },
];

export const OP_TABLE: OpRow[] = [gemm, ...coupling, ...elementwise, ...fold, ...batch, ...mixture, ...maps];
