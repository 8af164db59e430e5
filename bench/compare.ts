// hgad vs PyTorch on the same model, side by side in one invocation.
//
//   node dist/bench/compare.js [--json FILE] [--quick] [--runs R] [--warmup W]
//        [--only s1,s2] [--python PATH] [--no-check] [--torch-without-openblas-env]
//        [--device cpu|cuda] [--precision fp32|tf32] [--kernels avx512,avx2|all] [--no-onnx]
//        [--no-onnx-avx2]
//
// On the CPU, score_paper is also timed in ONNX Runtime (bench/onnx_compare.ts:
// the PyTorch model exported with torch.onnx.export, run by onnxruntime-node
// with hgad's thread count), interleaved with the other two. --kernels runs
// the hgad side on each forced GEMM kernel in the same rounds (one row each).
// When the AVX2 kernel is forced on a CPU with AVX-512, ONNX Runtime is also
// timed held to AVX2 (bench/onnx_avx2.ts; --no-onnx-avx2 leaves it out), since
// MLAS itself uses AVX-512 there.
//
// With --device cuda both sides run on the GPU at the GPU sizes (scoring
// N=262144, training step N=65536) in matched precision: --precision fp32
// sets TF32 off on both sides (torch.backends.cuda.matmul.allow_tf32 = False),
// --precision tf32 on both.
//
// bench/torch_compare.py implements the reference model (FrEIA AllInOneBlock +
// HGAD mixture head and losses, Adam with the reference's groups) in PyTorch and
// runs as a server on a pipe; this driver interleaves single timed runs
// (hgad, torch, torch, hgad, hgad, torch, ...: the order alternates each round)
// so both see the same machine state, and reports medians and the ratio
// hgad/torch in vectors/s (> 1: hgad is faster). torch uses as many threads as
// hgad (torch.set_num_threads).
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { CPU_KERNELS, CpuKernel, cpuKernel, native, setCpuKernel } from '../lib/backend/index';
import { OnnxAvx2Process } from './onnx_avx2';
import { OnnxScorer } from './onnx_compare';
import { modelScenario, modelSizes, Scenario } from './scenarios';
import { benchChoice, collectGarbage, fmt, formatTable, hrSeconds, machineContext, median } from './timing';
import { cpu } from '../lib/backend/cpu';
import { selectBackend } from '../lib/backend/index';
import { Backend } from '../lib/backend/types';

const SCENARIOS = ['flow_forward_paper', 'score_paper', 'score_paper_host', 'train_step_paper'] as const;
const SCRIPT = path.join(__dirname, '..', '..', 'bench', 'torch_compare.py');

