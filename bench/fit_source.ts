// Training from a feature source at the paper's configuration (C = 200,
// P = 256, 12 couplings, K = 15, M = 10): vectors/s of the reference's loop
// (trainFromSource: read the batch from the source, gather the positional
// conditions, forward, stage-2 losses, backward, one Adam step per level)
// against train_step_paper (the same step on a batch already in memory), so
// the data path's share is the gap between the two rows.
import { native } from '../lib/backend/index';
import { cpu } from '../lib/backend/cpu';
import { Backend } from '../lib/backend/types';
import { FeatureSource, MemoryFeatureSource } from '../lib/data/feature_source';
import { HgadModel } from '../lib/hgad/model';
import { trainFromSource } from '../lib/hgad/trainer';
import { Random } from '../lib/random';
import { modelScenario, PAPER, Scenario, trainStepFlops } from './scenarios';
import { hrSeconds, machineContext, median } from './timing';

export interface FitSourceBenchOptions {
  /** images per batch (the reference's 8) */
  imagesPerBatch?: number;
  /** batches per timed run (2) */
  iterations?: number;
  be?: Backend;
}

/**
 * A scenario that trains a paper-configured model (one level per source
 * level, its channels, P = 256) on `iterations` batches of `source` per run,
 * in stage 2 at a constant learning rate; n counts every position of every
 * level of the batches' images.
 */
export function fitSourceScenario(name: string, source: FeatureSource, options: FitSourceBenchOptions = {}): Scenario {
  const B = options.imagesPerBatch ?? 8;
  const iterations = options.iterations ?? 2;
  const be = options.be ?? cpu;
  const model = HgadModel.create({
    levels: source.levels.map((s) => ({ channels: s.channels, condChannels: PAPER.P })),
    classNames: Array.from({ length: PAPER.K }, (_, k) => `class${k}`),
    couplings: PAPER.couplings, clamp: PAPER.clamp, intraCentres: PAPER.M,
  }, 0).to(be);
  const batches = Array.from({ length: iterations }, (_, it) => Array.from({ length: B }, (_, j) => (it * B + j) % source.numImages));
  const positions = source.levels.reduce((a, s) => a + s.height * s.width, 0);
  const n = iterations * B * positions;
  const levels = source.levels.map((s) => `${s.height}x${s.width}x${s.channels}`).join(',');
  return {
    name,
    shapes: `${iterations} batches of ${B} images, levels ${levels}, P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M} stage 2`,
    n,
    flops: source.levels.every((s) => s.channels === PAPER.C) ? trainStepFlops(n) : null,
    run: () => {
      trainFromSource(model, source, {
        metaEpochs: 1, subEpochs: 1, batches, imagesPerBatch: B, warmEpochs: 0, stage1Epochs: 0, cosine: false, lr: 2e-4,
      });
    },
  };
}

/** A memory source of random paper-sized feature maps: `images` images of one (height, width) level of C = 200. */
export function paperMemorySource(images: number, height: number, width: number, seed = 0): MemoryFeatureSource {
  const rng = new Random(seed);
  const data = native.alloc(images * height * width * PAPER.C, 'float32') as Float32Array;
  for (let i = 0; i < data.length; ++i) data[i] = rng.normal();
  const labels = Int32Array.from({ length: images }, (_, i) => i % PAPER.K);
  return new MemoryFeatureSource({ kind: 'memory', levels: [{ channels: PAPER.C, height, width }], labels, data: [data] });
}

/** fit_source_paper: one level of 32x32 positions, 8 images per batch = train_step_paper's N (8192) per step. */
export function fitSourcePaperScenario(quick: boolean, be: Backend = cpu): Scenario {
  const side = quick ? 16 : 32;
  const B = quick ? 4 : 8;
  return fitSourceScenario('fit_source_paper', paperMemorySource(2 * B, side, side), { imagesPerBatch: B, iterations: 2, be });
}

/**
 * node dist/bench/fit_source.js [--runs R]: fit_source_paper and
 * train_step_paper interleaved (one run of each in turn, after one warm-up of
 * each), so that a shared machine's load falls on both alike.
 */
function main(): void {
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 7;
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`Expected a positive integer for --runs but received ${process.argv[i + 1]}`);
  const step = modelScenario('train_step_paper', false);
  const source = fitSourcePaperScenario(false);
  const rate = (s: Scenario) => s.n / hrSeconds(() => s.run());
  rate(step);
  rate(source);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < runs; ++r) {
    a.push(rate(step));
    b.push(rate(source));
  }
  const ctx = machineContext();
  console.log(`threads ${ctx.threads}, gemm kernel ${ctx.gemm_kernel}, ${runs} interleaved runs`);
  console.log(`train_step_paper  median ${Math.round(median(a))} vectors/s  (${a.map(Math.round).join(' ')})`);
  console.log(`fit_source_paper  median ${Math.round(median(b))} vectors/s  (${b.map(Math.round).join(' ')})`);
  console.log(`fit_source_paper / train_step_paper: ${(median(b) / median(a)).toFixed(3)} (median of per-pair ratios ${median(b.map((v, k) => v / a[k])).toFixed(3)})`);
}

if (require.main === module) main();
