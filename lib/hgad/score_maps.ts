// From feature maps (what a backbone returns, or precomputed .npy maps) to
// per-position scores and pixel anomaly maps: the scoring half of the image
// path. The flows run in the model's worker thread (HGAD.score); the maps are
// the native ops of lib/maps.
import type { Backend } from '../backend/types';
import type { Head } from '../nn/heads';
import { expectedRange, expectedType, isPositiveInteger } from '../errors';
import type { ModelConfig } from './config';
import type { Calibration, LevelInput, Scores } from './types';
import { calibratedMaps, fusedReferenceMaps, imageScoresFromMaps, LevelMap, referenceMaps } from '../maps/anomaly_map';
import { positionalConditions } from '../nn/positional_encoding';
import { isCalibratedKind, MAP_KINDS, MapKind } from './map_kind';
import type { ImageClassFree } from './class_free_maps';

/** One level's feature maps of B images: data (B, C, h, w) float32, NCHW, row-major, as extractors return it. */
export interface FeatureMap {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Per-position scores of B images, per level: (B, h, w) each. */
export interface PositionScores {
  logp: LevelMap[];
  negEntropy: LevelMap[];
  /** images scored without a class: the rule, the inferred classes (logp is then the rule's) */
  classFree?: ImageClassFree;
}

/**
 * Which map (and image score) to compute:
 *  - 'calibrated': batch-independent, (mean - logp) / std per level with
 *    the training normalisers of the class at each position (h*w) when the
 *    model holds them (fitted on images), else those of the class;
 *  - 'class-calibrated': the same with one normaliser per class,
 *    (mean_c - logp) / std_c per level with
 *    the training normalisers of the class, upsampled, summed and smoothed;
 *  - 'fused': the reference's logp map times its entropy map, relative to the
 *    scored set (score a class's whole test set at once);
 *  - 'logp': the reference's logp map alone (relative to the scored set).
 */
export type { MapKind } from './map_kind';
export { MAP_KINDS, isCalibratedKind } from './map_kind';

export interface MapsOptions {
  /** map (mask) size */
  height: number;
  width: number;
  kind?: MapKind;
  /** Gaussian smoothing, default 4 */
  sigma?: number;
  /** image score = mean of the topK highest pixels (default 1: the maximum) */
  topK?: number;
  backend?: Backend;
}

export interface ImageMaps {
  /** (B, height, width) float32, higher = more anomalous */
  maps: Float32Array;
  /** (B) */
  scores: Float64Array;
  kind: MapKind;
}

/** The model's per-vector inputs of B images: rows in (image, y, x) order, with the positional conditions. */
export function levelInputs(config: ModelConfig, levels: FeatureMap[], B: number): LevelInput[] {
  if (!isPositiveInteger(B)) throw expectedRange('a positive integer', 'images', B);
  if (!Array.isArray(levels) || levels.length !== config.levels.length) {
    throw expectedType(`${config.levels.length} feature levels (one per model level)`, 'levels', levels);
  }
  return levels.map((lv, l) => {
    const { channels: C, height: h, width: w, data } = lv;
    if (C !== config.levels[l].channels) throw expectedRange(`${config.levels[l].channels} channels (the model's level ${l})`, `levels[${l}].channels`, C);
    if (!isPositiveInteger(h) || !isPositiveInteger(w)) throw expectedRange('a positive height and width', `levels[${l}]`, `${h}x${w}`);
    if (!(data instanceof Float32Array) || data.length !== B * C * h * w) {
      throw expectedType(`a Float32Array of ${B * C * h * w} values (${B} x ${C} x ${h} x ${w})`, `levels[${l}].data`, data);
    }
    const area = h * w;
    const features = new Float32Array(B * area * C);
    for (let b = 0; b < B; ++b) {
      for (let c = 0; c < C; ++c) {
        const src = (b * C + c) * area;
        for (let p = 0; p < area; ++p) features[(b * area + p) * C + c] = data[src + p];
      }
    }
    const P = config.levels[l].condChannels;
    let cond: Float32Array | null = null;
    if (P > 0) {
      const table = positionalConditions(P, h, w);
      cond = new Float32Array(B * area * P);
      for (let b = 0; b < B; ++b) cond.set(table, b * area * P);
    }
    return { features, cond };
  });
}

/** Splits the model's per-vector scores back into (B, h, w) maps per level. */
export function positionScores(scores: Scores, levels: FeatureMap[], B: number): PositionScores {
  return {
    logp: scores.levels.map((s, l) => ({ data: s.logp, b: B, h: levels[l].height, w: levels[l].width })),
    negEntropy: scores.levels.map((s, l) => ({ data: s.negEntropy, b: B, h: levels[l].height, w: levels[l].width })),
  };
}

/** Concatenates the position scores of several batches of the same class (for set-relative maps). */
export function concatPositionScores(parts: PositionScores[]): PositionScores {
  if (parts.length === 1) return parts[0];
  const join = (key: 'logp' | 'negEntropy', l: number): LevelMap => {
    const first = parts[0][key][l];
    const b = parts.reduce((s, p) => s + p[key][l].b, 0);
    const data = new Float32Array(b * first.h * first.w);
    let offset = 0;
    for (const p of parts) {
      data.set(p[key][l].data, offset);
      offset += p[key][l].data.length;
    }
    return { data, b, h: first.h, w: first.w };
  };
  const L = parts[0].logp.length;
  const out: PositionScores = {
    logp: Array.from({ length: L }, (_, l) => join('logp', l)),
    negEntropy: Array.from({ length: L }, (_, l) => join('negEntropy', l)),
  };
  if (parts[0].classFree) out.classFree = concatClassFree(parts.map((p) => p.classFree!));
  return out;
}

/** One level's normalisers for a map: one mean and std for every position, or one per position (h*w). */
export interface MapCalibration {
  mean: Float64Array;
  std: Float64Array;
}

/**
 * Each level's map calibration for class classId: per position (h*w values,
 * from the training images) when perPosition and the level holds them, else
 * one mean and std for every position.
 */
export function classCalibration(calibrations: (Calibration | null)[], classId: number, perPosition = false): MapCalibration[] {
  return calibrations.map((c, l) => {
    if (!c) throw new RangeError(`Expected a calibrated model (fitted with calibration) for the calibrated map but level ${l} has none`);
    const pos = perPosition ? c.positions : null;
    if (pos) {
      const hw = pos.height * pos.width;
      return { mean: pos.mean.slice(classId * hw, (classId + 1) * hw), std: pos.std.slice(classId * hw, (classId + 1) * hw) };
    }
    return { mean: Float64Array.of(c.mean[classId]), std: Float64Array.of(c.std[classId]) };
  });
}

/** The map calibration a kind needs (null for the set-relative kinds). */
export function mapCalibration(calibrations: (Calibration | null)[], classId: number, kind: MapKind): MapCalibration[] | null {
  return isCalibratedKind(kind) ? classCalibration(calibrations, classId, kind === 'calibrated') : null;
}

/** Maps and image scores of B images of one class from their position scores. */
export function mapsFromScores(
  s: PositionScores,
  calibration: MapCalibration[] | null,
  options: MapsOptions,
  /** the model's head: one without an inter-class entropy maps 'fused' as its logp map */
  head: Pick<Head, 'hasEntropy'> = { hasEntropy: true },
): ImageMaps {
  const kind = options.kind ?? 'calibrated';
  if (!MAP_KINDS.includes(kind)) throw expectedRange(`one of ${MAP_KINDS.join(', ')}`, 'kind', kind);
  const opts = { height: options.height, width: options.width, sigma: options.sigma, backend: options.backend, dtype: 'float32' as const };
  let maps: Float32Array | Float64Array;
  if (isCalibratedKind(kind)) {
    if (!calibration) throw new RangeError('Expected a calibration for the calibrated map but received none');
    maps = calibratedMaps(s.logp, calibration, opts);
  } else if (kind === 'fused' && head.hasEntropy) maps = fusedReferenceMaps(s.logp, s.negEntropy, opts);
  else maps = referenceMaps(s.logp, opts);
  const B = s.logp[0].b;
  const f32 = maps instanceof Float32Array ? maps : Float32Array.from(maps);
  return { maps: f32, scores: imageScoresFromMaps(f32, B, options.height * options.width, options.topK ?? 1), kind };
}

/** Joins the class-free results of consecutive batches. */
export function concatClassFree(parts: ImageClassFree[]): ImageClassFree {
  if (parts.length === 1) return parts[0];
  const join = <T extends Int32Array | Float32Array>(pick: (p: ImageClassFree) => T, make: (n: number) => T): T => {
    const out = make(parts.reduce((s, p) => s + pick(p).length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(pick(p), o);
      o += pick(p).length;
    }
    return out;
  };
  const out: ImageClassFree = {
    rule: parts[0].rule,
    classes: join((p) => p.classes, (n) => new Int32Array(n)),
    posterior: join((p) => p.posterior, (n) => new Float32Array(n)),
  };
  if (parts[0].clusters) out.clusters = join((p) => p.clusters!, (n) => new Int32Array(n));
  return out;
}
