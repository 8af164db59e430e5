// hgad benchmark harness: GEMM shapes of the flow and the paper-sized model
// scenarios (flow forward, scoring, one training step), median of repeated
// runs after a warm-up.
//
//   npm run bench -- [--json FILE] [--quick] [--device cpu|cuda] [--only a,b]
//                    [--runs R] [--warmup W] [--threads T]
//
// The scenario builders are exported for bench/compare.ts.
import * as fs from 'fs';
import * as os from 'os';
import * as v8 from 'v8';
import * as vm from 'vm';
import { native } from '../lib/binding';
import { backward, noGrad } from '../lib/autograd/tape';
import { Flow } from '../lib/nn/flow';
import { GaussianMixture, smoothedOneHot } from '../lib/nn/mixture';
import { Adam } from '../lib/optim/adam';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';

/** The paper configuration (MVTec-AD unified setting, one feature level). */
export const PAPER = { C: 200, P: 256, couplings: 12, clamp: 1.9, K: 15, M: 10 } as const;
/** Subnet widths of the paper configuration: in = ceil(C/2) + P, hidden = 2 in, out = 2 floor(C/2). */
export const SUBNET = { I: Math.ceil(PAPER.C / 2) + PAPER.P, H: 2 * (Math.ceil(PAPER.C / 2) + PAPER.P), O: 2 * Math.floor(PAPER.C / 2) };

export interface BenchRecord {
  scenario: string;
  device: string;
  shapes: string;
  median_s: number;
  vectors_per_s: number;
  gflops: number | null;
  flops?: number;
  runs?: number;
  min_s?: number;
  max_s?: number;
  threads?: number;
  gemm_kernel?: string;
  [extra: string]: unknown;
}

/** One prepared benchmark: `run()` is the timed body; everything else is set up beforehand. */
export interface Scenario {
  name: string;
  shapes: string;
  /** vectors processed per run (vectors_per_s = n / median) */
  n: number;
  /** floating-point operations counted per run (GEMMs only), or null */
  flops: number | null;
  run(): void;
}

// ---------------------------------------------------------------------------
// helpers

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : 0.5 * (s[h - 1] + s[h]);
}

let gcFn: (() => void) | null | undefined;
/** A full garbage collection (outside the timed region) so that finalizers free native buffers between runs. */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  if (gcFn) gcFn();
}

function randomArray(n: number, rng: Random, kind: 'normal' | 'uniform' = 'normal', scale = 1): Float32Array {
  const a = native.alloc(n, 'float32');
  if (kind === 'normal') for (let i = 0; i < n; ++i) a[i] = scale * rng.normal();
  else for (let i = 0; i < n; ++i) a[i] = scale * (2 * rng.uniform() - 1);
  return a;
}

/** GEMM flops of one flow forward: per block 2N (I·H + H·O + C·C). */
export function flowForwardFlops(N: number, couplings: number = PAPER.couplings): number {
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
  ];
}

export interface PaperModel {
  flow: Flow;
  mixture: GaussianMixture;
  x: Tensor;
  cond: Tensor;
}

/** A paper-sized flow + mixture (fixed seeds) and N input vectors with their condition. */
export function paperModel(N: number, seed = 0): PaperModel {
  const flow = Flow.create({ channels: PAPER.C, condChannels: PAPER.P, couplings: PAPER.couplings, clamp: PAPER.clamp }, seed);
  const mixture = GaussianMixture.create({ channels: PAPER.C, classes: PAPER.K, intraCentres: PAPER.M }, new Random(seed + 1));
  const rng = new Random(seed + 2);
  const x = new Tensor(randomArray(N * PAPER.C, rng), [N, PAPER.C]);
  // the condition is a sine/cosine positional encoding in the reference: values in [-1, 1]
  const cond = new Tensor(randomArray(N * PAPER.P, rng, 'uniform'), [N, PAPER.P]);
  return { flow, mixture, x, cond };
}

