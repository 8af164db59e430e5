// Options of the reference's training loop (train.py of HGAD) over a feature
// source: meta-epochs x sub-epochs of image batches, every level trained on the
// same batch one after another, one Adam over every parameter. Defaults are the
// reference's; validation runs before any work.
import { expectedRange, expectedType, isPositiveInteger } from '../errors';

export interface SourceTrainConfig {
  /** The reference's meta_epochs (25): the cosine schedule counts these. */
  metaEpochs: number;
  /** The reference's sub_epochs (8): passes over the data per meta-epoch. */
  subEpochs: number;
  /** Images per batch (8); a batch trains on every position of its images. */
  imagesPerBatch: number;
  /** Peak learning rate (2e-4). */
  lr: number;
  /** eta_min = lr * lrDecayRate^3 (0.1). */
  lrDecayRate: number;
  /** Cosine decay per meta-epoch (true). */
  cosine: boolean;
  /** Meta-epochs of linear warm-up from lr/10, per iteration (2); shortened to metaEpochs - 1 when longer. */
  warmEpochs: number;
  /** Meta-epochs with the inter-class losses only (2). */
  stage1Epochs: number;
  /**
   * Learning rate of the class centres relative to the flows (1). The reference
   * builds its optimizer with 3x for the centres, but its schedule sets every
   * group to the same value before the first step, so 1 is what it trains with.
   */
  centreLrRatio: number;
  /** Learning rate of the mixture weights relative to the flows (1). */
  weightLrRatio: number;
  /** L2 weight decay of the flow parameters (1e-4; the mixture groups have none). */
  weightDecay: number;
  /** Adam's betas ([0.95, 0.99]). */
  betas: [number, number];
  /** Adam's eps (1e-8). */
  eps: number;
  lambda1: number;
  lambda2: number;
  labelSmoothing: number;
  /** Seeds the image order of every sub-epoch. */
  seed: number;
  /** Shuffles the images at every sub-epoch (true). */
  shuffle: boolean;
  /** Drops the last batch of a sub-epoch when it has fewer images (true, as the reference's loader). */
  dropLast: boolean;
  /**
   * The image ids of every batch of a sub-epoch, in order, replayed at every
   * sub-epoch instead of shuffled batches (to replay a recorded run).
   */
  batches?: number[][];
  /**
   * Position sampling: positions trained per image and level at each step
   * (capped at the level's h*w), drawn stratified over passes (see
   * position_sampling.ts). Absent with positionFraction absent: every position (the reference).
   */
  positionsPerImage?: number;
  /** Position sampling as a fraction of each level's h*w, in (0, 1]. */
  positionFraction?: number;
  /**
   * Seconds the training may take: the passes (and with them the warm-up,
   * the cosine and stage 1) are cut to what fits, from a timing of the first
   * steps. The model records the schedule it ran.
   */
  timeBudget?: number;
  /** Time the first steps and report the estimate (onPreview) before training. */
  preview?: boolean;
  /** Stop after the preview: no training, weights unchanged. */
  dryRun?: boolean;
  /** Image batches the preview times (after one untimed batch; default 2). */
  probeIterations?: number;
  /**
   * The calibration after training (fitSourceSync) reads at most this many
   * training images of each class, every position of each, drawn from the
   * seed (see source_calibration.ts). Absent: every image (the reference).
   */
  calibrationImages?: number;
}

export const DEFAULT_SOURCE_TRAIN: SourceTrainConfig = {
  metaEpochs: 25,
  subEpochs: 8,
  imagesPerBatch: 8,
  lr: 2e-4,
  lrDecayRate: 0.1,
  cosine: true,
  warmEpochs: 2,
  stage1Epochs: 2,
  centreLrRatio: 1,
  weightLrRatio: 1,
  weightDecay: 1e-4,
  betas: [0.95, 0.99],
  eps: 1e-8,
  lambda1: 1,
  lambda2: 100,
  labelSmoothing: 0.02,
  seed: 0,
  shuffle: true,
  dropLast: true,
};

function finite(v: unknown, name: string, min: number, strict: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (strict && v === min)) {
    throw expectedRange(`a finite number ${strict ? '>' : '>='} ${min}`, name, v);
  }
  return v;
}

function nonNegativeInt(v: unknown, name: string): number {
  if (!Number.isInteger(v) || (v as number) < 0) throw expectedRange('an integer >= 0', name, v);
  return v as number;
}

function positiveInt(v: unknown, name: string): number {
  if (!isPositiveInteger(v)) throw expectedRange('a positive integer', name, v);
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw expectedType('a boolean', name, v);
  return v;
}

