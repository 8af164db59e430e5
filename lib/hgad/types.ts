// The data a model trains on and the scores it returns, shared by the model,
// its training loop, its scoring and the worker that runs them.
import type { Flow } from '../nn/flow';
import type { Head, MixtureLossTerms } from '../nn/heads';

/** Training vectors of one level: features (N, C) row-major, class ids (N), condition (N, P) when P > 0. */
export interface LevelData {
  features: Float32Array;
  labels: Int32Array;
  cond?: Float32Array | null;
}

/** Vectors to score at one level: features (N, C), condition (N, P) when P > 0. */
export interface LevelInput {
  features: Float32Array;
  cond?: Float32Array | null;
}

/** Per-class normalisers of logp fitted on the training data: mean and standard deviation (K each). */
export interface Calibration {
  mean: Float64Array;
  std: Float64Array;
  /**
   * Training vectors of each class (K), or null for model files written
   * before counts were recorded. A class with fewer than 2 has no real
   * normaliser (mean 0, std 1 stand in), so its calibrated scores are NaN.
   */
  count: Float64Array | null;
  /**
   * Per class and position of an image-trained level: mean and standard
   * deviation (K*h*w each, class-major) of the training logp at each of the
   * level's h x w positions, or absent (vector-trained models, older files).
   */
  positions?: PositionCalibration | null;
  /**
   * The class-free marginal's normalisers (one class: mean, std, count of 1
   * value each, positions (1, h, w) on images), fitted on every training
   * vector; absent in files from before class-free scoring.
   */
  marginal?: Calibration | null;
}

/** How a model scores without a class id (see lib/hgad/class_free.ts). */
export type ClassFreeRule = 'inferred' | 'marginal';

/** What class-free scoring inferred, per scored item (vector or image). */
export interface ClassFree {
  rule: ClassFreeRule;
  /** the class with the highest mean log-posterior */
  classes: Int32Array;
  /** its probability: softmax over classes of the mean log-posteriors */
  posterior: Float32Array;
}

export interface PositionCalibration {
  height: number;
  width: number;
  /** (K, h, w) */
  mean: Float64Array;
  /** (K, h, w), floored at 1e-3 */
  std: Float64Array;
}

export interface Level {
  flow: Flow;
  /** what follows the flow: the model kind's head (lib/nn/heads) */
  head: Head;
  calibration: Calibration | null;
}

export type StepLosses = MixtureLossTerms & { loss: number };

/** Reported after every optimizer step (one level of one batch) of the training loop. */
export interface TrainProgress {
  /** 0-based */
  metaEpoch: number;
  metaEpochs: number;
  subEpoch: number;
  subEpochs: number;
  /** batch within the sub-epoch */
  iteration: number;
  iterations: number;
  level: number;
  levels: number;
  stage: 1 | 2;
  /** the flows' learning rate in this step */
  lr: number;
  /** every Adam group's learning rate in this step: [flows, centres, mixture weights] */
  groupLr: number[];
  losses: StepLosses;
  /** vectors (positions) of this step per second */
  vectorsPerSecond: number;
  /** seconds left at the mean rate so far */
  etaSeconds: number;
  /** 0-based optimizer step, out of `steps` */
  step: number;
  steps: number;
  /** with a time budget: seconds of it left */
  budgetLeftSeconds?: number;
  /** the same as metaEpoch / metaEpochs, for progress displays of plain epochs */
  epoch: number;
  epochs: number;
}

/** Progress of fit on vectors: the same reports (every vector a 1x1 image). */
export type FitProgress = TrainProgress;

export interface FitSummary {
  seconds: number;
  finalLosses: (MixtureLossTerms & { loss: number })[];
  /** What the caller should know about this fit (classes too small to calibrate, a run that never reached stage 2); one line each. */
  warnings: string[];
}

export interface LevelScores {
  /** log-likelihood under the class's intra-class mixture divided by C (higher = more normal) */
  logp: Float32Array;
  /** minus the entropy of the inter-class posterior (higher = more certain) */
  negEntropy: Float32Array;
}

export interface Scores {
  levels: LevelScores[];
  /** Batch-independent anomaly score: mean over levels of -(logp - mean_c) / std_c with the training normalisers. */
  calibrated: Float32Array | null;
  /** Class ids among those scored whose calibration rests on fewer than 2 training vectors: their calibrated scores are NaN. */
  uncalibratedClasses: number[];
  /** The reference's fusion: (max P - P) * (max E - E) with P, E the level sums of exp(x - max x) of logp and negEntropy, over this batch. */
  fusion: Float32Array | null;
  /** Present when scored without class ids: the rule and the inferred classes. */
  classFree?: ClassFree;
}