export function flowForwardScenario(N: number): Scenario {
  const m = paperModel(N);
  let sink: unknown;
  return {
    name: 'flow_forward_paper',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings}`,
    n: N,
    flops: flowForwardFlops(N),
    run: () => {
      sink = noGrad(() => m.flow.forward(m.x, m.cond));
      void sink;
    },
  };
}

export function scoreScenario(N: number, classId = 3): Scenario {
  const m = paperModel(N);
  const classes = new Int32Array(N).fill(classId);
  let sink: unknown;
  return {
    name: 'score_paper',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M} class=${classId}`,
    n: N,
    flops: flowForwardFlops(N),
    run: () => {
      sink = noGrad(() => {
        const { z, logdet } = m.flow.forward(m.x, m.cond);
        return m.mixture.score(z, logdet, classes);
      });
      void sink;
    },
  };
}

/** The reference's Adam groups, lr 1e-3 (centres 3x). */
export function paperOptimizer(flow: Flow, mixture: GaussianMixture, lr = 1e-3): Adam {
  return new Adam([
    { name: 'flow', params: flow.parameters(), lr, betas: [0.95, 0.99], weightDecay: 1e-4 },
    { name: 'centres', params: [mixture.mu, mixture.muDelta], lr: 3 * lr, betas: [0.95, 0.99], weightDecay: 0 },
    { name: 'weights', params: [mixture.phiIntra, mixture.phiInter], lr, betas: [0.95, 0.99], weightDecay: 0 },
  ]);
}

export function trainStepScenario(N: number): Scenario {
  const m = paperModel(N);
  const rng = new Random(11);
  const labels = new Int32Array(N);
  for (let i = 0; i < N; ++i) labels[i] = Math.floor(rng.uniform() * PAPER.K);
  const Y = smoothedOneHot(labels, PAPER.K, 0.02, 'float32');
  const opt = paperOptimizer(m.flow, m.mixture);
  const params: Tensor[] = [...m.flow.parameters(), ...m.mixture.parameters()];
  let last = 0;
  return {
    name: 'train_step_paper',
    shapes: `N=${N} C=${PAPER.C} P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M} stage 2`,
    n: N,
    flops: trainStepFlops(N),
    run: () => {
      for (const p of params) p.grad = null;
      const { z, logdet } = m.flow.forward(m.x, m.cond);
      const { loss } = m.mixture.loss(z, logdet, labels, Y, 2, { lambda1: 1, lambda2: 100 });
      backward(loss);
      opt.step();
      last = loss.data[0];
      if (!Number.isFinite(last)) throw new Error(`train_step_paper: the loss became ${last}`);
    },
  };
}

export const MODEL_SIZES = {
  full: { flow_forward_paper: 16384, score_paper: 16384, train_step_paper: 8192, gemm: 16384 },
  quick: { flow_forward_paper: 2048, score_paper: 2048, train_step_paper: 1024, gemm: 2048 },
};

export function modelScenario(name: string, quick: boolean): Scenario {
  const sizes = quick ? MODEL_SIZES.quick : MODEL_SIZES.full;
  switch (name) {
    case 'flow_forward_paper': return flowForwardScenario(sizes.flow_forward_paper);
    case 'score_paper': return scoreScenario(sizes.score_paper);
    case 'train_step_paper': return trainStepScenario(sizes.train_step_paper);
    default: throw new RangeError(`unknown model scenario ${name}`);
  }
}

export function hrSeconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Warm-up runs, then `runs` timed runs (a GC before each, untimed). */
export function measure(s: Scenario, warmup: number, runs: number): number[] {
  for (let i = 0; i < warmup; ++i) s.run();
  const times: number[] = [];
  for (let i = 0; i < runs; ++i) {
    collectGarbage();
    times.push(hrSeconds(() => s.run()));
  }
  return times;
}

export function toRecord(s: Scenario, device: string, times: number[]): BenchRecord {
  const med = median(times);
  return {
    scenario: s.name,
    device,
    shapes: s.shapes,
    median_s: med,
    vectors_per_s: s.n / med,
    gflops: s.flops === null ? null : s.flops / med / 1e9,
    flops: s.flops ?? undefined,
    runs: times.length,
    min_s: Math.min(...times),
    max_s: Math.max(...times),
    threads: native.threadCount(),
    gemm_kernel: native.buildInfo().gemmKernel,
  };
}

export function machineContext(): Record<string, unknown> {
  const info = native.buildInfo();
  return {
    threads: native.threadCount(),
    gemm_kernel: info.gemmKernel,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    cuda_compiled: info.cudaCompiled,
  };
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1000) return Math.round(x).toString();
  return x.toPrecision(digits);
}

