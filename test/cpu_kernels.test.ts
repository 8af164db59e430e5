// The CPU GEMM kernel can be forced (setCpuKernel, HGAD_CPU_KERNEL), so that
// an AVX-512 machine measures and tests the AVX2 path too. Every kernel this
// CPU runs is checked here against a float64 reference on shapes that take the
// packed, cache-blocked path (several K blocks, ragged edges, two threads);
// golden.test.ts runs the reference vectors under each of them.
import test, { ExecutionContext } from 'ava';
import { CPU_KERNELS, CpuKernel, cpuKernel, native, setCpuKernel, setThreads, threads } from '../lib/binding';
import { devices } from '../lib/backend/devices';
import { runCli } from './helpers/cli_run';
import { assertClose, randn, seeded } from './helpers/numeric';
import { withCpuKernel } from './helpers/kernels';

const supported = native.gemmKernels();

// C = relu?(beta*C0 + op(A) op(B) + bias) in float64.
function reference(tA: boolean, tB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array,
  beta: number, C0: Float32Array, bias: Float32Array | null, relu: boolean): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; ++i) {
    for (let j = 0; j < N; ++j) {
      let acc = 0;
      for (let k = 0; k < K; ++k) acc += (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
      acc += beta * C0[i * N + j] + (bias ? bias[j] : 0);
      out[i * N + j] = relu && acc < 0 ? 0 : acc;
    }
  }
  return out;
}

test('the kernels this CPU runs end with portable, and the default is the first', (t) => {
  t.true(supported.length >= 1);
  t.is(supported[supported.length - 1], 'portable');
  for (const k of supported) t.true((CPU_KERNELS as readonly string[]).includes(k), k);
  t.is(cpuKernel(), supported[0]);
  t.deepEqual(devices().cpu.gemmKernels, supported);
});

// Every transpose combination of each M x N x K shape on the kernel in force
// against the float64 reference, with fresh random operands.
function checkShapes(t: ExecutionContext, rng: ReturnType<typeof seeded>, label: string, shapes: number[][]): void {
  for (const [M, N, K] of shapes) {
    for (const [tA, tB] of [[false, true], [false, false], [true, false], [true, true]] as const) {
      const A = randn(rng, M * K, 'float32') as Float32Array;
      const B = randn(rng, K * N, 'float32') as Float32Array;
      const C = randn(rng, M * N, 'float32') as Float32Array;
      const bias = randn(rng, N, 'float32') as Float32Array;
      const beta = tA ? 0.5 : 0;
      const relu = !tB;
      const ref = reference(tA, tB, M, N, K, A, B, beta, C, bias, relu);
      native.gemm(tA, tB, M, N, K, A, tA ? M : K, B, tB ? K : N, beta, C, N, bias, relu);
      const s = Math.sqrt(K);
      assertClose(t, `${label} ${M}x${N}x${K} tA=${tA} tB=${tB}`, C, ref, 1e-5 * s, 1e-4 * s);
    }
  }
}

for (const kernel of supported) {
  test.serial(`gemm on the forced ${kernel} kernel matches the float64 reference`, (t) => {
    const rng = seeded(t);
    withCpuKernel(kernel, () => {
      t.is(cpuKernel(), kernel);
      t.is(devices().cpu.gemmKernel, kernel);
      // M, N ragged against every kernel's register tile; K = 1100 spans several
      // K blocks.
      checkShapes(t, rng, kernel, [[301, 75, 1100], [67, 203, 97], [1000, 40, 300]]);
    });
    t.is(cpuKernel(), supported[0], 'the default kernel is back');
  });

  test.serial(`deep products (weight gradients) on the forced ${kernel} kernel match the float64 reference on one and two threads`, (t) => {
    const rng = seeded(t);
    const before = threads();
    try {
      for (const n of [1, 2]) {
        setThreads(n);
        withCpuKernel(kernel, () => {
          // K = 4000 (AVX2) and 4500 (AVX-512: at least 8 of its deeper K
          // blocks) with a small C take the one-task-per-thread schedule of
          // deep products, on AVX2 with its 4x24 tile; with M < N AVX-512 runs
          // it as its transpose, the others split K between the two threads
          // (a sum of per-thread partial products). N = 58 and 100 end in a last panel of 10 and
          // 4 columns of the 24-wide tile (its 16-wide half instance), M = 70
          // and 29 in a ragged last tile of rows.
          checkShapes(t, rng, `${kernel} ${n} thread(s)`, [[70, 45, 4000], [29, 90, 4000], [29, 90, 4500], [70, 58, 4000], [30, 100, 4000]]);
        });
      }
    } finally {
      setThreads(before);
    }
  });
}