function samplingOptions(count: unknown, fraction: unknown, o: string): { positionsPerImage?: number; positionFraction?: number } {
  if (count !== undefined && fraction !== undefined) throw expectedRange('positionsPerImage or positionFraction, not both', `${o}positionFraction`, fraction);
  if (count !== undefined) return { positionsPerImage: positiveInt(count, `${o}positionsPerImage`) };
  if (fraction === undefined) return {};
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1)) throw expectedRange('a fraction in (0, 1]', `${o}positionFraction`, fraction);
  return { positionFraction: fraction };
}

/** The options with the defaults filled in, or a TypeError/RangeError naming the first bad one. */
export function validateSourceTrainConfig(input: unknown, numImages: number): SourceTrainConfig {
  if (input !== undefined && (typeof input !== 'object' || input === null)) throw expectedType('an options object', 'options', input);
  const c = { ...DEFAULT_SOURCE_TRAIN, ...(input as Partial<SourceTrainConfig> | undefined) };
  const o = 'options.';
  const betas = c.betas;
  if (!Array.isArray(betas) || betas.length !== 2) throw expectedType('a pair [beta1, beta2]', `${o}betas`, betas);
  betas.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) throw expectedRange('a number in [0, 1)', `${o}betas[${i}]`, b);
  });
  const labelSmoothing = finite(c.labelSmoothing, `${o}labelSmoothing`, 0, false);
  if (labelSmoothing >= 1) throw expectedRange('a number in [0, 1)', `${o}labelSmoothing`, labelSmoothing);
  const lrDecayRate = finite(c.lrDecayRate, `${o}lrDecayRate`, 0, false);
  if (lrDecayRate > 1) throw expectedRange('a number in [0, 1]', `${o}lrDecayRate`, lrDecayRate);
  if (!Number.isInteger(c.seed)) throw expectedType('an integer', `${o}seed`, c.seed);
  const imagesPerBatch = positiveInt(c.imagesPerBatch, `${o}imagesPerBatch`);
  let batches: number[][] | undefined;
  if (c.batches !== undefined) {
    if (!Array.isArray(c.batches) || c.batches.length === 0) throw expectedType('a non-empty array of image id arrays', `${o}batches`, c.batches);
    batches = c.batches.map((b, i) => {
      if (!Array.isArray(b) || b.length === 0) throw expectedType('a non-empty array of image ids', `${o}batches[${i}]`, b);
      for (const id of b) {
        if (!Number.isInteger(id) || id < 0 || id >= numImages) throw expectedRange(`image ids in [0, ${numImages})`, `${o}batches[${i}]`, id);
      }
      return [...b];
    });
  } else if (c.dropLast && imagesPerBatch > numImages) {
    throw expectedRange(`at most ${numImages} images per batch (the data set's size) or dropLast false`, `${o}imagesPerBatch`, imagesPerBatch);
  }
  const sampling = samplingOptions(c.positionsPerImage, c.positionFraction, o);
  const timing = {
    ...(c.timeBudget === undefined ? {} : { timeBudget: finite(c.timeBudget, `${o}timeBudget`, 0, true) }),
    ...(c.preview === undefined ? {} : { preview: bool(c.preview, `${o}preview`) }),
    ...(c.dryRun === undefined ? {} : { dryRun: bool(c.dryRun, `${o}dryRun`) }),
    ...(c.probeIterations === undefined ? {} : { probeIterations: positiveInt(c.probeIterations, `${o}probeIterations`) }),
    ...(c.calibrationImages === undefined ? {} : { calibrationImages: positiveInt(c.calibrationImages, `${o}calibrationImages`) }),
  };
  return {
    ...sampling,
    ...timing,
    metaEpochs: positiveInt(c.metaEpochs, `${o}metaEpochs`),
    subEpochs: positiveInt(c.subEpochs, `${o}subEpochs`),
    imagesPerBatch,
    lr: finite(c.lr, `${o}lr`, 0, true),
    lrDecayRate,
    cosine: bool(c.cosine, `${o}cosine`),
    warmEpochs: nonNegativeInt(c.warmEpochs, `${o}warmEpochs`),
    stage1Epochs: nonNegativeInt(c.stage1Epochs, `${o}stage1Epochs`),
    centreLrRatio: finite(c.centreLrRatio, `${o}centreLrRatio`, 0, true),
    weightLrRatio: finite(c.weightLrRatio, `${o}weightLrRatio`, 0, true),
    weightDecay: finite(c.weightDecay, `${o}weightDecay`, 0, false),
    betas: [betas[0], betas[1]],
    eps: finite(c.eps, `${o}eps`, 0, true),
    lambda1: finite(c.lambda1, `${o}lambda1`, 0, false),
    lambda2: finite(c.lambda2, `${o}lambda2`, 0, false),
    labelSmoothing,
    seed: c.seed,
    shuffle: bool(c.shuffle, `${o}shuffle`),
    dropLast: bool(c.dropLast, `${o}dropLast`),
    batches,
  };
}
