// Pixel anomaly maps from per-position scores of the feature levels, through
// the native anomaly-map ops (native/ops/anomaly_map.h) on a Backend (the CPU,
// or a GPU, where the maps stay on the device until read back).
//
// Two kinds of map:
//  * the reference's (`referenceMaps`, `fusedReferenceMaps`): per level
//    exp(v - max v) over the whole scored set, upsampled and summed, inverted
//    against the set's maximum, smoothed; the fusion multiplies the map of the
//    log-likelihoods by the map of the negative entropies. Reproduces the
//    paper's evaluation, but a map depends on every other image of the set.
//  * the calibrated one (`calibratedMaps`): each level's log-likelihood
//    standardised by statistics of the training data, (mean - logp) / std,
//    per class and optionally per position, then upsampled, summed and
//    smoothed. No batch statistic enters, so an image scored alone gets the
//    same map and score as in any batch, and a threshold holds across runs.
import { cpu } from '../backend/cpu';
import type { Backend, Storage } from '../backend/types';
import { expectedRange, expectedType, isPositiveInteger } from '../errors';

/** One level's per-position scores of B images: data (B, h, w) row-major. */
export interface LevelMap {
  data: Float32Array | Float64Array;
  b: number;
  h: number;
  w: number;
}

export interface MapOptions {
  /** output (mask) height and width */
  height: number;
  width: number;
  /** Gaussian smoothing (default 4, as the reference), 0 for none */
  sigma?: number;
  /** radius = int(truncate * sigma + 0.5) (default 4, scipy's) */
  truncate?: number;
  /** where the ops run (default the CPU) */
  backend?: Backend;
  /** float type on the CPU (default float32; devices compute in float32) */
  dtype?: 'float32' | 'float64';
}

const EXP_MINUS_MAX = 0;
const MAX_MINUS = 1;

function checkLevels(levels: LevelMap[], name: string): number {
  if (!Array.isArray(levels) || levels.length === 0) throw expectedType('a non-empty array of levels', name, levels);
  const b = levels[0]?.b;
  levels.forEach((level, l) => {
    if (level === null || typeof level !== 'object') throw expectedType('a level {data, b, h, w}', `${name}[${l}]`, level);
    for (const k of ['b', 'h', 'w'] as const) {
      if (!isPositiveInteger(level[k])) throw expectedRange('a positive integer', `${name}[${l}].${k}`, level[k]);
    }
    if (level.b !== b) throw expectedRange(`the image count of ${name}[0] (${b})`, `${name}[${l}].b`, level.b);
    const n = level.b * level.h * level.w;
    if (!(level.data instanceof Float32Array || level.data instanceof Float64Array) || level.data.length !== n) {
      throw expectedType(`a Float32Array or Float64Array of ${n} values (b*h*w)`, `${name}[${l}].data`, level.data);
    }
  });
  return b;
}

function resolve(options: MapOptions) {
  const { height, width } = options;
  if (!isPositiveInteger(height)) throw expectedRange('a positive integer', 'height', height);
  if (!isPositiveInteger(width)) throw expectedRange('a positive integer', 'width', width);
  const sigma = options.sigma ?? 4;
  const truncate = options.truncate ?? 4;
  if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma < 0) throw expectedRange('a finite number >= 0', 'sigma', sigma);
  if (typeof truncate !== 'number' || !Number.isFinite(truncate) || truncate < 0) throw expectedRange('a finite number >= 0', 'truncate', truncate);
  const be = options.backend ?? cpu;
  const dtype = be.device === 'cpu' ? (options.dtype ?? 'float32') : 'float32';
  return { height, width, sigma, truncate, be, dtype };
}

type Resolved = ReturnType<typeof resolve>;

/** Smooths `sum` (B, H, W) into a fresh storage (or returns it when sigma is 0). */
function smooth(r: Resolved, B: number, sum: Storage): Storage {
  if (r.sigma === 0) return sum;
  const n = B * r.height * r.width;
  const work = r.be.alloc(n, r.dtype);
  const out = r.be.alloc(n, r.dtype);
  r.be.gaussianBlur(B, r.height, r.width, r.sigma, r.truncate, sum, work, out);
  r.be.release(work);
  r.be.release(sum);
  return out;
}

/** The reference's convert_to_anomaly_scores, left on the backend: (B, H, W). */
function referenceOnBackend(levels: LevelMap[], r: Resolved): Storage {
  const B = levels[0].b;
  const { be, dtype, height: H, width: W } = r;
  const sum = be.alloc(B * H * W, dtype);
  const top = be.alloc(1, dtype);
  levels.forEach((level, l) => {
    const n = level.b * level.h * level.w;
    const x = be.fromHost(level.data, dtype);
    be.mapMax(n, x, top);
    be.mapShift(n, x, top, EXP_MINUS_MAX, x);
    be.upsampleBilinear(B, level.h, level.w, H, W, x, l === 0 ? 0 : 1, sum);
    be.release(x);
  });
  be.mapMax(B * H * W, sum, top);
  be.mapShift(B * H * W, sum, top, MAX_MINUS, sum);
  be.release(top);
  return smooth(r, B, sum);
}

function readBack(be: Backend, s: Storage): Float32Array | Float64Array {
  const host = be.toHost(s);
  be.release(s);
  return host as Float32Array | Float64Array;
}

/**
 * The reference's maps of one score (the per-position log-likelihoods, or
 * the negative entropies): (B, H, W), higher = more anomalous. The maxima are
 * over all B images: pass a class's whole test set to reproduce its numbers.
 */
