// CUDA kernels against the CPU kernels on fresh random inputs, outputs
// poisoned with NaN and every element checked. They need a CUDA device; on a
// machine without one this file checks the no-device contract instead (a clear
// Error, the process alive) and says which parity checks did not run.
import test from 'ava';
import { native } from '../lib/binding';
import { cudaBackend, CudaAddon, toDevice, toHost } from '../lib/cuda';
import { devices } from '../lib/devices';
import { Random } from '../lib/random';
import { compare } from './helpers/golden';

const report = devices();
const usable = report.cudaCompiled && report.devices.length > 0;

if (!usable) {
  test('without a usable CUDA device, CUDA calls fail with a clear Error and the process stays alive', (t) => {
    t.log(`CUDA parity checks NOT RUN on this machine: ${report.reason}`);
    const err = t.throws(() => cudaBackend());
    t.regex(err!.message, /CUDA is not available: /);
    if (report.cudaCompiled) {
      const raw = native as unknown as CudaAddon;
      const alloc = t.throws(() => new raw.DeviceBuffer(1024));
      t.regex(alloc!.message, /cudaAlloc\(1024 bytes\): CUDA error/);
      t.throws(() => raw.cudaGemm(false, false, 1, 1, 1, {} as never, 1, {} as never, 1, 0, {} as never, 1, null, false, 0), {
        instanceOf: TypeError,
        message: /Expected a DeviceBuffer for A/,
      });
    }
    t.is(native.threadCount() > 0, true, 'the addon still answers');
  });
} else {
  const seed = Number(process.env.HGAD_TEST_SEED ?? Date.now());
  const rng = new Random(seed);
  const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
  const poisoned = (cuda: CudaAddon, n: number) => toDevice(cuda, new Float32Array(n).fill(NaN));
  const near = (t: import('ava').ExecutionContext, label: string, gpu: Float32Array, cpu: Float32Array, atol: number, rtol: number) => {
    const r = compare(gpu, cpu, atol, rtol);
    t.true(gpu.every(Number.isFinite), `${label}: an element was not written (seed ${seed})`);
    t.true(r.ok, `${label}: worst ratio ${r.worstRatio.toFixed(2)} at ${r.worstIndex} (seed ${seed})`);
  };

  test('gemm matches the CPU for every transpose case, with bias and ReLU', (t) => {
    const cuda = cudaBackend();
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as [boolean, boolean][]) {
      for (const [M, N, K] of [[1, 1, 1], [33, 65, 17], [130, 70, 257], [1000, 712, 356]]) {
        const A = randn(M * K), B = randn(K * N), bias = randn(N);
        const lda = tA ? M : K, ldb = tB ? K : N;
        const cpu = new Float32Array(M * N);
        native.gemm(tA, tB, M, N, K, A, lda, B, ldb, 0, cpu, N, bias, true);
        const C = poisoned(cuda, M * N);
        cuda.cudaGemm(tA, tB, M, N, K, toDevice(cuda, A), lda, toDevice(cuda, B), ldb, 0, C, N, toDevice(cuda, bias), true, 1);
        near(t, `gemm ${tA} ${tB} ${M}x${N}x${K}`, toHost(cuda, C, M * N), cpu, 1e-5 * Math.sqrt(K), 1e-4);
      }
    }
  });

  test('coupling forward, inverse and backward match the CPU', (t) => {
    const cuda = cudaBackend();
    for (const [N, C] of [[7, 3], [300, 27], [16384, 200]]) {
      const C2 = Math.floor(C / 2);
      const x = randn(N * C), a = randn(N * 2 * C2, 3), ld = randn(N), dy = randn(N * C), dld = randn(N);
      const y = new Float32Array(N * C), ldOut = new Float32Array(N), dx = new Float32Array(N * C), da = new Float32Array(N * 2 * C2);
      native.couplingForward(N, C, x, a, 1.9, ld, 0.25, y, ldOut);
      native.couplingBackward(N, C, x, a, 1.9, dy, dld, dx, da);
      const dX = toDevice(cuda, x), dA = toDevice(cuda, a);
      const gy = poisoned(cuda, N * C), gld = poisoned(cuda, N), gdx = poisoned(cuda, N * C), gda = poisoned(cuda, N * 2 * C2);
      cuda.cudaCouplingForward(N, C, dX, dA, 1.9, toDevice(cuda, ld), 0.25, gy, gld);
      cuda.cudaCouplingBackward(N, C, dX, dA, 1.9, toDevice(cuda, dy), toDevice(cuda, dld), gdx, gda);
      near(t, `coupling y ${N}x${C}`, toHost(cuda, gy, N * C), y, 1e-5, 1e-5);
      near(t, `coupling logdet ${N}x${C}`, toHost(cuda, gld, N), ldOut, 1e-4, 1e-5);
      near(t, `coupling dx ${N}x${C}`, toHost(cuda, gdx, N * C), dx, 1e-5, 1e-5);
      near(t, `coupling da ${N}x${C}`, toHost(cuda, gda, N * 2 * C2), da, 1e-5, 1e-5);
      const gx = poisoned(cuda, N * C), gld2 = poisoned(cuda, N);
      cuda.cudaCouplingInverse(N, C, gy, dA, 1.9, null, 0.25, gx, gld2);
      near(t, `coupling inverse ${N}x${C}`, toHost(cuda, gx, N * C), x, 1e-4, 1e-4);
    }
  });

  test('mixture head forward and backward match the CPU', (t) => {
    const cuda = cudaBackend();
    for (const [N, C, K, M] of [[5, 4, 3, 2], [512, 200, 15, 10]]) {
      const z = randn(N * C), logdet = randn(N, 5), cent = randn(K * M * C), lpi = randn(K), lpa = randn(K * M);
      const labels = Int32Array.from({ length: N }, () => rng.int(K));
      const Y = new Float32Array(N * K).fill(0.02 / K);
      labels.forEach((k, n) => (Y[n * K + k] += 0.98));
      const out = () => Array.from({ length: 5 }, () => new Float32Array(N)) as Float32Array[];
      const cpu = out();
      native.mixtureHeadForward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, cpu[0], cpu[1], cpu[2], cpu[3], cpu[4]);
      const d = [toDevice(cuda, z), toDevice(cuda, logdet), toDevice(cuda, labels), toDevice(cuda, Y), toDevice(cuda, cent), toDevice(cuda, lpi), toDevice(cuda, lpa)] as const;
      const g = Array.from({ length: 5 }, () => poisoned(cuda, N));
      cuda.cudaMixtureHeadForward(N, C, K, M, ...d, g[0], g[1], g[2], g[3], g[4]);
      ['Lg', 'Le', 'Lmi', 'Lgi', 'logp'].forEach((name, i) => near(t, `mixture ${name} N=${N}`, toHost(cuda, g[i], N), cpu[i], 1e-5, 1e-5));
      const w = [1 / N, 1 / N, -100 / N, 1 / N, 1 / N] as const;
      const grads = [new Float32Array(N * C), new Float32Array(N), new Float32Array(K * M * C), new Float32Array(K), new Float32Array(K * M)];
      native.mixtureHeadBackward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, ...w, grads[0], grads[1], grads[2], grads[3], grads[4]);
      const gg = grads.map((a) => poisoned(cuda, a.length));
      cuda.cudaMixtureHeadBackward(N, C, K, M, ...d, ...w, gg[0], gg[1], gg[2], gg[3], gg[4]);
      ['dz', 'dlogdet', 'dcent', 'dlpi', 'dlpa'].forEach((name, i) => near(t, `mixture ${name} N=${N}`, toHost(cuda, gg[i], grads[i].length), grads[i], 1e-6, 1e-4));
    }
  });

  test('Adam matches the TypeScript optimiser', async (t) => {
    const cuda = cudaBackend();
    const { Adam } = await import('../lib/optim/adam');
    const n = 10007;
    const p = randn(n), g = randn(n);
    const param = { data: Float32Array.from(p), grad: Float32Array.from(g) };
    const adam = new Adam([{ name: 'p', params: [param], lr: 1e-3, betas: [0.95, 0.99], weightDecay: 1e-4 }]);
    const dp = toDevice(cuda, p), dg = toDevice(cuda, g), dm = toDevice(cuda, new Float32Array(n)), dv = toDevice(cuda, new Float32Array(n));
    for (let step = 1; step <= 3; ++step) {
      adam.step();
      cuda.cudaAdamStep(n, dp, dg, dm, dv, 1e-3, 0.95, 0.99, 1e-8, 1e-4, step);
    }
    near(t, 'adam p', toHost(cuda, dp, n), param.data, 1e-7, 1e-5);
  });
}