test.serial('forcing another kernel really changes the arithmetic (other tile and K blocks than the portable kernel)', (t) => {
  const fma = supported.find((k) => k !== 'portable');
  if (!fma) {
    t.log('this CPU has no FMA kernel: nothing to compare with the portable one');
    t.pass();
    return;
  }
  const rng = seeded(t);
  const [M, N, K] = [64, 64, 700];
  const A = randn(rng, M * K, 'float32');
  const B = randn(rng, K * N, 'float32');
  const run = (kernel: CpuKernel) => withCpuKernel(kernel, () => {
    const C = native.alloc(M * N, 'float32');
    native.gemm(false, false, M, N, K, A, K, B, N, 0, C, N, null, false);
    return C;
  });
  const a = run(fma), b = run('portable');
  let differ = 0;
  for (let i = 0; i < a.length; ++i) if (a[i] !== b[i]) ++differ;
  t.true(differ > 0, `${fma} and portable gave bit-identical products: the switch did not take effect`);
});

test.serial('setCpuKernel refuses unknown names and other types with a RangeError, changing nothing', (t) => {
  for (const bad of ['sse', 'AVX2', '', 'avx-512', 3, null]) {
    const e = t.throws(() => setCpuKernel(bad as never), { instanceOf: RangeError });
    t.regex(e!.message, /^Expected one of "auto", "avx512", "avx2", "portable" for kernel but received /);
  }
  t.is(cpuKernel(), supported[0]);
  for (const k of CPU_KERNELS.filter((k) => !supported.includes(k))) {
    const e = t.throws(() => setCpuKernel(k), { instanceOf: RangeError });
    t.regex(e!.message, /^Expected a CPU GEMM kernel this machine supports/);
  }
});

test('HGAD_CPU_KERNEL forces the kernel that hgad devices --json reports', async (t) => {
  const forced = supported[supported.length - 1];
  const r = await runCli(['devices', '--json'], { HGAD_CPU_KERNEL: forced });
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { cpu: { gemmKernel: string; gemmKernels: string[] } };
  t.is(report.cpu.gemmKernel, forced);
  t.deepEqual(report.cpu.gemmKernels, supported);
});

test('an unknown HGAD_CPU_KERNEL is a one-line error naming the variable', async (t) => {
  const r = await runCli(['devices', '--json'], { HGAD_CPU_KERNEL: 'neon' });
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr.trim(), 'hgad: Expected one of "auto", "avx512", "avx2", "portable" for HGAD_CPU_KERNEL but received "neon"');
});

// Every kernel rounds acc + a * b once (a fused multiply-add, or its exact
// emulation on the portable kernel): -(1 + 2^-11) + (1 + 2^-12)^2 is exactly
// 2^-24, which a separate multiply (rounding the square to 1 + 2^-11) turns
// into 0. Each row of A is [-(1 + 2^-11), 1 + 2^-12, 0, ...] and each column
// of B [1, 1 + 2^-12, 0, ...], on the shared packed schedule (K = 512) and the
// deep per-thread one (K = 8192, M < N: K split between threads); beta = 1
// adds C0 = 0 last.
for (const kernel of supported) {
  test.serial(`the ${kernel} kernel rounds each multiply-add once, as a fused multiply-add does`, (t) => {
    withCpuKernel(kernel, () => {
      for (const [M, N, K] of [[64, 64, 512], [24, 96, 8192]]) {
        const A = new Float32Array(M * K);
        const B = new Float32Array(K * N);
        for (let i = 0; i < M; ++i) {
          A[i * K] = -(1 + 2 ** -11);
          A[i * K + 1] = 1 + 2 ** -12;
        }
        for (let j = 0; j < N; ++j) {
          B[j] = 1;
          B[N + j] = 1 + 2 ** -12;
        }
        for (const beta of [0, 1]) {
          const C = new Float32Array(M * N);
          native.gemm(false, false, M, N, K, A, K, B, N, beta, C, N, null, false);
          const wrong = C.filter((v) => v !== 2 ** -24).length;
          t.is(wrong, 0, `${M}x${N}x${K} beta=${beta}: ${wrong} of ${M * N} entries differ from 2^-24 (first ${C[0]})`);
        }
      }
    });
  });
}
