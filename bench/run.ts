// hgad benchmark harness: GEMM shapes of the flow and the paper-sized model
// scenarios (flow forward, scoring, one training step), median of repeated
// runs after a warm-up.
//
//   npm run bench -- [--json FILE] [--quick] [--device cpu|cuda] [--precision fp32|tf32]
//                    [--only a,b] [--runs R] [--warmup W] [--threads T]
//
// With --device cuda every scenario runs device-resident (inputs uploaded
// once, each run ends with a stream synchronize so the time includes the
// work), at the GPU sizes (scoring N=262144, training step N=65536), plus
// score_paper_host (host arrays in, scores out: the HgadModel scoring path
// with its pipelined transfers), the fused kernels' achieved GB/s against a
// measured device-to-device copy, and the TF32-against-FP32 error.
import * as fs from 'fs';
import { native } from '../lib/binding';
import { cpu } from '../lib/backend/cpu';
import { Backend } from '../lib/backend/types';
import { CudaBackend } from '../lib/backend/cuda';
import { devices } from '../lib/devices';
import { deviceGemmScenarios, deviceKernelScenarios, tf32Error, Tf32Error } from './cuda_bench';
import { cudaBackends, gemmScenarios, modelScenario, modelSizes, Scenario } from './scenarios';
import { fitSourcePaperScenario } from './fit_source';
import { BenchRecord, benchChoice, collectGarbage, fmt, formatTable, machineContext, measure, toRecord } from './timing';

interface Args {
  json: string | null;
  quick: boolean;
  device: 'cpu' | 'cuda';
  precision: 'fp32' | 'tf32';
  only: string[] | null;
  runs: number | null;
  warmup: number | null;
  threads: number | null;
}

const USAGE = 'usage: node dist/bench/run.js [--json FILE] [--quick] [--device cpu|cuda] [--precision fp32|tf32] [--only s1,s2] [--runs R] [--warmup W] [--threads T]';

