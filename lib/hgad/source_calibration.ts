// The per-class normalisers of logp (see calibration.ts) fitted on a feature
// source, streamed image batch by image batch: no more than one batch's
// vectors and conditions are in memory at a time.
import { FeatureSource } from '../data/feature_source';
import { positionalConditions } from '../nn/positional_encoding';
import type { HgadModel } from './model';
import { CalibrationSums, PositionCalibrationSums } from './calibration';
import { scoreLevel } from './scoring';
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
      const { logp } = scoreLevel(model, l, { features: features.subarray(0, n * C), cond: cond ? cond.subarray(0, n * P) : null }, labels);
      sums.add(logp, labels);
      positions.add(logp, Int32Array.from(ids, (i) => source.labels[i]));
    }
    const perClass = sums.result();
    return { ...perClass, positions: positions.result(perClass) };
  });
}
