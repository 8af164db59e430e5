// Benchmarks of the image path:
//  extract_images  images/s of decode + preprocess + backbone + cache write with
//                  the shipped demo backbone, and each stage's share of the time;
//  fit_images      vectors/s of the reference's loop reading a float16 feature
//                  cache at the paper's configuration (C = 200, P = 256, 12
//                  couplings, K = 15, M = 10), beside train_step_paper;
//  fit_memory      peak RSS of a process training from the cache (HGAD.fitSource,
//                  worker included) on a data set and on one 4x larger.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CacheWriter } from '../lib/data/cache_writer';
import { CacheFeatureSource } from '../lib/data/feature_cache';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { extractFeatures, ExtractProgress } from '../lib/images/extract';
import { IMAGENET_MEAN, IMAGENET_STD } from '../lib/images/preprocess';
import { Random } from '../lib/random';
import { fitSourceScenario } from './fit_source';
import { PAPER, Scenario } from './scenarios';
import { BenchRecord, machineContext, median } from './timing';

const made: string[] = [];
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (made.push(dir) === 1) process.on('exit', () => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  return dir;
}

/** A float16 cache of `images` random maps of one (side x side x C) level, K classes in turn. */
export function randomCache(root: string, images: number, side: number, C: number, K: number, seed = 0): string {
  const key = `bench${images}x${side}x${C}`.padEnd(64, '0');
  const dir = path.join(root, key.slice(0, 16));
  const levels = [{ name: 'level0', channels: C, height: side, width: side }];
  const writer = new CacheWriter(dir, levels, 'float16', images);
  const rng = new Random(seed);
  const maps = new Float32Array(C * side * side);
  for (let i = 0; i < images; ++i) {
    for (let j = 0; j < maps.length; ++j) maps[j] = rng.normal();
    writer.appendImage(0, maps);
  }
  writer.finish({
    key, classNames: Array.from({ length: K }, (_, k) => `class${k}`),
    images: Array.from({ length: images }, (_, i) => ({ path: `random#${i}`, size: 0, mtimeMs: 0, classId: i % K })),
    backbone: { sha256: '', file: 'random', outputs: ['level0'], pyramid: false },
    preprocessing: { imageSize: 0, crop: 0, mean: [], std: [] }, skipped: [],
  });
  return dir;
}

/** fit_images: fit_source_paper's batches (8 images of 32x32 = 8192 vectors per step), read from a float16 cache on disk. */
export function fitImagesScenario(quick: boolean): Scenario {
  const side = quick ? 16 : 32;
  const B = quick ? 4 : 8;
  const dir = randomCache(tempDir('hgad-bench-cache-'), 2 * B, side, PAPER.C, PAPER.K);
  return fitSourceScenario('fit_images', new CacheFeatureSource(dir), { imagesPerBatch: B, iterations: 2 });
}

/** A textured RGB PNG of side S (sharp writes it). */
async function writeImage(file: string, S: number, rng: Random): Promise<void> {
  const sharp = (await import('sharp')).default;
  const px = Buffer.alloc(S * S * 3);
  const f = 0.05 + 0.1 * rng.uniform();
  for (let i = 0; i < px.length; ++i) px[i] = Math.max(0, Math.min(255, Math.round(128 + 80 * Math.sin(f * (i % (3 * S))) + 30 * (rng.uniform() - 0.5))));
  await sharp(px, { raw: { width: S, height: S, channels: 3 } }).png().toFile(file);
}

/**
 * extract_images: `images` PNGs of 320x320 resized to 256 (5,376 positions over the
 * demo backbone's three levels), extracted into a fresh cache per run.
 */
export async function extractImagesBench(quick: boolean, runs: number): Promise<BenchRecord> {
  const images = quick ? 16 : 64;
  const root = tempDir('hgad-bench-images-');
  const rng = new Random(1);
  const files: string[] = [];
  for (let i = 0; i < images; ++i) {
    const f = path.join(root, `${String(i).padStart(3, '0')}.png`);
    await writeImage(f, 320, rng);
    files.push(f);
  }
  const backbone = await Backbone.open(demoBackbonePath());
  const preprocessing = { imageSize: 256, crop: 256, mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const times: number[] = [];
  const stages: ExtractProgress['seconds'][] = [];
  for (let r = 0; r < runs + 1; ++r) {
    let last: ExtractProgress | null = null;
    const cacheDir = tempDir('hgad-bench-extract-');
    const t0 = performance.now();
    await extractFeatures({ images: files.map((p) => ({ path: p, classId: 0 })), classNames: ['bench'], backbone, preprocessing, cacheDir, onProgress: (p) => (last = p) });
    const seconds = (performance.now() - t0) / 1000;
    fs.rmSync(cacheDir, { recursive: true, force: true });
    if (r === 0) continue; // warm-up
    times.push(seconds);
    stages.push(last!.seconds);
  }
  await backbone.close();
  fs.rmSync(root, { recursive: true, force: true });
  const med = median(times);
  const share = (k: keyof ExtractProgress['seconds']) => median(stages.map((s, i) => s[k] / times[i]));
  const ctx = machineContext();
  return {
    scenario: 'extract_images', device: 'cpu', shapes: `${images} PNGs 320x320 -> 256, demo backbone (3 levels, 5376 positions), float16 cache`,
    median_s: med, vectors_per_s: (images * 5376) / med, gflops: null, runs: times.length, min_s: Math.min(...times), max_s: Math.max(...times),
    images_per_s: images / med, share_decode: share('decode'), share_backbone: share('backbone'), share_write: share('write'),
    threads: ctx.threads as number, gemm_kernel: ctx.gemm_kernel as string,
  };
}

/**
 * fit_memory: peak RSS of a child process (bench/fit_memory.ts) training from a
 * cache of `images` and of 4 x `images` images (32x32 positions, C = 64).
 */
export function fitMemoryBench(quick: boolean): BenchRecord {
  const images = quick ? 16 : 64;
  const script = path.join(__dirname, 'fit_memory.js');
  const peak = (n: number) => {
    const root = tempDir('hgad-bench-memory-');
    try {
      const out = execFileSync(process.execPath, [script, root, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      return JSON.parse(out.trim().split('\n').pop()!) as { maxRssBytes: number; seconds: number; vectors: number };
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  const small = peak(images);
  const large = peak(4 * images);
  const ctx = machineContext();
  return {
    scenario: 'fit_memory', device: 'cpu', shapes: `${images} and ${4 * images} images of 32x32x64 (float16 cache), P=32, 4 couplings, K=15, M=10, one sub-epoch`,
    median_s: large.seconds, vectors_per_s: large.vectors / large.seconds, gflops: null,
    peak_rss_mb_small: small.maxRssBytes / 2 ** 20, peak_rss_mb_large: large.maxRssBytes / 2 ** 20,
    rss_ratio: large.maxRssBytes / small.maxRssBytes,
    float32_data_mb_large: (4 * images * 32 * 32 * 64 * 4) / 2 ** 20,
    threads: ctx.threads as number, gemm_kernel: ctx.gemm_kernel as string,
  };
}
