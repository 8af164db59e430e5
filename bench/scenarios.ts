// Benchmark scenarios: GEMM shapes of the flow and the paper-sized model
// (flow forward, scoring, one training step), each a prepared body to time.
// Shared by bench/run.ts, bench/compare.ts and bench/cuda_bench.ts.
import { native } from '../lib/backend/index';
import { backward, noGrad } from '../lib/autograd/tape';
import { cpu } from '../lib/backend/cpu';
import { Backend } from '../lib/backend/types';
import { Flow } from '../lib/nn/flow';
import { GaussianMixture, smoothedOneHot } from '../lib/nn/heads';
import { Adam } from '../lib/optim/adam';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { HgadModel } from '../lib/hgad/model';
import { CudaBackend } from '../lib/backend/cuda';
import { selectBackend } from '../lib/backend/index';

/** The paper configuration (MVTec-AD unified setting, one feature level). */
export const PAPER = { C: 200, P: 256, couplings: 12, clamp: 1.9, K: 15, M: 10 } as const;
/** Subnet widths of the paper configuration: in = ceil(C/2) + P, hidden = 2 in, out = 2 floor(C/2). */
export const SUBNET = { I: Math.ceil(PAPER.C / 2) + PAPER.P, H: 2 * (Math.ceil(PAPER.C / 2) + PAPER.P), O: 2 * Math.floor(PAPER.C / 2) };

export interface Scenario {
  name: string;
  shapes: string;
  /** vectors processed per run (vectors_per_s = n / median) */
  n: number;
  /** floating-point operations counted per run (GEMMs only), or null */
  flops: number | null;
  /** bytes a memory-bound kernel must move per run (read + write), when reported */
  bytes?: number;
  /** the product a GEMM scenario computes, for timing the same one elsewhere (OpenBLAS) */
  gemm?: { transA: boolean; transB: boolean; M: number; N: number; K: number };
  run(): void;
}

/**
 * Runs one unit of work on a backend: on a device inside an arena (its
 * intermediates freed after) and waiting for the stream, so that a timing
 * includes the device work.
 */
export function onBackend<T>(be: Backend, fn: () => T): T {
  const { result, arena } = be.arena(fn);
  be.synchronize();
  arena.dispose();
  return result;
}

function randomArray(n: number, rng: Random, kind: 'normal' | 'uniform' = 'normal', scale = 1): Float32Array {
  const a = native.alloc(n, 'float32');
  if (kind === 'normal') for (let i = 0; i < n; ++i) a[i] = scale * rng.normal();
  else for (let i = 0; i < n; ++i) a[i] = scale * (2 * rng.uniform() - 1);
  return a;
}

/** GEMM flops of one flow forward: per block 2N (I·H + H·O + C·C). */
function flowForwardFlops(N: number, couplings: number = PAPER.couplings): number {
  const { I, H, O } = SUBNET;
  return couplings * 2 * N * (I * H + H * O + PAPER.C * PAPER.C);
}

/**
 * GEMM flops of one training step: forward, then per block the backward products
 * dW1, dW2, dX2, the rotation's dWf and dv, and dX1 except in the first block
 * (its subnet input, x and the condition, needs no gradient).
 */
export function trainStepFlops(N: number, couplings: number = PAPER.couplings): number {
  const { I, H, O } = SUBNET;
  const C = PAPER.C;
  const perBlockBackward = 2 * N * (I * H + H * O + O * H + 2 * C * C);
  const dX1 = 2 * N * H * I;
  return flowForwardFlops(N, couplings) + couplings * perBlockBackward + (couplings - 1) * dX1;
}

// ---------------------------------------------------------------------------
// scenarios

function gemmScenario(name: string, shapes: string, transA: boolean, transB: boolean, M: number, Nn: number, K: number,
  lda: number, ldb: number, ldc: number, aLen: number, bLen: number, bias: boolean, relu: boolean, vectors: number): Scenario {
  const rng = new Random(7);
  const A = randomArray(aLen, rng);
  const B = randomArray(bLen, rng, 'uniform', 0.05);
  const Cm = native.alloc(M * ldc, 'float32', 0);
  const b = bias ? randomArray(Nn, rng, 'uniform', 0.05) : null;
  return {
    name,
    shapes,
    n: vectors,
    flops: 2 * M * Nn * K,
    gemm: { transA, transB, M, N: Nn, K },
    run: () => native.gemm(transA, transB, M, Nn, K, A, lda, B, ldb, 0, Cm, ldc, b, relu),
  };
}

