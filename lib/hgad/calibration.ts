// Turning level scores into anomaly scores: the per-class normalisers fitted
// on the training data (batch-independent), and the reference's fusion of the
// levels over one batch.
import { Calibration, LevelScores, PositionCalibration } from './types';

/**
 * Per class and position sums of logp and logp^2 over whole images (each
 * image adds h*w rows in (y, x) order), then the mean and standard deviation
 * (floored at 1e-3). A class with fewer than 2 images takes its per-class
 * normaliser at every position.
 */
export class PositionCalibrationSums {
  private readonly sum: Float64Array;
  private readonly sq: Float64Array;
  private readonly images: Float64Array;

  constructor(readonly K: number, readonly height: number, readonly width: number) {
    this.sum = new Float64Array(K * height * width);
    this.sq = new Float64Array(K * height * width);
    this.images = new Float64Array(K);
  }

  /** logp: (n*h*w) the rows of n whole images; imageLabels: (n) */
  add(logp: ArrayLike<number>, imageLabels: ArrayLike<number>): void {
    const hw = this.height * this.width;
    for (let j = 0; j < imageLabels.length; ++j) {
      const k = imageLabels[j];
      this.images[k] += 1;
      for (let p = 0; p < hw; ++p) {
        const v = logp[j * hw + p];
        this.sum[k * hw + p] += v;
        this.sq[k * hw + p] += v * v;
      }
    }
  }

  result(perClass: Calibration): PositionCalibration {
    const { K, height, width, sum, sq, images } = this;
    const hw = height * width;
    const mean = new Float64Array(K * hw);
    const std = new Float64Array(K * hw);
    for (let k = 0; k < K; ++k) {
      const n = images[k];
      for (let p = 0; p < hw; ++p) {
        const i = k * hw + p;
        if (n < 2) {
          mean[i] = perClass.mean[k];
          std[i] = perClass.std[k];
          continue;
        }
        mean[i] = sum[i] / n;
        std[i] = Math.max(Math.sqrt(Math.max(0, sq[i] / n - mean[i] * mean[i])), 1e-3);
      }
    }
    return { height, width, mean, std };
  }
}

/**
 * Per-class sums of logp and logp^2, added batch by batch (in the order the
 * vectors come), then the mean and standard deviation (floored at 1e-3).
 */
export class CalibrationSums {
  private readonly sum: Float64Array;
  private readonly sq: Float64Array;
  private readonly count: Float64Array;

  constructor(readonly K: number) {
    this.sum = new Float64Array(K);
    this.sq = new Float64Array(K);
    this.count = new Float64Array(K);
  }

  /** logp: (n)  labels: (n) class ids in [0, K) */
  add(logp: ArrayLike<number>, labels: ArrayLike<number>): void {
    for (let i = 0; i < logp.length; ++i) {
      const k = labels[i];
      this.sum[k] += logp[i];
      this.sq[k] += logp[i] * logp[i];
      this.count[k] += 1;
    }
  }

  result(): Calibration {
    const { K, sum, sq, count } = this;
    const mean = new Float64Array(K);
    const std = new Float64Array(K);
    for (let k = 0; k < K; ++k) {
      mean[k] = count[k] > 0 ? sum[k] / count[k] : 0;
      const variance = count[k] > 1 ? Math.max(0, sq[k] / count[k] - mean[k] * mean[k]) : 1;
      std[k] = Math.max(Math.sqrt(variance), 1e-3);
    }
    return { mean, std, count: Float64Array.from(count) };
  }
}

/** Mean and standard deviation (floored at 1e-3) of each of K classes' training logp (N) with their labels (N). */
export function fitCalibration(logp: Float32Array, labels: Int32Array, K: number): Calibration {
  const sums = new CalibrationSums(K);
  sums.add(logp, labels);
  return sums.result();
}

/** Whether class k's normaliser was fitted on at least 2 vectors (unknown counts, from older files, count as fitted). */
export function classCalibrated(cal: Calibration, k: number): boolean {
  return cal.count === null || cal.count[k] >= 2;
}

/** The one-line warnings of a fit whose calibration has classes with 0 or 1 training vectors. */
export function calibrationWarnings(cal: Calibration, classNames: readonly string[]): string[] {
  const few = classNames.map((name, k) => ({ name, k })).filter(({ k }) => !classCalibrated(cal, k));
  if (few.length === 0) return [];
  const shown = few
    .slice(0, 10)
    .map(({ name, k }) => `${JSON.stringify(name)} (${cal.count![k]})`)
    .join(', ');
  return [
    `${few.length} class${few.length === 1 ? ' has' : 'es have'} fewer than 2 training vectors, too few to calibrate: ${shown}${few.length > 10 ? ', ...' : ''}; ` +
      'their calibrated scores are NaN (logp and negEntropy are still given)',
  ];
}

/**
 * Mean over levels of -(logp - mean_c) / std_c for N vectors of classes cls
 * (N), or null when a level has no calibration.
 */
export function calibratedScores(levels: LevelScores[], calibrations: (Calibration | null)[], cls: Int32Array): Float32Array | null {
  const N = cls.length;
  const calibrated = new Float32Array(N);
  for (let l = 0; l < levels.length; ++l) {
    const cal = calibrations[l];
    if (!cal) return null;
    for (let i = 0; i < N; ++i) {
      // A placeholder normaliser would give a plausible-looking wrong score.
      calibrated[i] += classCalibrated(cal, cls[i]) ? -(levels[l].logp[i] - cal.mean[cls[i]]) / cal.std[cls[i]] / levels.length : NaN;
    }
  }
  return calibrated;
}

/** The distinct class ids of cls (N) that some level cannot calibrate. */
export function uncalibratedClasses(calibrations: (Calibration | null)[], cls: Int32Array): number[] {
  const out = new Set<number>();
  for (const cal of calibrations) {
    if (!cal || cal.count === null) continue;
    for (let i = 0; i < cls.length; ++i) if (!classCalibrated(cal, cls[i])) out.add(cls[i]);
  }
  return [...out].sort((a, b) => a - b);
}

/** The reference's convert_to_anomaly_scores for vectors, per score kind, then the product of the two. */
export function referenceFusion(levels: LevelScores[]): Float32Array {
  const N = levels[0].logp.length;
  const normalToAnomaly = (pick: (s: LevelScores) => Float32Array) => {
    const sum = new Float64Array(N);
    for (const s of levels) {
      const v = pick(s);
      let mx = -Infinity;
      for (let i = 0; i < N; ++i) mx = Math.max(mx, v[i]);
      for (let i = 0; i < N; ++i) sum[i] += Math.exp(v[i] - mx);
    }
    let mx = -Infinity;
    for (let i = 0; i < N; ++i) mx = Math.max(mx, sum[i]);
    return sum.map((v) => mx - v);
  };
  const a = normalToAnomaly((s) => s.logp);
  const b = normalToAnomaly((s) => s.negEntropy);
  return Float32Array.from(a, (v, i) => v * b[i]);
}