export function referenceMaps(levels: LevelMap[], options: MapOptions): Float32Array | Float64Array {
  checkLevels(levels, 'levels');
  const r = resolve(options);
  return readBack(r.be, referenceOnBackend(levels, r));
}

/** The reference's fusion: the logp map times the negative-entropy map, (B, H, W). */
export function fusedReferenceMaps(logp: LevelMap[], negEntropy: LevelMap[], options: MapOptions): Float32Array | Float64Array {
  const B = checkLevels(logp, 'logp');
  if (checkLevels(negEntropy, 'negEntropy') !== B) throw expectedRange(`${B} images, as logp`, 'negEntropy[0].b', negEntropy[0].b);
  const r = resolve(options);
  const a = referenceOnBackend(logp, r);
  const b = referenceOnBackend(negEntropy, r);
  r.be.mapProduct(B * r.height * r.width, a, b, a);
  r.be.release(b);
  return readBack(r.be, a);
}

/**
 * Standardisation of one level's log-likelihoods from training data: per
 * position (h*w values each), one value for every position (length 1), or
 * per image and position (B*h*w).
 */
export interface LevelCalibration {
  mean: Float32Array | Float64Array;
  std: Float32Array | Float64Array;
}

/**
 * Batch-independent maps: per level (mean - logp) / std (higher = more
 * anomalous), upsampled, summed over levels and smoothed. The standardisation
 * runs at feature resolution (h*w per image, on the host); the pixel-sized
 * steps are the native ops.
 */
export function calibratedMaps(logp: LevelMap[], calibration: LevelCalibration[], options: MapOptions): Float32Array | Float64Array {
  const B = checkLevels(logp, 'logp');
  if (!Array.isArray(calibration) || calibration.length !== logp.length) {
    throw expectedType(`an array of ${logp.length} level calibrations`, 'calibration', calibration);
  }
  const r = resolve(options);
  const { be, dtype, height: H, width: W } = r;
  const sum = be.alloc(B * H * W, dtype);
  logp.forEach((level, l) => {
    const { mean, std } = calibration[l] ?? ({} as LevelCalibration);
    const area = level.h * level.w;
    for (const [k, v] of [['mean', mean], ['std', std]] as const) {
      if (!(v instanceof Float32Array || v instanceof Float64Array) || (v.length !== 1 && v.length !== area && v.length !== B * area)) {
        throw expectedType(`a Float32Array or Float64Array of 1, ${area} (h*w) or ${B * area} (B*h*w) values`, `calibration[${l}].${k}`, v);
      }
    }
    const z = dtype === 'float64' ? new Float64Array(level.data.length) : new Float32Array(level.data.length);
    // Per image and position (B*h*w): images scored class-free, each with its inferred class's normalisers.
    if (std.length !== mean.length) throw expectedRange(`${mean.length} values (as mean)`, `calibration[${l}].std`, `${std.length} values`);
    const perImage = mean.length === B * area;
    for (let i = 0; i < z.length; ++i) {
      const p = perImage ? i : i % area;
      const m = mean.length === 1 ? mean[0] : mean[p];
      const s = std.length === 1 ? std[0] : std[p];
      z[i] = (m - level.data[i]) / (s > 0 ? s : 1);
    }
    const x = be.fromHost(z, dtype);
    be.upsampleBilinear(B, level.h, level.w, H, W, x, l === 0 ? 0 : 1, sum);
    be.release(x);
  });
  return readBack(be, smooth(r, B, sum));
}

/**
 * Image scores from maps (B, area): the maximum (topK = 1, the reference) or
 * the mean of the topK highest pixels, which is less sensitive to one hot pixel.
 */
export function imageScoresFromMaps(maps: ArrayLike<number>, B: number, area: number, topK = 1): Float64Array {
  if (!isPositiveInteger(B)) throw expectedRange('a positive integer', 'B', B);
  if (!isPositiveInteger(area)) throw expectedRange('a positive integer', 'area', area);
  if (!isPositiveInteger(topK) || topK > area) throw expectedRange(`an integer in 1..${area}`, 'topK', topK);
  if (maps === null || typeof maps !== 'object' || maps.length !== B * area) throw expectedType(`an array of ${B * area} values (B*area)`, 'maps', maps);
  const out = new Float64Array(B);
  const buf = new Float64Array(area);
  for (let b = 0; b < B; ++b) {
    if (topK === 1) {
      let m = -Infinity;
      for (let p = b * area; p < (b + 1) * area; ++p) if (maps[p] > m) m = maps[p];
      out[b] = m;
      continue;
    }
    for (let p = 0; p < area; ++p) buf[p] = maps[b * area + p];
    buf.sort();
    let s = 0;
    for (let k = area - topK; k < area; ++k) s += buf[k];
    out[b] = s / topK;
  }
  return out;
}

/**
 * The reference's maps and image scores for one score kind (compatibility with
 * the earlier `anomalyMaps(levels, maskSize, sigma)`): square maps, float64.
 */
export function anomalyMaps(levels: LevelMap[], maskSize: number, sigma: number): { maps: Float64Array; imageScores: Float64Array } {
  if (!isPositiveInteger(maskSize)) throw expectedRange('a positive integer', 'maskSize', maskSize);
  const maps = referenceMaps(levels, { height: maskSize, width: maskSize, sigma, dtype: 'float64' }) as Float64Array;
  return { maps, imageScores: imageScoresFromMaps(maps, levels[0].b, maskSize * maskSize) };
}