/** The GEMMs of one coupling block at N vectors, as lib/autograd/ops.ts issues them. */
export function gemmScenarios(N: number): Scenario[] {
  const { I, H, O } = SUBNET;
  const C = PAPER.C;
  return [
    // linear(h0, w1, b1, relu): (N x I) · (H x I)^T
    gemmScenario('gemm_subnet1_fwd', `${N}x${I} · (${H}x${I})^T +bias relu`, false, true, N, H, I, I, I, H, N * I, H * I, true, true, N),
    // linear(h1, w2, b2): (N x H) · (O x H)^T
    gemmScenario('gemm_subnet2_fwd', `${N}x${H} · (${O}x${H})^T +bias`, false, true, N, O, H, H, H, O, N * H, O * H, true, false, N),
    // affineRotate: (N x C) · (C x C)^T
    gemmScenario('gemm_rotation_fwd', `${N}x${C} · (${C}x${C})^T +bias`, false, true, N, C, C, C, C, C, N * C, C * C, true, false, N),
    // linear backward dx of layer 1: dY (N x H) · W1 (H x I)
    gemmScenario('gemm_subnet1_dX', `${N}x${H} · ${H}x${I}`, false, false, N, I, H, H, I, I, N * H, H * I, false, false, N),
    // linear backward dW of layer 1: dY^T (H x N) · h0 (N x I)
    gemmScenario('gemm_subnet1_dW', `(${N}x${H})^T · ${N}x${I}`, true, false, H, I, N, H, I, I, N * H, N * I, false, false, N),
    // linear backward dx of layer 2: dY (N x O) · W2 (O x H)
    gemmScenario('gemm_subnet2_dX', `${N}x${O} · ${O}x${H}`, false, false, N, H, O, O, H, H, N * O, O * H, false, false, N),
    // linear backward dW of layer 2: dY^T (O x N) · h1 (N x H)
    gemmScenario('gemm_subnet2_dW', `(${N}x${O})^T · ${N}x${H}`, true, false, O, H, N, O, H, H, N * O, N * H, false, false, N),
  ];
}

interface PaperModel {
  flow: Flow;
  mixture: GaussianMixture;
  x: Tensor;
  cond: Tensor;
}

/** A paper-sized flow + mixture (fixed seeds) and N input vectors with their condition. */
export function paperModel(N: number, seed = 0, be: Backend = cpu): PaperModel {
  const flow = Flow.create({ channels: PAPER.C, condChannels: PAPER.P, couplings: PAPER.couplings, clamp: PAPER.clamp }, seed);
  const mixture = GaussianMixture.create({ channels: PAPER.C, classes: PAPER.K, intraCentres: PAPER.M }, new Random(seed + 1));
  const rng = new Random(seed + 2);
  const x = new Tensor(randomArray(N * PAPER.C, rng), [N, PAPER.C]);
  // the condition is a sine/cosine positional encoding in the reference: values in [-1, 1]
  const cond = new Tensor(randomArray(N * PAPER.P, rng, 'uniform'), [N, PAPER.P]);
  if (be === cpu) return { flow, mixture, x, cond };
  return be.persistent(() => ({ flow: flow.onBackend(be), mixture: mixture.onBackend(be), x: x.to(be), cond: cond.to(be) }));
}

function flowForwardScenario(N: number, be: Backend = cpu): Scenario {
  const m = paperModel(N, 0, be);
  let sink: unknown;
  return {
    name: 'flow_forward_paper',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings}`,
    n: N,
    flops: flowForwardFlops(N),
    run: () => {
      sink = onBackend(be, () => noGrad(() => m.flow.forward(m.x, m.cond)));
      void sink;
    },
  };
}

function scoreScenario(N: number, classId = 3, be: Backend = cpu): Scenario {
  const m = paperModel(N, 0, be);
  const classes = be.persistent(() => be.intFromHost(new Int32Array(N).fill(classId)));
  let sink: unknown;
  return {
    name: 'score_paper',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M} class=${classId}`,
    n: N,
    flops: flowForwardFlops(N),
    run: () => {
      sink = onBackend(be, () => noGrad(() => {
        const { z, logdet } = m.flow.forward(m.x, m.cond);
        return m.mixture.scoreStorage(z, logdet, classes);
      }));
      void sink;
    },
  };
}

/** The paper configuration as an HgadModel (one level). */
function paperHgadModel(be: Backend = cpu): HgadModel {
  const config = {
    levels: [{ channels: PAPER.C, condChannels: PAPER.P }],
    classNames: Array.from({ length: PAPER.K }, (_, k) => `class${k}`),
    couplings: PAPER.couplings,
    clamp: PAPER.clamp,
    intraCentres: PAPER.M,
  };
  return HgadModel.create(config, 0).to(be);
}

