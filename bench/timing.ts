// Timing of benchmark scenarios: warm-up, repeated runs with a garbage
// collection between them (outside the timed region), medians, the machine
// context of a record, and table formatting.
import * as os from 'os';
import * as v8 from 'v8';
import * as vm from 'vm';
import { native } from '../lib/backend/index';
import type { Scenario } from './scenarios';

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

/** A text table: the first `left` columns left-aligned, the rest (numbers) right-aligned. */
export function formatTable(header: string[], rows: string[][], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1000) return Math.round(x).toString();
  return x.toPrecision(digits);
}

/** The value of a --device or --precision option, checked against its choices. */
export function benchChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new Error(`${flag} must be ${choices.join(' or ')}, got ${value}`);
  return value as T;
}
