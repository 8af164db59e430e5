// The data a model trains on and the scores it returns, shared by the model,
// its training loop, its scoring and the worker that runs them.
import type { Flow } from '../nn/flow';
import type { GaussianMixture, MixtureLossTerms } from '../nn/mixture';

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
}

export interface Level {
  flow: Flow;
  mixture: GaussianMixture;
  calibration: Calibration | null;
}

export interface FitProgress {
  level: number;
  epoch: number;
  epochs: number;
  iteration: number;
  iterations: number;
  stage: 1 | 2;
  losses: MixtureLossTerms & { loss: number };
  lr: number;
  vectorsPerSecond: number;
}

export interface FitSummary {
  seconds: number;
  finalLosses: (MixtureLossTerms & { loss: number })[];
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
  /** The reference's fusion: (max P - P) * (max E - E) with P, E the level sums of exp(x - max x) of logp and negEntropy, over this batch. */
  fusion: Float32Array | null;
}