/** End-to-end scoring from host arrays to host scores (input checks, transfers, pipelining), as HgadModel.scoreSync. */
function scoreHostScenario(N: number, classId = 3, be: Backend = cpu): Scenario {
  const model = paperHgadModel(be);
  const rng = new Random(2);
  const features = randomArray(N * PAPER.C, rng);
  const cond = randomArray(N * PAPER.P, rng, 'uniform');
  const classes = new Int32Array(N).fill(classId);
  let sink: unknown;
  return {
    name: 'score_paper_host',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M} host in/out`,
    n: N,
    flops: flowForwardFlops(N),
    run: () => {
      sink = model.scoreSync([{ features, cond }], classes);
      void sink;
    },
  };
}

/** The reference's Adam groups, lr 1e-3 (centres 3x). */
function paperOptimizer(flow: Flow, mixture: GaussianMixture, lr = 1e-3): Adam {
  return new Adam([
    { name: 'flow', params: flow.parameters(), lr, betas: [0.95, 0.99], weightDecay: 1e-4 },
    { name: 'centres', params: [mixture.mu, mixture.muDelta], lr: 3 * lr, betas: [0.95, 0.99], weightDecay: 0 },
    { name: 'weights', params: [mixture.phiIntra, mixture.phiInter], lr, betas: [0.95, 0.99], weightDecay: 0 },
  ]);
}

function trainStepScenario(N: number, be: Backend = cpu): Scenario {
  const m = paperModel(N, 0, be);
  const rng = new Random(11);
  const hostLabels = new Int32Array(N);
  for (let i = 0; i < N; ++i) hostLabels[i] = Math.floor(rng.uniform() * PAPER.K);
  const labels = be.persistent(() => be.intFromHost(hostLabels));
  const Y = be.persistent(() => be.fromHost(smoothedOneHot(hostLabels, PAPER.K, 0.02, 'float32'), 'float32'));
  const opt = be.persistent(() => paperOptimizer(m.flow, m.mixture));
  const params: Tensor[] = [...m.flow.parameters(), ...m.mixture.parameters()];
  let last = 0;
  return {
    name: 'train_step_paper',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M} stage 2`,
    n: N,
    flops: trainStepFlops(N),
    run: () => {
      last = onBackend(be, () => {
        const { z, logdet } = m.flow.forward(m.x, m.cond);
        const { loss } = m.mixture.loss(z, logdet, labels, Y, 2, { lambda1: 1, lambda2: 100 });
        backward(loss);
        opt.step();
        for (const p of params) p.grad = null;
        return be.readScalar(loss.storage);
      });
      if (!Number.isFinite(last)) throw new Error(`train_step_paper: the loss became ${last}`);
    },
  };
}

const MODEL_SIZES = {
  full: { flow_forward_paper: 16384, score_paper: 16384, score_paper_host: 16384, train_step_paper: 8192, gemm: 16384 },
  quick: { flow_forward_paper: 2048, score_paper: 2048, score_paper_host: 2048, train_step_paper: 1024, gemm: 2048 },
  cuda: { flow_forward_paper: 262144, score_paper: 262144, score_paper_host: 262144, train_step_paper: 65536, gemm: 65536 },
  cudaQuick: { flow_forward_paper: 65536, score_paper: 65536, score_paper_host: 65536, train_step_paper: 16384, gemm: 16384 },
};

export function modelSizes(quick: boolean, device: 'cpu' | 'cuda' = 'cpu') {
  if (device === 'cuda') return quick ? MODEL_SIZES.cudaQuick : MODEL_SIZES.cuda;
  return quick ? MODEL_SIZES.quick : MODEL_SIZES.full;
}

export function modelScenario(name: string, quick: boolean, be: Backend = cpu, n?: number): Scenario {
  const sizes = modelSizes(quick, be.device);
  switch (name) {
    case 'flow_forward_paper': return flowForwardScenario(n ?? sizes.flow_forward_paper, be);
    case 'score_paper': return scoreScenario(n ?? sizes.score_paper, 3, be);
    case 'score_paper_host': return scoreHostScenario(n ?? sizes.score_paper_host, 3, be);
    case 'train_step_paper': return trainStepScenario(n ?? sizes.train_step_paper, be);
    default: throw new RangeError(`unknown model scenario ${name}`);
  }
}

/**
 * The CUDA backends for --device cuda (FP32 and TF32), or exit code 2 with
 * the reason when CUDA cannot be used. HGAD_BENCH_EMULATE=1 runs the device
 * path over the emulated CUDA surface of the tests (no GPU; times meaningless).
 */
export function cudaBackends(): { fp32: CudaBackend; tf32: CudaBackend; emulated: boolean } {
  if (process.env.HGAD_BENCH_EMULATE === '1') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { emulatedCuda } = require('../test/helpers/emulated_cuda') as typeof import('../test/helpers/emulated_cuda');
    const addon = emulatedCuda();
    return { fp32: new CudaBackend(addon, 'cuda:emulated', { precision: 'fp32' }), tf32: new CudaBackend(addon, 'cuda:emulated', { precision: 'tf32' }), emulated: true };
  }
  try {
    return { fp32: selectBackend('cuda', { precision: 'fp32' }) as CudaBackend, tf32: selectBackend('cuda', { precision: 'tf32' }) as CudaBackend, emulated: false };
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
}
