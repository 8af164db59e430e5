// The GPU-only parts of the benchmark: GEMMs of the flow's shapes on device
// buffers, the fused kernels' achieved bandwidth against a measured
// device-to-device copy, and the error of TF32 against FP32 on the paper
// model. Used by bench/run.ts with --device cuda.
import { noGrad, backward } from '../lib/autograd/tape';
import { CudaBackend } from '../lib/backend/cuda';
import { Storage } from '../lib/backend/types';
import { smoothedOneHot } from '../lib/nn/heads';
import { Random } from '../lib/random';
import { PAPER, SUBNET, Scenario, paperModel } from './scenarios';

function randomStorage(be: CudaBackend, n: number, rng: Random, scale = 1): Storage {
  const host = new Float32Array(n);
  for (let i = 0; i < n; ++i) host[i] = rng.normal() * scale;
  return be.persistent(() => be.fromHost(host, 'float32'));
}

/** `repeat` launches per run, then a synchronize: the per-launch time is median / repeat. */
function kernelScenario(be: CudaBackend, name: string, shapes: string, n: number, repeat: number, flops: number | null, bytes: number | null,
  launch: () => void): Scenario {
  return {
    name,
    shapes: `${shapes} (x${repeat})`,
    n: n * repeat,
    flops: flops === null ? null : flops * repeat,
    bytes: bytes === null ? undefined : bytes * repeat,
    run: () => {
      for (let r = 0; r < repeat; ++r) launch();
      be.synchronize();
    },
  };
}

/**
 * The flow's GEMMs (forward and the two backward products of the first
 * subnet layer) on device buffers, with the hand-written kernel and, when the
 * machine has it, cuBLAS, in the backend's precision.
 */
export function deviceGemmScenarios(be: CudaBackend, N: number): Scenario[] {
  const { I, H, O } = SUBNET;
  const C = PAPER.C;
  const rng = new Random(5);
  const buf = (st: Storage) => (st as unknown as { buffer: import('../lib/backend/index').DeviceBuffer }).buffer;
  const tf32 = be.precision === 'tf32';
  const kernels: [string, number][] = [[`tiled_${be.precision}`, tf32 ? 2 : 1]];
  if (be.cuda.cudaCublasAvailable()) kernels.push([`cublas_${be.precision}`, tf32 ? 4 : 3]);
  const out: Scenario[] = [];
  const s = (name: string, shapes: string, tA: boolean, tB: boolean, M: number, Nn: number, K: number, lda: number, ldb: number,
    ldc: number, aLen: number, bLen: number, bias: boolean, relu: boolean) => {
    const A = randomStorage(be, aLen, rng);
    const B = randomStorage(be, bLen, rng, 0.05);
    const Cm = be.persistent(() => be.alloc(M * ldc, 'float32', 0));
    const b = bias ? randomStorage(be, Nn, rng) : null;
    for (const [kernel, code] of kernels) {
      out.push(kernelScenario(be, `${name}_${kernel}`, shapes, N, 10, 2 * M * Nn * K, null,
        () => be.cuda.gemm(tA, tB, M, Nn, K, buf(A), lda, buf(B), ldb, 0, buf(Cm), ldc, b ? buf(b) : null, relu, be.stream, code)));
    }
  };
  s('gemm_subnet1_fwd', `${N}x${I} · (${H}x${I})^T +bias relu`, false, true, N, H, I, I, I, H, N * I, H * I, true, true);
  s('gemm_subnet2_fwd', `${N}x${H} · (${O}x${H})^T +bias`, false, true, N, O, H, H, H, O, N * H, O * H, true, false);
  s('gemm_rotation_fwd', `${N}x${C} · (${C}x${C})^T +bias`, false, true, N, C, C, C, C, C, N * C, C * C, true, false);
  s('gemm_subnet1_dX', `${N}x${H} · ${H}x${I}`, false, false, N, I, H, H, I, I, N * H, H * I, false, false);
  s('gemm_subnet1_dW', `(${N}x${H})^T · ${N}x${I}`, true, false, H, I, N, H, I, I, N * H, N * I, false, false);
  return out;
}