interface Args {
  json: string | null;
  quick: boolean;
  runs: number | null;
  warmup: number | null;
  only: string[] | null;
  python: string | null;
  check: boolean;
  noEnvVariant: boolean;
  blasDir: string | null;
  device: 'cpu' | 'cuda';
  precision: 'fp32' | 'tf32';
  kernels: CpuKernel[] | null;
  onnx: boolean;
  onnxAvx2: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { json: null, quick: false, runs: null, warmup: null, only: null, python: null, check: true, noEnvVariant: false, blasDir: null, device: 'cpu', precision: 'fp32', kernels: null, onnx: true, onnxAvx2: true };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--json') a.json = val();
    else if (k === '--quick') a.quick = true;
    else if (k === '--runs') a.runs = parseInt(val(), 10);
    else if (k === '--warmup') a.warmup = parseInt(val(), 10);
    else if (k === '--only') a.only = val().split(',').filter(Boolean);
    else if (k === '--python') a.python = val();
    else if (k === '--no-check') a.check = false;
    else if (k === '--torch-without-openblas-env') a.noEnvVariant = true;
    else if (k === '--torch-blas-dir') a.blasDir = val();
    else if (k === '--device') a.device = benchChoice(k, val(), ['cpu', 'cuda'] as const);
    else if (k === '--precision') a.precision = benchChoice(k, val(), ['fp32', 'tf32'] as const);
    else if (k === '--no-onnx') a.onnx = false;
    else if (k === '--no-onnx-avx2') a.onnxAvx2 = false;
    else if (k === '--kernels') {
      const v = val();
      const names = v === 'all' ? native.gemmKernels() : v.split(',').filter(Boolean);
      for (const n of names) {
        if (!(native.gemmKernels() as string[]).includes(n)) throw new Error(`--kernels: ${n} is not a kernel this CPU runs (${native.gemmKernels().join(', ')}; known: ${CPU_KERNELS.join(', ')})`);
      }
      a.kernels = names as CpuKernel[];
    } else if (k === '--help' || k === '-h') {
      console.log('usage: node dist/bench/compare.js [--json FILE] [--quick] [--runs R] [--warmup W] [--only s1,s2] [--python PATH] [--no-check] [--torch-without-openblas-env] [--torch-blas-dir DIR] [--device cpu|cuda] [--precision fp32|tf32] [--kernels avx512,avx2|all] [--no-onnx] [--no-onnx-avx2]');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

/** The first interpreter that imports torch, and what the others said. */
function findPython(explicit: string | null): { python: string | null; tried: string[] } {
  const candidates = explicit ? [explicit] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import torch, sys; print(torch.__version__)'], { encoding: 'utf8', timeout: 60000 });
    if (r.status === 0) return { python: c, tried };
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`;
    tried.push(`${c} (${why})`);
  }
  return { python: null, tried };
}

/** A torch_compare.py --serve process: one JSON request per line, one JSON answer per line. */
class TorchServer {
  private proc: ChildProcessWithoutNullStreams;
  private lines: AsyncIterableIterator<string>;
  private stderr = '';

  constructor(python: string, threads: number, env: NodeJS.ProcessEnv, readonly label: string, deviceArgs: string[] = []) {
    this.proc = spawn(python, ['-u', SCRIPT, '--serve', '--threads', String(threads), ...deviceArgs], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr.on('data', (d) => {
      this.stderr += d.toString();
    });
    this.lines = readline.createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  async request(req: Record<string, unknown>): Promise<any> {
    this.proc.stdin.write(JSON.stringify(req) + '\n');
    const next = await this.lines.next();
    if (next.done) throw new Error(`${this.label}: the torch server exited. ${this.stderr.trim()}`);
    const resp = JSON.parse(next.value);
    if (resp.error) throw new Error(`${this.label}: ${resp.error}`);
    return resp;
  }

  async close(): Promise<void> {
    try {
      await this.request({ op: 'quit' });
    } catch {
      // already gone
    }
    this.proc.stdin.end();
  }
}

interface Side {
  median_s: number;
  min_s: number;
  max_s: number;
  vectors_per_s: number;
  gflops: number | null;
  runs: number;
  times_s: number[];
}

function side(s: Scenario, times: number[]): Side {
  const med = median(times);
  return {
    median_s: med,
    min_s: Math.min(...times),
    max_s: Math.max(...times),
    vectors_per_s: s.n / med,
    gflops: s.flops === null ? null : s.flops / med / 1e9,
    runs: times.length,
    times_s: times,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { python, tried } = findPython(args.python);
  if (!python) {
    console.log(`PyTorch not available (tried: ${tried.join('; ')}) — skipping the comparison`);
    process.exit(0);
  }
  const threads = native.threadCount();
  const quick = args.quick;
  let be: Backend = cpu;
  if (args.device === 'cuda') {
    try {
      be = selectBackend('cuda', { precision: args.precision });
    } catch (e) {
      console.error(`${(e as Error).message} — cannot compare on the GPU`);
      process.exit(2);
    }
  }
  const deviceArgs = args.device === 'cuda' ? ['--device', 'cuda', ...(args.precision === 'tf32' ? ['--tf32'] : [])] : [];
  const warmup = args.warmup ?? 1;
  const runs = args.runs ?? (quick ? 3 : 5);
  const scenarios = SCENARIOS.filter((s) => !args.only || args.only.includes(s));
  const ctx = machineContext();

  console.log(`hgad vs PyTorch${quick ? ' (QUICK mode: reduced sizes and repetitions, for smoke tests only — not representative)' : ''}`);
  console.log(`hgad: threads ${ctx.threads}, gemm kernel ${ctx.gemm_kernel}; CPU: ${ctx.cpu} (${ctx.cores} logical cores); node ${ctx.node}`);
  if (args.check) {
    const r = spawnSync(python, [SCRIPT, '--check', '--threads', String(threads)], { encoding: 'utf8', timeout: 300000 });
    const out = (r.stdout || '').trim();
    console.log(`torch model vs the reference golden vectors (float64): ${out.split('\n').pop()}`);
    if (r.status !== 0) {
      console.log(out + '\n' + (r.stderr || ''));
      throw new Error('the PyTorch model does not reproduce the reference golden vectors; refusing to compare');
    }
  }

  const openblasEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('OPENBLAS')));
  // The main torch process runs in this environment, untouched. Extra, clearly
  // labelled variants: OPENBLAS_* removed; another libblas.so.3 (e.g. an
  // extracted OpenBLAS) put first on LD_LIBRARY_PATH.
  const noOpenblas = (e: NodeJS.ProcessEnv) => {
    const env = { ...e };
    for (const k of Object.keys(env)) if (k.startsWith('OPENBLAS')) delete env[k];
    return env;
  };
  const servers: TorchServer[] = [new TorchServer(python, threads, process.env, 'torch', deviceArgs)];
  if (args.noEnvVariant) servers.push(new TorchServer(python, threads, noOpenblas(process.env), 'torch, OPENBLAS_* unset'));
  if (args.blasDir) {
    const dir = path.resolve(args.blasDir);
    const env = { ...process.env, LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
    servers.push(new TorchServer(python, threads, env, `torch, BLAS from ${path.basename(dir)}`));
    if (args.noEnvVariant) servers.push(new TorchServer(python, threads, noOpenblas(env), `torch, BLAS from ${path.basename(dir)}, OPENBLAS_* unset`));
  }
  const infos: any[] = [];
  for (const s of servers) infos.push(await s.request({ op: 'info' }));
  const ti = infos[0];
  console.log(`torch: ${ti.torch} (${ti.python}), BLAS_INFO=${ti.blas}, libblas loaded: ${ti.blas_library}, torch.set_num_threads(${threads}) -> ${ti.threads} intra-op threads (= hgad's), interop ${ti.interop_threads}`);
  const envLine = Object.keys(openblasEnv).length ? Object.entries(openblasEnv).map(([k, v]) => `${k}=${v}`).join(' ') : '(none set)';
  console.log(`OpenBLAS environment (left as is for the main comparison): ${envLine}`);
  servers.slice(1).forEach((s, i) => console.log(`extra torch variant ${i + 1}: "${s.label}" (libblas loaded: ${infos[i + 1].blas_library}; env ${JSON.stringify(infos[i + 1].env)})`));
  if (args.device === 'cuda') {
    console.log(`GPU: hgad on ${be.label}, torch on ${ti.device_name} (CUDA ${ti.torch_cuda}); precision ${args.precision} on both sides ` +
      `(torch allow_tf32: matmul ${ti.allow_tf32_matmul}, cudnn ${ti.allow_tf32_cudnn})`);
  }
  console.log(`warm-up ${warmup}, median of ${runs} interleaved runs; float32${args.precision === 'tf32' ? ' (TF32 GEMMs)' : ''}; ratio = hgad vectors/s / torch vectors/s (> 1: hgad faster)\n`);

  const kernels = args.kernels ?? [cpuKernel()];
  const initialKernel = cpuKernel();
  if (args.device === 'cpu') console.log(`hgad GEMM kernel${kernels.length > 1 ? 's (one row each, interleaved in the same rounds)' : ''}: ${kernels.join(', ')}`);
  let onnx: OnnxScorer | null = null;
  let onnxAvx2: OnnxAvx2Process | null = null;
  if (args.device === 'cpu' && scenarios.includes('score_paper')) {
    const o = args.onnx ? await OnnxScorer.start(python, threads) : 'skipped (--no-onnx)';
    if (typeof o === 'string') {
      console.log(`ONNX Runtime: not compared: ${o}`);
    } else {
      onnx = o;
      console.log(`ONNX Runtime: onnxruntime-node ${o.info.onnxruntime}, score_paper exported by torch ${o.info.torch} (torch.onnx.export, opset ${o.info.opset}), ` +
        `${o.info.intra_op_threads} intra-op threads (= hgad's), ${o.info.inter_op_threads} inter-op, all graph optimisations; MLAS picks its kernels (AVX-512 where the CPU has it)`);
    }
    // Where hgad runs a forced AVX2 kernel on an AVX-512 CPU, ONNX Runtime held to AVX2 is the like-for-like row.
    if (onnx && args.onnxAvx2 && kernels.includes('avx2') && native.gemmKernels().includes('avx512')) {
      const o2 = await OnnxAvx2Process.start(python, threads);
      if (typeof o2 === 'string') console.log(`ONNX Runtime held to AVX2: not compared: ${o2}`);
      else {
        onnxAvx2 = o2;
        console.log('ONNX Runtime held to AVX2: the same model and options in a child process running a copy of onnxruntime-node whose MLAS AVX-512F check is patched out (bench/onnx_avx2.ts)');
      }
    }
  }
  console.log('');

  const records: Record<string, unknown>[] = [];
  const sizes = modelSizes(quick, args.device);
  for (const name of scenarios) {
    const n = sizes[name];
    const hg = modelScenario(name, quick, be, n);
    const ort = name === 'score_paper' ? onnx : null;
    ort?.setup(n);
    const ort2 = name === 'score_paper' ? onnxAvx2 : null;
    await ort2?.setup(n);
    for (const s of servers) await s.request({ op: 'setup', scenario: name, n, seed: 0 });
    for (let i = 0; i < warmup; ++i) {
      for (const k of kernels) {
        if (args.device === 'cpu') setCpuKernel(k);
        hg.run();
      }
      for (const s of servers) await s.request({ op: 'run' });
      if (ort) await ort.run();
      if (ort2) await ort2.run();
    }
    const hTimes: number[][] = kernels.map(() => []);
    const tTimes: number[][] = servers.map(() => []);
    const oTimes: number[] = [];
    const o2Times: number[] = [];
    for (let r = 0; r < runs; ++r) {
      const hgadFirst = r % 2 === 0;
      const runHgad = () => {
        kernels.forEach((k, i) => {
          if (args.device === 'cpu') setCpuKernel(k);
          collectGarbage();
          hTimes[i].push(hrSeconds(() => hg.run()));
        });
      };
      if (hgadFirst) runHgad();
      for (let i = 0; i < servers.length; ++i) tTimes[i].push((await servers[i].request({ op: 'run' })).t);
      if (ort) oTimes.push(await ort.run());
      if (ort2) o2Times.push(await ort2.run());
      if (!hgadFirst) runHgad();
    }
    if (args.device === 'cpu') setCpuKernel(initialKernel);
    const t = tTimes.map((ts) => side(hg, ts));
    const o = ort ? side(hg, oTimes) : null;
    const o2 = ort2 ? side(hg, o2Times) : null;
    kernels.forEach((kernel, ki) => {
      const h = side(hg, hTimes[ki]);
      const rec: Record<string, unknown> = {
        scenario: name,
        device: be.label,
        gemm_kernel: args.device === 'cpu' ? kernel : undefined,
        precision: args.device === 'cuda' ? args.precision : undefined,
        shapes: hg.shapes,
        n,
        threads,
        hgad: h,
        torch: t[0],
        ratio_hgad_over_torch: h.vectors_per_s / t[0].vectors_per_s,
      };
      if (o) {
        rec.onnxruntime = { ...o, ...ort!.info };
        rec.ratio_hgad_over_onnxruntime = h.vectors_per_s / o.vectors_per_s;
      }
      if (o2) {
        rec.onnxruntime_avx2 = { ...o2, ...ort2!.info };
        rec.ratio_hgad_over_onnxruntime_avx2 = h.vectors_per_s / o2.vectors_per_s;
      }
      if (t.length > 1) {
        rec.torch_variants = servers.slice(1).map((s, i) => ({ label: s.label, ...t[i + 1], ratio_hgad_over_variant: h.vectors_per_s / t[i + 1].vectors_per_s }));
      }
      if (quick) rec.quick = true;
      records.push(rec);
      console.log(`${name}: hgad${args.device === 'cpu' ? ` (${kernel})` : ''} ${fmt(h.median_s)} s, ` +
        `${servers.map((s, i) => `${s.label} ${fmt(t[i].median_s)} s`).join(', ')}${o ? `, ONNX Runtime ${fmt(o.median_s)} s` : ''}${o2 ? `, ONNX Runtime (AVX2) ${fmt(o2.median_s)} s` : ''}`);
    });
    collectGarbage();
  }
  await onnx?.close();
  await onnxAvx2?.close();
  for (const s of servers) await s.close();

  const header = ['scenario', 'kernel', 'N', 'hgad median_s', 'torch median_s', 'hgad vec/s', 'torch vec/s', 'hgad GFLOP/s', 'torch GFLOP/s', 'hgad/torch',
    'ORT vec/s', 'hgad/ORT', 'ORT-AVX2 vec/s', 'hgad/ORT-AVX2'];
  servers.slice(1).forEach((_, i) => header.push(`[v${i + 1}] median_s`, `hgad/[v${i + 1}]`));
  const rows = records.map((r) => {
    const h = r.hgad as Side;
    const t = r.torch as Side;
    const o = r.onnxruntime as Side | undefined;
    const o2 = r.onnxruntime_avx2 as Side | undefined;
    const row = [String(r.scenario), String(r.gemm_kernel ?? '-'), String(r.n), fmt(h.median_s), fmt(t.median_s), fmt(h.vectors_per_s), fmt(t.vectors_per_s),
      fmt(h.gflops, 3), fmt(t.gflops, 3), `${(r.ratio_hgad_over_torch as number).toFixed(2)}x`,
      o ? fmt(o.vectors_per_s) : '-', o ? `${(r.ratio_hgad_over_onnxruntime as number).toFixed(2)}x` : '-',
      o2 ? fmt(o2.vectors_per_s) : '-', o2 ? `${(r.ratio_hgad_over_onnxruntime_avx2 as number).toFixed(2)}x` : '-'];
    for (const v of (r.torch_variants as (Side & { ratio_hgad_over_variant: number })[] | undefined) ?? []) {
      row.push(fmt(v.median_s), `${v.ratio_hgad_over_variant.toFixed(2)}x`);
    }
    return row;
  });
  console.log('\n' + formatTable(header, rows, 2));
  servers.slice(1).forEach((s, i) => console.log(`[v${i + 1}] = extra torch variant "${s.label}"`));
  if (quick) console.log('(QUICK mode: reduced sizes and repetitions)');
  if (args.json) {
    const out = { context: { ...ctx, gemm_kernels: kernels, onnxruntime: onnx?.info ?? null, onnxruntime_avx2: onnxAvx2?.info ?? null, torch: infos[0], torch_variants: servers.slice(1).map((s, i) => ({ label: s.label, ...infos[i + 1] })), openblas_env: openblasEnv, warmup, runs }, records };
    fs.writeFileSync(args.json, JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote ${records.length} records to ${args.json}`);
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