function parseArgs(argv: string[]): Args {
  const a: Args = { json: null, quick: false, device: 'cpu', precision: 'fp32', only: null, runs: null, warmup: null, threads: null };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    const int = () => {
      const v = val();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
      return n;
    };
    if (k === '--json') a.json = val();
    else if (k === '--quick') a.quick = true;
    else if (k === '--device') a.device = benchChoice(k, val(), ['cpu', 'cuda'] as const);
    else if (k === '--precision') a.precision = benchChoice(k, val(), ['fp32', 'tf32'] as const);
    else if (k === '--only') a.only = val().split(',').filter(Boolean);
    else if (k === '--runs') a.runs = int();
    else if (k === '--warmup') a.warmup = Number(val());
    else if (k === '--threads') a.threads = int();
    else if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${k}\n${USAGE}`);
  }
  if (a.warmup !== null && !(Number.isInteger(a.warmup) && a.warmup >= 0)) throw new Error(`--warmup must be an integer >= 0, got ${a.warmup}`);
  return a;
}


function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const cuda = args.device === 'cuda' ? cudaBackends() : null;
  if (args.threads !== null) native.setThreadCount(args.threads);
  const quick = args.quick;
  const be: Backend = cuda ? cuda[args.precision] : cpu;
  const sizes = modelSizes(quick, be.device);
  const warmup = args.warmup ?? (quick ? 1 : 2);
  const gemmRuns = args.runs ?? (quick ? 3 : 11);
  const modelRuns = args.runs ?? (quick ? 3 : 7);

  const ctx = machineContext();
  console.log(`hgad benchmark${quick ? ' (QUICK mode: reduced sizes and repetitions, for smoke tests only — not representative)' : ''}`);
  if (cuda) {
    const gpu = devices().devices[0];
    console.log(`device: ${be.label}${cuda.emulated ? ' (EMULATED on the CPU: times are not GPU times)' : ''}  precision: ${args.precision}  ` +
      `${gpu ? `${gpu.totalMemory / 2 ** 30 | 0} GiB, sm_${gpu.computeCapability.replace('.', '')}, ${gpu.multiprocessors} SMs` : ''}  node ${ctx.node}`);
  } else {
    console.log(`device: cpu  threads: ${ctx.threads}  gemm kernel: ${ctx.gemm_kernel}  CPU: ${ctx.cpu} (${ctx.cores} logical cores)  node ${ctx.node}`);
  }
  console.log(`warm-up ${warmup}, median of ${gemmRuns} (GEMM, kernels) / ${modelRuns} (model) runs; float32${args.precision === 'tf32' ? ' with TF32 GEMMs' : ''}\n`);

  const builders: [string, () => Scenario[], number][] = cuda
    ? [
      ['gemm', () => deviceGemmScenarios(be as CudaBackend, sizes.gemm), gemmRuns],
      ['kernels', () => deviceKernelScenarios(be as CudaBackend, sizes.score_paper), gemmRuns],
      ['flow_forward_paper', () => [modelScenario('flow_forward_paper', quick, be)], modelRuns],
      ['score_paper', () => [modelScenario('score_paper', quick, be)], modelRuns],
      ['score_paper_host', () => [modelScenario('score_paper_host', quick, be)], modelRuns],
      ['train_step_paper', () => [modelScenario('train_step_paper', quick, be)], modelRuns],
      ['fit_source_paper', () => [fitSourcePaperScenario(quick, be)], modelRuns],
    ]
    : [
      ['gemm', () => gemmScenarios(sizes.gemm), gemmRuns],
      ['flow_forward_paper', () => [modelScenario('flow_forward_paper', quick)], modelRuns],
      ['score_paper', () => [modelScenario('score_paper', quick)], modelRuns],
      ['score_paper_host', () => [modelScenario('score_paper_host', quick)], modelRuns],
      ['train_step_paper', () => [modelScenario('train_step_paper', quick)], modelRuns],
      ['fit_source_paper', () => [fitSourcePaperScenario(quick)], modelRuns],
    ];
  const records: BenchRecord[] = [];
  const header = ['scenario', 'shapes', 'median_s', 'min_s', 'vectors/s', 'GFLOP/s', 'GB/s', '% copy'];
  for (const [group, build, runs] of builders) {
    if (args.only && !args.only.some((o) => group === o || group.startsWith(o) || o.startsWith(group.replace(/s$/, '')))) continue;
    const scenarios = build().filter((s) => !args.only || args.only.some((o) => s.name === o || s.name.startsWith(o) || group === o));
    for (const s of scenarios) {
      const times = measure(s, warmup, runs);
      const rec = toRecord(s, be.label, times);
      if (s.bytes !== undefined) rec.gbps = s.bytes / rec.median_s / 1e9;
      if (cuda) rec.precision = args.precision;
      if (quick) rec.quick = true;
      records.push(rec);
      console.log(`  ${rec.scenario}: median ${fmt(rec.median_s)} s (${runs} runs)`);
    }
    collectGarbage();
  }
  const copy = records.find((r) => r.scenario === 'copy_d2d')?.gbps as number | undefined;
  for (const r of records) if (copy && typeof r.gbps === 'number' && r.scenario !== 'copy_d2d') r.pct_of_copy = (100 * r.gbps) / copy;
  const cell = (v: unknown, d = 3) => (typeof v === 'number' ? fmt(v, d) : '-');
  console.log('\n' + formatTable(header, records.map((r) => [r.scenario, r.shapes, fmt(r.median_s), fmt(r.min_s), fmt(r.vectors_per_s),
    fmt(r.gflops, 3), cell(r.gbps), cell(r.pct_of_copy)])));
  let tf32: Tf32Error | null = null;
  if (cuda && (!args.only || args.only.includes('tf32_error'))) {
    tf32 = tf32Error(cuda.fp32, cuda.tf32, quick ? 4096 : 65536);
    console.log(`\nTF32 against FP32 (paper model, N=${tf32.n}): logp max |err| ${tf32.logp_max_abs.toExponential(2)} ` +
      `(max relative ${tf32.logp_max_rel.toExponential(2)}), neg-entropy max |err| ${tf32.neg_entropy_max_abs.toExponential(2)}, ` +
      `training loss ${tf32.loss_fp32.toPrecision(7)} vs ${tf32.loss_tf32.toPrecision(7)} (relative ${tf32.loss_rel.toExponential(2)})`);
  }
  if (quick) console.log('(QUICK mode: reduced sizes and repetitions)');
  if (args.json) {
    const out = cuda ? { device: be.label, precision: args.precision, emulated: cuda.emulated, records, tf32_error: tf32 } : records;
    fs.writeFileSync(args.json, JSON.stringify(out, null, 2) + '\n');
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
