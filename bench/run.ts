// hgad benchmark harness: GEMM shapes of the flow and the paper-sized model
// scenarios (flow forward, scoring, one training step), median of repeated
// runs after a warm-up.
//
//   npm run bench -- [--json FILE] [--quick] [--device cpu|cuda] [--precision fp32|tf32]
//                    [--only a,b] [--runs R] [--warmup W] [--threads T]
//                    [--kernels avx512,avx2|all] [--no-openblas]
//
// On the CPU, every GEMM row is timed beside OpenBLAS's sgemm on the same
// shape, interleaved run by run (bench/openblas.ts: its own core for this CPU,
// and its Haswell core forced), and --kernels times each scenario on several
// forced hgad GEMM kernels, interleaved the same way (default: the kernel in
// force, HGAD_CPU_KERNEL or the best this CPU runs).
//
// With --device cuda every scenario runs device-resident (inputs uploaded
// once, each run ends with a stream synchronize so the time includes the
// work), at the GPU sizes (scoring N=262144, training step N=65536), plus
// score_paper_host (host arrays in, scores out: the HgadModel scoring path
// with its pipelined transfers), the fused kernels' achieved GB/s against a
// measured device-to-device copy, and the TF32-against-FP32 error.
import * as fs from 'fs';
import { CPU_KERNELS, CpuKernel, cpuKernel, native } from '../lib/backend/index';
import { cpu } from '../lib/backend/cpu';
import { Backend } from '../lib/backend/types';
import { CudaBackend } from '../lib/backend/cuda';
import { devices } from '../lib/backend/index';
import { deviceGemmScenarios, deviceKernelScenarios, tf32Error, Tf32Error } from './cuda_bench';
import { cudaBackends, gemmScenarios, modelScenario, modelSizes, Scenario } from './scenarios';
import { fitSourcePaperScenario } from './fit_source';
import { extractImagesBench, fitImagesScenario, fitMemoryBench } from './images';
import { fitMemoryVectorsBench } from './fit_memory_vectors';
import { compareGemms, compareKernels, OpenBlasTimer, startOpenBlas } from './openblas';
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
  kernels: CpuKernel[] | null;
  openblas: boolean;
}

const USAGE = 'usage: node dist/bench/run.js [--json FILE] [--quick] [--device cpu|cuda] [--precision fp32|tf32] [--only s1,s2] [--runs R] [--warmup W] [--threads T] [--kernels avx512,avx2|all] [--no-openblas]';

