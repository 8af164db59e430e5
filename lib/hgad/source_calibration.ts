// The per-class normalisers of logp (see calibration.ts), and those of the
// class-free marginal (class_free.ts), fitted on a feature source, streamed image batch by image batch: no more than one batch's
// vectors and conditions are in memory at a time.
import { FeatureSource } from '../data/feature_source';
import { positionalConditions } from '../nn/positional_encoding';
import type { HgadModel } from './model';
import { CalibrationSums, PositionCalibrationSums } from './calibration';
import { allClassScores } from './class_free';
import { Calibration } from './types';

/**
 * Each level's per-class mean and standard deviation (floored at 1e-3) of the
 * training positions' logp, and the same per class and position (h*w): the
 * normalisers of the batch-independent maps.
 */
export function calibrateFromSource(model: HgadModel, source: FeatureSource, imagesPerBatch: number): Calibration[] {
  const K = model.classes;
  const N = source.numImages;
  return model.config.levels.map(({ channels: C, condChannels: P }, l) => {
    const { height, width } = source.levels[l];
    const hw = height * width;
    const fromSource = P > 0 && !!source.levels[l].condChannels;
    const table = P > 0 && !fromSource ? positionalConditions(P, height, width) : null;
    const sums = new CalibrationSums(K);
    const positions = new PositionCalibrationSums(K, height, width);
    const marginal = new CalibrationSums(1);
    const marginalPositions = new PositionCalibrationSums(1, height, width);
    const B = Math.max(1, Math.min(imagesPerBatch, N));
    const features = new Float32Array(B * hw * C);
    const cond = P > 0 ? new Float32Array(B * hw * P) : null;
    const rowLabels = new Int32Array(B * hw);
    for (let start = 0; start < N; start += B) {
      const ids = Int32Array.from({ length: Math.min(B, N - start) }, (_, j) => start + j);
      const n = ids.length * hw;
      source.read(l, ids, features.subarray(0, n * C));
      if (cond && fromSource) source.readConditions!(l, ids, cond.subarray(0, n * P));
      else if (cond) for (let j = 0; j < ids.length; ++j) cond.set(table!, j * hw * P);
      for (let j = 0; j < ids.length; ++j) rowLabels.fill(source.labels[ids[j]], j * hw, (j + 1) * hw);
      const labels = rowLabels.subarray(0, n);
      const all = allClassScores(model, l, { features: features.subarray(0, n * C), cond: cond ? cond.subarray(0, n * P) : null });
      const logp = Float32Array.from(labels, (k, i) => all.logp[k * n + i]);
      sums.add(logp, labels);
      positions.add(logp, Int32Array.from(ids, (i) => source.labels[i]));
      const zeros = new Int32Array(n);
      marginal.add(all.marginal, zeros);
      marginalPositions.add(all.marginal, zeros.subarray(0, ids.length));
    }
    const perClass = sums.result();
    const m = marginal.result();
    return { ...perClass, positions: positions.result(perClass), marginal: { ...m, positions: marginalPositions.result(m) } };
  });
}