/** The fused memory-bound kernels at the scoring size, with the bytes each must move, and the copy they are measured against. */
export function deviceKernelScenarios(be: CudaBackend, N: number): Scenario[] {
  const { C, K, M } = PAPER;
  const C2 = Math.floor(C / 2);
  const rng = new Random(6);
  const cuda = be.cuda;
  const buf = (s: Storage) => (s as unknown as { buffer: import('../lib/backend/index').DeviceBuffer }).buffer;
  const x = randomStorage(be, N * C, rng);
  const a = randomStorage(be, N * 2 * C2, rng);
  const ld = randomStorage(be, N, rng);
  const y = randomStorage(be, N * C, rng);
  const ldOut = randomStorage(be, N, rng);
  const dx = randomStorage(be, N * C, rng);
  const da = randomStorage(be, N * 2 * C2, rng);
  const cent = randomStorage(be, K * M * C, rng);
  const lpi = be.persistent(() => be.alloc(K, 'float32', -Math.log(K)));
  const lpa = be.persistent(() => be.alloc(K * M, 'float32', -Math.log(M)));
  const labels = be.persistent(() => be.intFromHost(Int32Array.from({ length: N }, (_, i) => i % K)));
  const Y = be.persistent(() => be.fromHost(smoothedOneHot(Int32Array.from({ length: N }, (_, i) => i % K), K, 0.02, 'float32'), 'float32'));
  const t1 = randomStorage(be, N, rng);
  const t2 = randomStorage(be, N, rng);
  const t3 = randomStorage(be, N, rng);
  const t4 = randomStorage(be, N, rng);
  const t5 = randomStorage(be, N, rng);
  const dcent = randomStorage(be, K * M * C, rng);
  const dlpi = randomStorage(be, K, rng);
  const dlpa = randomStorage(be, K * M, rng);
  const nAdam = 8 * 1024 * 1024;
  const p = randomStorage(be, nAdam, rng);
  const g = randomStorage(be, nAdam, rng, 1e-3);
  const m1 = be.persistent(() => be.alloc(nAdam, 'float32', 0));
  const v1 = be.persistent(() => be.alloc(nAdam, 'float32', 0));
  const copyElems = 64 * 1024 * 1024;
  const src = be.persistent(() => be.alloc(copyElems, 'float32', 1));
  const dst = be.persistent(() => be.alloc(copyElems, 'float32', 0));
  const logdetConst = be.persistent(() => be.alloc(1, 'float32', 0));
  const f = 4;
  return [
    kernelScenario(be, 'copy_d2d', `${copyElems * 4 / 2 ** 20} MiB`, 1, 10, null, 2 * copyElems * f,
      () => cuda.cudaCopy(copyElems, buf(src), 0, buf(dst), 0, be.stream)),
    kernelScenario(be, 'kernel_coupling_fwd', `N=${N} C=${C}`, N, 10, null, f * (2 * N * C + 2 * N * C2 + 2 * N),
      () => cuda.couplingForward(N, C, buf(x), buf(a), PAPER.clamp, buf(ld), buf(logdetConst), buf(y), buf(ldOut), be.stream)),
    kernelScenario(be, 'kernel_coupling_bwd', `N=${N} C=${C}`, N, 10, null, f * (3 * N * C + 4 * N * C2 + N),
      () => cuda.couplingBackward(N, C, buf(x), buf(a), PAPER.clamp, buf(y), buf(ld), buf(dx), buf(da), be.stream)),
    kernelScenario(be, 'kernel_mixture_score', `N=${N} C=${C} K=${K} M=${M}`, N, 10, 3 * N * (K + M) * C, f * (N * C + 4 * N),
      () => be.mixtureHeadForward(N, C, K, M, x, ld, labels, null, cent, lpi, lpa, null, t2, null, null, t5)),
    kernelScenario(be, 'kernel_mixture_fwd_train', `N=${N} C=${C} K=${K} M=${M}`, N, 10, 3 * N * (K + M) * C, f * (N * C + N * K + 7 * N),
      () => be.mixtureHeadForward(N, C, K, M, x, ld, labels, Y, cent, lpi, lpa, t1, t2, t3, t4, t5)),
    kernelScenario(be, 'kernel_mixture_bwd', `N=${N} C=${C} K=${K} M=${M}`, N, 10, 6 * N * (K + M) * C, f * (2 * N * C + N * K + 4 * N),
      () => be.mixtureHeadBackward(N, C, K, M, x, ld, labels, Y, cent, lpi, lpa, 1, 1, -100, 1, 1, dx, t1, dcent, dlpi, dlpa)),
    kernelScenario(be, 'kernel_adam', `n=${nAdam}`, nAdam, 10, null, f * 7 * nAdam,
      () => be.adamStep(p, g, m1, v1, 1e-4, 0.95, 0.99, 1e-8, 1e-4, 1)),
  ];
}

export interface Tf32Error {
  n: number;
  logp_max_abs: number;
  logp_max_rel: number;
  neg_entropy_max_abs: number;
  loss_fp32: number;
  loss_tf32: number;
  loss_rel: number;
}

/** Scores and one training-step loss of the paper model in FP32 and in TF32 on the same inputs. */
export function tf32Error(fp32: CudaBackend, tf32: CudaBackend, N: number): Tf32Error {
  const run = (be: CudaBackend) => {
    const m = paperModel(N, 0, be);
    const classes = be.intFromHost(new Int32Array(N).fill(3));
    const scores = noGrad(() => {
      const { z, logdet } = m.flow.forward(m.x, m.cond);
      return m.mixture.score(z, logdet, classes);
    });
    const labels = Int32Array.from({ length: N }, (_, i) => i % PAPER.K);
    const { z, logdet } = m.flow.forward(m.x, m.cond);
    const { loss } = m.mixture.loss(z, logdet, be.intFromHost(labels), be.fromHost(smoothedOneHot(labels, PAPER.K, 0.02, 'float32'), 'float32'), 2,
      { lambda1: 1, lambda2: 100 });
    backward(loss);
    return { scores, loss: be.readScalar(loss.storage) };
  };
  const inArena = (be: CudaBackend) => {
    const { result, arena } = be.arena(() => run(be));
    be.synchronize();
    arena.dispose();
    return result;
  };
  const a = inArena(fp32);
  const b = inArena(tf32);
  let la = 0;
  let lr = 0;
  let ea = 0;
  for (let i = 0; i < N; ++i) {
    const d = Math.abs(a.scores.logp[i] - b.scores.logp[i]);
    la = Math.max(la, d);
    lr = Math.max(lr, d / Math.max(1e-6, Math.abs(a.scores.logp[i])));
    ea = Math.max(ea, Math.abs(a.scores.negEntropy[i] - b.scores.negEntropy[i]));
  }
  return {
    n: N,
    logp_max_abs: la,
    logp_max_rel: lr,
    neg_entropy_max_abs: ea,
    loss_fp32: a.loss,
    loss_tf32: b.loss,
    loss_rel: Math.abs(a.loss - b.loss) / Math.max(1e-12, Math.abs(a.loss)),
  };
}
