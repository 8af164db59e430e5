// fit_memory_vectors: peak RSS of HGAD.fit on vectors over the size of its
// data, each fit in a fresh child process so that each peak is its own.
// Child mode: node dist/bench/fit_memory_vectors.js N plain|shared prints one
// JSON line {baseKb, peakKb}: the RSS peak before fit (the data already
// allocated) and after it.
import { execFileSync } from 'child_process';
import { HGAD } from '../lib/hgad';
import { Random } from '../lib/random';
import { BenchRecord, machineContext } from './timing';

const C = 200;

async function child(n: number, shared: boolean): Promise<void> {
  const alloc = <T>(Ctor: new (b: ArrayBuffer) => T, bytes: number) => new Ctor((shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)) as ArrayBuffer);
  const features = alloc(Float32Array, n * C * 4);
  const labels = alloc(Int32Array, n * 4);
  const r = new Random(3);
  for (let i = 0; i < features.length; ++i) features[i] = r.normal();
  for (let i = 0; i < n; ++i) labels[i] = i % 2;
  const baseKb = process.resourceUsage().maxRSS;
  const model = HGAD.create({ levels: [{ channels: C, condChannels: 0 }], classNames: ['a', 'b'], couplings: 1, clamp: 1.9, intraCentres: 2 }, 0);
  await model.fit([{ features, labels }], { epochs: 1, batchSize: 4096, stage1Epochs: 0 });
  console.log(JSON.stringify({ baseKb, peakKb: process.resourceUsage().maxRSS }));
}

function run(n: number, shared: boolean): { baseMb: number; peakMb: number } {
  const out = execFileSync(process.execPath, [__filename, String(n), shared ? 'shared' : 'plain'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const { baseKb, peakKb } = JSON.parse(out.trim().split('\n').pop()!) as { baseKb: number; peakKb: number };
  return { baseMb: baseKb / 1024, peakMb: peakKb / 1024 };
}

/**
 * Peak RSS of fit() on N and 4N vectors (C = 200, one coupling, one epoch) in
 * ordinary arrays (copied once into shared memory), and on 4N vectors already
 * in SharedArrayBuffers (shared as they are). growth_*: (peak - RSS before
 * fit) / data, which the README bounds.
 */
export function fitMemoryVectorsBench(quick: boolean): BenchRecord {
  const n = quick ? 25_000 : 100_000;
  const dataMb = (v: number) => (v * C * 4) / 2 ** 20;
  const small = run(n, false);
  const large = run(4 * n, false);
  const shared = run(4 * n, true);
  const ctx = machineContext();
  return {
    scenario: 'fit_memory_vectors', device: 'cpu', shapes: `${n} and ${4 * n} vectors, C=${C}, 1 coupling, K=2, one epoch of batches of 4096`,
    median_s: 0, vectors_per_s: 0, gflops: null,
    data_mb_small: dataMb(n), data_mb_large: dataMb(4 * n),
    peak_rss_mb_small: small.peakMb, peak_rss_mb_large: large.peakMb, peak_rss_mb_large_shared: shared.peakMb,
    growth_small: (small.peakMb - small.baseMb) / dataMb(n), growth_large: (large.peakMb - large.baseMb) / dataMb(4 * n),
    growth_large_shared: (shared.peakMb - shared.baseMb) / dataMb(4 * n),
    threads: ctx.threads as number, gemm_kernel: ctx.gemm_kernel as string,
  };
}

if (require.main === module) {
  const [n, kind] = process.argv.slice(2);
  child(Number(n), kind === 'shared').then(() => process.exit(0), (e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
