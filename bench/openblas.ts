// OpenBLAS beside hgad's GEMM kernels, in one run: every flow GEMM shape is
// timed run by run, interleaved, on each forced hgad kernel and on OpenBLAS's
// sgemm through NumPy (bench/openblas_gemm.py, Debian's /usr/bin/python3 with
// its OpenBLAS), once with the core OpenBLAS picks for this CPU and once with
// its Haswell (AVX2) core forced, the fair reference for hgad's AVX2 kernel.
// Without python3, NumPy or OpenBLAS the rows are absent and the reason is said.
import { ChildProcessWithoutNullStreams, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { CpuKernel, cpuKernel, native, setCpuKernel } from '../lib/backend/index';
import type { Scenario } from './scenarios';
import { BenchRecord, collectGarbage, hrSeconds, median, toRecord } from './timing';

export interface OpenBlasInfo {
  /** 'auto' (OpenBLAS's own choice for this CPU) or the forced core type */
  variant: string;
  core: string;
  version: string | null;
  threads: number | null;
}

/** One python process holding OpenBLAS loaded, answering one timed call per request. */
export class OpenBlasTimer {
  private pending: ((line: string) => void)[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly lines: readline.Interface,
    readonly info: OpenBlasInfo) {
    lines.on('line', (line) => this.pending.shift()?.(line));
  }

  /**
   * Starts the timer with OPENBLAS_CORETYPE forced to `coretype`, or unset (and
   * OPENBLAS_L2_SIZE with it) so that OpenBLAS picks its core for this CPU.
   * Resolves to the reason instead when it cannot run.
   */
  static async start(coretype: string | null, threads: number,
    python = process.env.HGAD_BENCH_PYTHON ?? '/usr/bin/python3'): Promise<OpenBlasTimer | string> {
    if (!fs.existsSync(python)) return `${python} not found`;
    const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads),
      // Idle OpenBLAS threads go to sleep at once instead of spinning for a
      // while after each call, on cores that hgad's runs need next.
      OPENBLAS_THREAD_TIMEOUT: '4' };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    if (coretype) env.OPENBLAS_CORETYPE = coretype;
    const child = spawn(python, [path.join(__dirname, '..', '..', 'bench', 'openblas_gemm.py')], { env, stdio: 'pipe' });
    const lines = readline.createInterface({ input: child.stdout });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const first = await new Promise<string | null>((resolve) => {
      lines.once('line', resolve);
      child.once('exit', () => resolve(null));
      child.once('error', () => resolve(null));
    });
    if (first === null) return `${python} bench/openblas_gemm.py failed: ${stderr.trim().split('\n').pop() ?? 'no output'}`;
    const hello = JSON.parse(first) as { ok: boolean; reason?: string; core?: string; version?: string; threads?: number };
    if (!hello.ok) {
      child.kill();
      return hello.reason ?? 'unknown reason';
    }
    return new OpenBlasTimer(child, lines, { variant: coretype ?? 'auto', core: hello.core ?? 'unknown', version: hello.version ?? null,
      threads: hello.threads ?? null });
  }

  /** Seconds of one sgemm call of this shape. */
  time(transA: boolean, transB: boolean, M: number, N: number, K: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push((line) => {
        const s = Number(line);
        if (Number.isFinite(s)) resolve(s);
        else reject(new Error(`openblas_gemm.py answered ${line}`));
      });
      this.child.stdin.write(`${+transA} ${+transB} ${M} ${N} ${K}\n`);
    });
  }

  close(): void {
    this.lines.close();
    this.child.stdin.end();
  }
}

/** The OpenBLAS timers to run beside hgad: OpenBLAS's own core and, when different, Haswell. */
export async function startOpenBlas(threads: number, log: (s: string) => void): Promise<OpenBlasTimer[]> {
  const timers: OpenBlasTimer[] = [];
  for (const coretype of [null, 'Haswell']) {
    const t = await OpenBlasTimer.start(coretype, threads);
    if (typeof t === 'string') {
      log(`OpenBLAS rows absent (${coretype ? `OPENBLAS_CORETYPE=${coretype}` : 'default core'}): ${t}`);
      continue;
    }
    if (timers.some((o) => o.info.core === t.info.core)) {
      t.close();
      continue;
    }
    log(`OpenBLAS ${t.info.version ?? ''} through NumPy, ${t.info.threads ?? '?'} threads, ` +
      `${coretype ? `OPENBLAS_CORETYPE=${coretype} forced` : 'its own choice of core'}: core ${t.info.core}`);
    timers.push(t);
  }
  return timers;
}