// ---------------------------------------------------------------------------
// CLI

interface Args {
  json: string | null;
  quick: boolean;
  device: string;
  only: string[] | null;
  runs: number | null;
  warmup: number | null;
  threads: number | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { json: null, quick: false, device: 'cpu', only: null, runs: null, warmup: null, threads: null };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--json') a.json = val();
    else if (k === '--quick') a.quick = true;
    else if (k === '--device') a.device = val();
    else if (k === '--only') a.only = val().split(',').filter(Boolean);
    else if (k === '--runs') a.runs = parseInt(val(), 10);
    else if (k === '--warmup') a.warmup = parseInt(val(), 10);
    else if (k === '--threads') a.threads = parseInt(val(), 10);
    else if (k === '--help' || k === '-h') {
      console.log('usage: node dist/bench/run.js [--json FILE] [--quick] [--device cpu|cuda] [--only s1,s2] [--runs R] [--warmup W] [--threads T]');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (a.device !== 'cpu' && a.device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${a.device}`);
  return a;
}

/** Exits with code 2 when CUDA was asked for and cannot be used. */
export function requireDevice(device: string): void {
  if (device !== 'cuda') return;
  const info = native.buildInfo();
  let reason: string | null = null;
  if (!info.cudaCompiled) reason = 'the native addon was built without CUDA (buildInfo().cudaCompiled is false)';
  else {
    const d = native.cudaDevices();
    if (d.devices.length === 0) reason = `no CUDA device found${d.error ? ` (${d.error})` : ''}`;
    else reason = `${d.devices.length} device(s) present (${d.devices.map((x) => x.name).join(', ')}), but hgad has no CUDA backend for these scenarios yet`;
  }
  console.error(`CUDA not available: ${reason}`);
  process.exit(2);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  requireDevice(args.device);
  if (args.threads !== null) native.setThreadCount(args.threads);
  const quick = args.quick;
  const sizes = quick ? MODEL_SIZES.quick : MODEL_SIZES.full;
  const warmup = args.warmup ?? (quick ? 1 : 2);
  const gemmRuns = args.runs ?? (quick ? 3 : 11);
  const modelRuns = args.runs ?? (quick ? 3 : 7);

  const ctx = machineContext();
  console.log(`hgad benchmark${quick ? ' (QUICK mode: reduced sizes and repetitions, for smoke tests only — not representative)' : ''}`);
  console.log(`device: ${args.device}  threads: ${ctx.threads}  gemm kernel: ${ctx.gemm_kernel}  CPU: ${ctx.cpu} (${ctx.cores} logical cores)  node ${ctx.node}`);
  console.log(`warm-up ${warmup}, median of ${gemmRuns} (GEMM) / ${modelRuns} (model) runs; float32\n`);

  const builders: [string, () => Scenario[], number][] = [
    ['gemm', () => gemmScenarios(sizes.gemm), gemmRuns],
    ['flow_forward_paper', () => [modelScenario('flow_forward_paper', quick)], modelRuns],
    ['score_paper', () => [modelScenario('score_paper', quick)], modelRuns],
    ['train_step_paper', () => [modelScenario('train_step_paper', quick)], modelRuns],
  ];
  const records: BenchRecord[] = [];
  const header = ['scenario', 'shapes', 'median_s', 'min_s', 'vectors/s', 'GFLOP/s'];
  for (const [group, build, runs] of builders) {
    const scenarios = build().filter((s) => !args.only || args.only.some((o) => s.name === o || s.name.startsWith(o) || group === o));
    for (const s of scenarios) {
      const times = measure(s, warmup, runs);
      const rec = toRecord(s, args.device, times);
      if (quick) rec.quick = true;
      records.push(rec);
      console.log(`  ${rec.scenario}: median ${fmt(rec.median_s)} s (${runs} runs)`);
    }
    collectGarbage();
  }
  console.log('\n' + formatTable(header, records.map((r) => [r.scenario, r.shapes, fmt(r.median_s), fmt(r.min_s), fmt(r.vectors_per_s), fmt(r.gflops, 3)])));
  if (quick) console.log('(QUICK mode: reduced sizes and repetitions)');
  if (args.json) {
    fs.writeFileSync(args.json, JSON.stringify(records, null, 2) + '\n');
    console.log(`wrote ${records.length} records to ${args.json}`);
  }
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