function parseArgs(argv: string[]): Args {
  const a: Args = { json: null, quick: false, device: 'cpu', precision: 'fp32', only: null, runs: null, warmup: null, threads: null, kernels: null, openblas: true };
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
    else if (k === '--kernels') a.kernels = kernelList(val());
    else if (k === '--no-openblas') a.openblas = false;
    else if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${k}\n${USAGE}`);
  }
  if (a.warmup !== null && !(Number.isInteger(a.warmup) && a.warmup >= 0)) throw new Error(`--warmup must be an integer >= 0, got ${a.warmup}`);
  return a;
}

/** --kernels: names this CPU runs, or 'all' of them. */
function kernelList(v: string): CpuKernel[] {
  const supported = native.gemmKernels();
  if (v === 'all') return supported;
  const names = v.split(',').filter(Boolean);
  for (const n of names) {
    if (!(CPU_KERNELS as readonly string[]).includes(n)) throw new Error(`--kernels: unknown kernel ${n} (known: ${CPU_KERNELS.join(', ')}, or all)`);
    if (!(supported as string[]).includes(n)) throw new Error(`--kernels: this CPU cannot run ${n} (it runs ${supported.join(', ')})`);
  }
  if (names.length === 0) throw new Error('--kernels needs at least one kernel');
  return names as CpuKernel[];
}

async function main(): Promise<void> {
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
      ['fit_images', () => [fitImagesScenario(quick)], modelRuns],
    ];
  const kernels = args.kernels ?? [cpuKernel()];
  const timers: OpenBlasTimer[] = !cuda && args.openblas && (!args.only || args.only.some((o) => o.startsWith('gemm')))
    ? await startOpenBlas(native.threadCount(), (line) => console.log(line)) : [];
  if (!cuda && !args.openblas) console.log('OpenBLAS rows skipped (--no-openblas)');
  if (!cuda) console.log(`hgad GEMM kernel${kernels.length > 1 ? 's' : ''}: ${kernels.join(', ')}${kernels.length > 1 ? ' (interleaved run by run)' : ''}\n`);
  const records: BenchRecord[] = [];
  const header = ['scenario', 'kernel', 'shapes', 'median_s', 'min_s', 'vectors/s', 'GFLOP/s', 'GB/s', '% copy', '% GEMM'];
  for (const [group, build, runs] of builders) {
    if (args.only && !args.only.some((o) => group === o || group.startsWith(o) || o.startsWith(group.replace(/s$/, '')))) continue;
    const scenarios = build().filter((s) => !args.only || args.only.some((o) => s.name === o || s.name.startsWith(o) || group === o));
    if (!cuda && group === 'gemm') {
      records.push(...await compareGemms(scenarios, kernels, timers, warmup, runs, be.label));
      continue;
    }
    if (!cuda) {
      records.push(...compareKernels(scenarios, kernels, warmup, runs, be.label));
      collectGarbage();
      continue;
    }
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
  // The image path's asynchronous rows (CPU): extraction through the demo backbone, and peak memory in child processes.
  const wanted = (name: string) => !args.only || args.only.some((o) => name === o || name.startsWith(o));
  if (!cuda && wanted('extract_images')) {
    const r = await extractImagesBench(quick, quick ? 1 : 3);
    records.push(r);
    console.log(`  extract_images: ${fmt(r.images_per_s as number, 3)} images/s; time in decode + preprocess ${pct(r.share_decode)}, ` +
      `backbone ${pct(r.share_backbone)}, cache write ${pct(r.share_write)}`);
  }
  if (!cuda && wanted('fit_memory')) {
    const r = fitMemoryBench(quick);
    records.push(r);
    console.log(`  fit_memory: peak RSS ${fmt(r.peak_rss_mb_small as number, 4)} MB and ${fmt(r.peak_rss_mb_large as number, 4)} MB ` +
      `(4x the images: ratio ${fmt(r.rss_ratio as number, 3)}; the larger data set is ${fmt(r.float32_data_mb_large as number, 3)} MB as float32)`);
  }
  if (!cuda && wanted('fit_memory_vectors')) {
    const r = fitMemoryVectorsBench(quick);
    records.push(r);
    console.log(`  fit_memory_vectors: ${fmt(r.data_mb_large as number, 3)} MB of vectors: peak RSS grows ${fmt(r.growth_large as number, 3)}x the data ` +
      `over the RSS before fit (${fmt(r.growth_small as number, 3)}x at a quarter of the size), ${fmt(r.growth_large_shared as number, 3)}x when they are already shared`);
  }
  if (!cuda && (wanted('fit_sampled') || wanted('fit_preview') || wanted('fit_profile'))) {
    const { fitSampledBench } = await import('./fit_sampled');
    for (const r of await fitSampledBench(quick, quick ? 2 : 5)) records.push({ ...r, quick: quick || undefined } as unknown as BenchRecord);
  }
  const fitImages = records.find((r) => r.scenario === 'fit_images');
  const step = records.find((r) => r.scenario === 'train_step_paper');
  if (fitImages && step) console.log(`  fit_images / train_step_paper (vectors/s): ${fmt(fitImages.vectors_per_s / step.vectors_per_s, 3)}`);
  if (!args.only || args.only.includes('score_images')) {
    const { scoreImagesBench } = await import('./score_images');
    const { record, shares } = await scoreImagesBench(quick, be.device);
    if (quick) record.quick = true;
    records.push(record);
    console.log(`  score_images: ${(record.vectors_per_s).toFixed(2)} images/s (median ${fmt(record.median_s)} s per batch of 8); shares: ` +
      Object.entries(shares).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', '));
  }
  const copy = records.find((r) => r.scenario === 'copy_d2d')?.gbps as number | undefined;
  for (const r of records) if (copy && typeof r.gbps === 'number' && r.scenario !== 'copy_d2d') r.pct_of_copy = (100 * r.gbps) / copy;
  const cell = (v: unknown, d = 3) => (typeof v === 'number' ? fmt(v, d) : '-');
  console.log('\n' + formatTable(header, records.map((r) => [r.scenario, String(r.openblas_core ? `OpenBLAS ${r.openblas_core}` : r.gemm_kernel ?? '-'), r.shapes, fmt(r.median_s), fmt(r.min_s), fmt(r.vectors_per_s),
    fmt(r.gflops, 3), cell(r.gbps), cell(r.pct_of_copy), typeof r.gemm_share === 'number' ? (100 * r.gemm_share).toFixed(0) : '-']), 3));
  for (const t of timers) t.close();
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

function pct(v: unknown): string {
  return `${(100 * (v as number)).toFixed(0)}%`;
}

if (require.main === module) {
  main().then(() => process.exit(0), (e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