/**
 * Times each GEMM scenario on every kernel in `kernels` and on every OpenBLAS
 * timer, interleaved run by run (kernel 1, kernel 2, ..., OpenBLAS 1, ...), so
 * that load from elsewhere on the machine falls on all of them alike.
 */
export async function compareGemms(scenarios: Scenario[], kernels: CpuKernel[], timers: OpenBlasTimer[], warmup: number,
  runs: number, device: string): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const initial = cpuKernel();
  try {
    for (const s of scenarios) {
      const g = s.gemm;
      const hgadTimes = kernels.map(() => [] as number[]);
      const blasTimes = timers.map(() => [] as number[]);
      for (let r = -warmup; r < runs; ++r) {
        collectGarbage();
        for (let k = 0; k < kernels.length; ++k) {
          setCpuKernel(kernels[k]);
          const t = hrSeconds(() => s.run());
          if (r >= 0) hgadTimes[k].push(t);
        }
        if (!g) continue;
        for (let b = 0; b < timers.length; ++b) {
          const t = await timers[b].time(g.transA, g.transB, g.M, g.N, g.K);
          if (r >= 0) blasTimes[b].push(t);
        }
      }
      kernels.forEach((k, i) => records.push({ ...toRecord(s, device, hgadTimes[i]), gemm_kernel: k }));
      timers.forEach((tm, i) => {
        if (!g) return;
        const rec = toRecord(s, `openblas:${tm.info.core}`, blasTimes[i]);
        records.push({ ...rec, shapes: s.shapes.replace(/ \+bias.*$/, ''), gemm_kernel: undefined, library: 'OpenBLAS (NumPy sgemm, no bias/ReLU epilogue)', openblas_core: tm.info.core,
          openblas_variant: tm.info.variant, openblas_version: tm.info.version, threads: tm.info.threads ?? native.threadCount() });
      });
      const best = (xs: number[]) => (xs.length ? (s.flops ?? 0) / median(xs) / 1e9 : NaN);
      console.log(`  ${s.name}: ` + [...kernels.map((k, i) => `hgad ${k} ${best(hgadTimes[i]).toFixed(1)}`),
        ...timers.map((tm, i) => `OpenBLAS ${tm.info.core} ${best(blasTimes[i]).toFixed(1)}`)].join(', ') + ' GFLOP/s');
    }
  } finally {
    setCpuKernel(initial);
  }
  return records;
}

/**
 * Times each model scenario on every kernel, interleaved run by run, and the
 * share of those runs' wall time spent inside packed GEMMs (gemm_share; the
 * rest is the elementwise, coupling, mixture, optimiser and allocation work).
 * cpu_s is the median CPU time of the process per run (all threads): the
 * thread pool sleeps while it waits, so unlike the wall time it does not grow
 * when other jobs take the cores, and it compares kernels or builds on a
 * loaded machine.
 */
export function compareKernels(scenarios: Scenario[], kernels: CpuKernel[], warmup: number, runs: number, device: string): BenchRecord[] {
  const records: BenchRecord[] = [];
  const initial = cpuKernel();
  try {
    for (const s of scenarios) {
      const times = kernels.map(() => [] as number[]);
      const gemmSeconds = kernels.map(() => 0);
      const cpuSeconds = kernels.map(() => [] as number[]);
      for (let r = -warmup; r < runs; ++r) {
        for (let k = 0; k < kernels.length; ++k) {
          setCpuKernel(kernels[k]);
          collectGarbage();
          const before = native.gemmProfile().seconds;
          const cpu0 = process.cpuUsage();
          const t = hrSeconds(() => s.run());
          const cpu = process.cpuUsage(cpu0);
          if (r < 0) continue;
          times[k].push(t);
          cpuSeconds[k].push((cpu.user + cpu.system) / 1e6);
          gemmSeconds[k] += native.gemmProfile().seconds - before;
        }
      }
      kernels.forEach((k, i) => {
        const share = gemmSeconds[i] / times[i].reduce((a, b) => a + b, 0);
        const cpuS = median(cpuSeconds[i]);
        records.push({ ...toRecord(s, device, times[i]), gemm_kernel: k, gemm_share: share, cpu_s: cpuS });
        console.log(`  ${s.name} (${k}): median ${median(times[i]).toPrecision(4)} s (${runs} runs), ${(100 * share).toFixed(0)}% of it in GEMM; ` +
          `CPU time ${cpuS.toPrecision(4)} s per run`);
      });
    }
  } finally {
    setCpuKernel(initial);
  }
  return records;
}
