// The per-class normalisers of logp (see calibration.ts), and those of the
// class-free marginal (class_free.ts), fitted on a feature source, streamed image batch by image batch: no more than one batch's
// vectors and conditions are in memory at a time. On every training image
// (the reference), or on at most n images of each class (calibrationIds):
// every position of each, so each position's normaliser still sees n
// images of its class.
import { FeatureSource } from '../data/feature_source';
import { positionalConditions } from '../nn/positional_encoding';
import type { HgadModel } from './model';
import { CalibrationSums, PositionCalibrationSums } from './calibration';
import { allClassScores } from './class_free';
import { Calibration } from './types';
import { Random } from '../random';

/**
 * The images the calibration reads: every image, or at most `perClass` of
 * each class drawn without replacement from `seed` (the same images for the
 * same seed), in ascending order (the cache is read front to back).
 */
export function calibrationIds(labels: Int32Array, K: number, perClass: number | undefined, seed: number): Int32Array {
  const N = labels.length;
  if (perClass === undefined) return Int32Array.from({ length: N }, (_, i) => i);
  const rng = new Random((seed ^ 0x2c1b3c6d) >>> 0);
  const byClass: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < N; ++i) byClass[labels[i]].push(i);
  const out: number[] = [];
  for (const ids of byClass) out.push(...rng.shuffle(Int32Array.from(ids)).subarray(0, Math.min(perClass, ids.length)));
  return Int32Array.from(out.sort((a, b) => a - b));
}

/**
 * Each level's per-class mean and standard deviation (floored at 1e-3) of the
 * training positions' logp, and the same per class and position (h*w): the
 * normalisers of the batch-independent maps.
 */
export function calibrateFromSource(model: HgadModel, source: FeatureSource, imagesPerBatch: number,
  images: Int32Array = Int32Array.from({ length: source.numImages }, (_, i) => i)): Calibration[] {
  const K = model.classes;
  const N = images.length;
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
      const ids = images.subarray(start, Math.min(start + B, N));
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

/**
 * Seconds the calibration of `images` will take, from a timing of its first
 * batch (every level; the results are dropped, the model is not changed).
 */
export function timeCalibration(model: HgadModel, source: FeatureSource, imagesPerBatch: number, images: Int32Array): number {
  const B = Math.max(1, Math.min(imagesPerBatch, images.length));
  const first = images.subarray(0, B);
  const started = process.hrtime.bigint();
  calibrateFromSource(model, source, imagesPerBatch, first);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return seconds * Math.ceil(images.length / B);
}
