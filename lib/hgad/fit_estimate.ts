// What a training run will cost, before it runs: the vectors it trains, the
// FLOPs they take (counted from the flows' and mixtures' shapes), and, from
// a short timing of the first steps on this machine, its duration; and the
// schedule that fits a time budget.
import { expectedRange, received } from '../errors';
import type { HgadModel } from './model';
import type { SourceTrainConfig } from './train_options';

/** The exact counts of a run: what it trains, whatever machine runs it. */
export interface FitCounts {
  /** positions trained per image at each level */
  positionsPerImage: number[];
  /** each level's h*w */
  positionsPerLevel: number[];
  /** image batches per sub-epoch (each trains every level) */
  iterationsPerPass: number;
  /** images per pass (sub-epoch) */
  imagesPerPass: number;
  /** passes over the data: metaEpochs x subEpochs */
  passes: number;
  /** vectors per pass, every level */
  vectorsPerPass: number;
  /** vectors of the whole run, every level */
  vectors: number;
  /** forward FLOPs of one vector at each level */
  forwardFlopsPerVector: number[];
  /** FLOPs of the whole run: forward + backward, counted as 3x forward */
  flops: number;
}

/** A preview: the counts, and the timing of the first steps. */
export interface FitEstimate extends FitCounts {
  /** seconds of one image batch (every level), timed over the probe's steps after its first */
  secondsPerIteration: number;
  /** iterations timed */
  timedIterations: number;
  /** seconds the timing itself took (weights restored after it) */
  probeSeconds: number;
  /** the training's expected seconds: iterations x secondsPerIteration */
  trainingSeconds: number;
  /** images the calibration after training reads (absent: no calibration) */
  calibrationImages?: number;
  /** its expected seconds, from a timing of its first batch */
  calibrationSeconds?: number;
  /** the run's expected seconds: training and calibration */
  etaSeconds: number;
}

/**
 * Forward FLOPs of one vector through a level: per coupling block the
 * subnet's two layers, 2(C1+P)H + 2H(2 C2), and the rotation 2C^2; the
 * mixture's distances to its K*M centres, 2 C K M (the single Gaussian: 2C).
 * Elementwise work (activations, clamps, softmaxes) is not counted.
 */
export function forwardFlopsPerVector(model: HgadModel, level: number): number {
  const { flow, head } = model.levels[level];
  let f = 0;
  for (const b of flow.blocks) f += 2 * (b.C1 + b.P) * b.H + 2 * b.H * 2 * b.C2 + 2 * b.C * b.C;
  f += head.forwardFlops();
  return f;
}

/** Images per pass: what the loop's batches hold (dropLast drops the partial batch). */
export function imagesPerPass(opts: SourceTrainConfig, numImages: number): { images: number; iterations: number } {
  if (opts.batches) return { images: opts.batches.reduce((a, b) => a + b.length, 0), iterations: opts.batches.length };
  const B = opts.imagesPerBatch;
  const iterations = opts.dropLast ? Math.floor(numImages / B) : Math.ceil(numImages / B);
  return { images: opts.dropLast ? iterations * B : numImages, iterations };
}

/** The counts of a run of `opts` (positions per image already resolved per level). */
export function fitCounts(model: HgadModel, opts: SourceTrainConfig, numImages: number, positionsPerLevel: number[],
  positionsPerImage: number[]): FitCounts {
  const { images, iterations } = imagesPerPass(opts, numImages);
  const passes = opts.metaEpochs * opts.subEpochs;
  const forward = model.levels.map((_, l) => forwardFlopsPerVector(model, l));
  const vectorsPerPass = images * positionsPerImage.reduce((a, b) => a + b, 0);
  const flopsPerPass = positionsPerImage.reduce((a, n, l) => a + images * n * 3 * forward[l], 0);
  return {
    positionsPerImage: [...positionsPerImage], positionsPerLevel: [...positionsPerLevel], iterationsPerPass: iterations,
    imagesPerPass: images, passes, vectorsPerPass, vectors: vectorsPerPass * passes, forwardFlopsPerVector: forward, flops: flopsPerPass * passes,
  };
}

/** The schedule's lengths a run keeps or a budget picks. */
export interface ScheduleLengths {
  metaEpochs: number;
  subEpochs: number;
  warmEpochs: number;
  stage1Epochs: number;
}

/**
 * The longest schedule no longer than `opts`' whose passes fit `seconds` at
 * `secondsPerPass`: P = floor(seconds / secondsPerPass) passes as
 * M' = max(1, floor(P / S)) meta-epochs of S' = min(S, floor(P / M'))
 * sub-epochs, the warm-up and stage 1 scaled by M'/M (rounded). Throws when
 * not even one pass fits.
 */
export function budgetSchedule(opts: ScheduleLengths, secondsPerPass: number, seconds: number): ScheduleLengths {
  const M = opts.metaEpochs;
  const S = opts.subEpochs;
  const passes = Math.min(M * S, Math.floor(seconds / secondsPerPass));
  if (passes < 1) {
    throw expectedRange(`a time budget of at least ${Math.ceil(secondsPerPass)} s (one pass at the measured speed; sample fewer positions per image to go faster)`,
      'options.timeBudget', received(`${Math.round(seconds)} s left after the timing`));
  }
  if (passes === M * S) return { ...opts };
  const metaEpochs = Math.max(1, Math.floor(passes / S));
  const subEpochs = Math.min(S, Math.floor(passes / metaEpochs));
  const scale = metaEpochs / M;
  return { metaEpochs, subEpochs, warmEpochs: Math.round(opts.warmEpochs * scale), stage1Epochs: Math.round(opts.stage1Epochs * scale) };
}

/** One line: "V vectors (P passes of I images, n/hw positions per level), F FLOPs, eta T". */
export function describeEstimate(e: FitCounts & Partial<FitEstimate>): string {
  const pos = e.positionsPerImage.map((n, l) => `${n}/${e.positionsPerLevel[l]}`).join(', ');
  const calibration = e.calibrationSeconds === undefined ? '' : `, then ${formatDuration(e.calibrationSeconds)} to calibrate on ${e.calibrationImages} images`;
  const eta = e.etaSeconds === undefined ? '' : `; about ${formatDuration(e.etaSeconds)} on this machine (training ${formatDuration(e.trainingSeconds!)} at ${e.secondsPerIteration!.toFixed(3)} s per batch of every level, timed over ${e.timedIterations} batches${calibration})`;
  return `${e.vectors.toLocaleString('en-US')} vectors (${e.passes} passes of ${e.imagesPerPass} images, positions per image ${pos}), ` +
    `${(e.flops / 1e12).toFixed(2)} TFLOP${eta}`;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const ss = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
