// Image- and pixel-level metrics of anomaly maps against ground-truth masks:
// image AUROC and F1-max (image score against the image labels: given, as the
// reference's folder labels, or else "the mask has a defect"),
// pixel AUROC and F1-max over every pixel of every image, and AUPRO, the
// area under the per-region overlap curve of the MVTec AD paper up to a
// false-positive rate of 0.3, normalised so that a perfect map gives 1.
import { expectedRange, expectedType, isPositiveInteger, received } from '../errors';
import { labelRegions8 } from './regions';
import { binaryCurve, curveAuroc, curveF1Max, sweepRanks } from './sweep';

export interface LocalisationInput {
  /** (n, height, width) anomaly maps, higher = more anomalous */
  maps: Float32Array | Float64Array;
  /** (n, height, width) ground truth, 0 (normal) or 1 (defect) */
  masks: Uint8Array;
  n: number;
  height: number;
  width: number;
  /** (n) image scores; the maximum of each map when absent */
  imageScores?: ArrayLike<number>;
  /**
   * (n) image labels, 0 (normal) or 1 (anomalous), as the reference's (by
   * folder: an image of a defect type with an empty mask is anomalous and
   * adds only normal pixels); when absent, an image is anomalous when its
   * mask has a defect pixel
   */
  imageLabels?: ArrayLike<number>;
}

export interface LocalisationMetrics {
  imageAuroc: number;
  pixelAuroc: number;
  aupro: number;
  imageF1Max: number;
  pixelF1Max: number;
  nNormal: number;
  nAnomalous: number;
  /** 8-connected ground-truth regions */
  regions: number;
}

/** Points of a curve for plotting: x and y of equal length. */
export interface CurvePoints {
  x: Float64Array;
  y: Float64Array;
}

export interface LocalisationCurves {
  imageRoc: CurvePoints;
  pixelRoc: CurvePoints;
  /** (FPR, PRO) from (0, 0) over every threshold (not cut at the limit) */
  pro: CurvePoints;
}

export interface LocalisationOptions {
  /** where the PRO curve is cut (default 0.3) */
  fprLimit?: number;
  /** also return the ROC and PRO curves */
  curves?: boolean;
}

export function checkLocalisationInput(input: LocalisationInput): void {
  if (typeof input !== 'object' || input === null) throw expectedType('an object {maps, masks, n, height, width}', 'input', input);
  const { maps, masks, n, height, width, imageScores } = input;
  for (const [k, v] of [['n', n], ['height', height], ['width', width]] as const) {
    if (!isPositiveInteger(v)) throw expectedRange('a positive integer', k, v);
  }
  const size = n * height * width;
  if (!(maps instanceof Float32Array || maps instanceof Float64Array) || maps.length !== size) {
    throw expectedType(`a Float32Array or Float64Array of ${size} values (n x height x width)`, 'maps', maps);
  }
  if (!(masks instanceof Uint8Array) || masks.length !== size) {
    throw expectedType(`a Uint8Array of ${size} values (n x height x width)`, 'masks', masks);
  }
  for (let i = 0; i < size; ++i) {
    if (masks[i] > 1) throw expectedRange('a binary mask (values 0 or 1)', `masks (image ${Math.floor(i / (height * width))})`, received(`the value ${masks[i]}`));
  }
  if (imageScores !== undefined && (typeof imageScores !== 'object' || imageScores === null || imageScores.length !== n)) {
    throw expectedType(`an array of ${n} image scores`, 'imageScores', imageScores);
  }
  const labels = input.imageLabels;
  if (labels !== undefined) {
    if (typeof labels !== 'object' || labels === null || labels.length !== n) throw expectedType(`an array of ${n} image labels`, 'imageLabels', labels);
    for (let i = 0; i < n; ++i) {
      if (labels[i] !== 0 && labels[i] !== 1) throw expectedRange('image labels 0 (normal) or 1 (anomalous)', `imageLabels[${i}]`, labels[i]);
    }
  }
}

/** (n) 1 where the image's mask has a defect pixel. */
function labelsFromMasks(masks: Uint8Array, n: number, area: number): Uint8Array {
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; ++i) {
    for (let p = i * area; p < (i + 1) * area; ++p) {
      if (masks[p]) {
        labels[i] = 1;
        break;
      }
    }
  }
  return labels;
}

/** The maximum of each (height, width) map: (n) */
export function mapMaxima(maps: ArrayLike<number>, n: number, area: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; ++i) {
    let m = -Infinity;
    for (let p = i * area; p < (i + 1) * area; ++p) if (maps[p] > m) m = maps[p];
    out[i] = m;
  }
  return out;
}

/**
 * AUPRO from one sweep: at each distinct threshold t (highest first),
 * FPR(t) = share of normal pixels >= t, PRO(t) = mean over regions of the
 * share of the region's pixels >= t. The curve starts at (0, 0), is cut at
 * `fprLimit` with PRO interpolated linearly there, integrated by trapezoids
 * and divided by `fprLimit`. Each region pixel adds 1/size to its rank's
 * overlap, so the whole curve costs one pass over the pixels.
 */
function proCurve(rank: Int32Array, T: number, masks: Uint8Array, region: Int32Array, sizes: Int32Array): CurvePoints {
  const fp = new Float64Array(T);
  const overlap = new Float64Array(T);
  let negatives = 0;
  for (let i = 0; i < rank.length; ++i) {
    if (masks[i] === 0) {
      fp[rank[i]] += 1;
      ++negatives;
    } else {
      overlap[rank[i]] += 1 / sizes[region[i]];
    }
  }
  const x = new Float64Array(T + 1);
  const y = new Float64Array(T + 1);
  let fpSum = 0;
  let overlapSum = 0;
  for (let k = 0; k < T; ++k) {
    fpSum += fp[k];
    overlapSum += overlap[k];
    x[k + 1] = negatives ? fpSum / negatives : 0;
    y[k + 1] = sizes.length ? overlapSum / sizes.length : 0;
  }
  return { x, y };
}

/** Normalised area under a curve from its first point up to x = limit (interpolated there). */
export function areaUpTo(curve: CurvePoints, limit: number): number {
  const { x, y } = curve;
  let area = 0;
  for (let k = 1; k < x.length; ++k) {
    const x0 = x[k - 1];
    if (x0 >= limit) break;
    let x1 = x[k];
    let y1 = y[k];
    if (x1 > limit) {
      y1 = y[k - 1] + ((y1 - y[k - 1]) * (limit - x0)) / (x1 - x0);
      x1 = limit;
    }
    area += ((x1 - x0) * (y[k - 1] + y1)) / 2;
  }
  return area / limit;
}

function rocPoints(tp: Float64Array, fp: Float64Array, positives: number, negatives: number): CurvePoints {
  const x = new Float64Array(tp.length + 1);
  const y = new Float64Array(tp.length + 1);
  for (let k = 0; k < tp.length; ++k) {
    x[k + 1] = negatives ? fp[k] / negatives : 0;
    y[k + 1] = positives ? tp[k] / positives : 0;
  }
  return { x, y };
}

/**
 * All localisation metrics of one set of maps (one class, or everything).
 * A metric that needs both normal and anomalous samples is NaN when one kind
 * is absent (e.g. a class tested on normal images only).
 */
export function localisationMetrics(input: LocalisationInput, options: LocalisationOptions = {}): LocalisationMetrics & { curves?: LocalisationCurves } {
  checkLocalisationInput(input);
  const fprLimit = options.fprLimit ?? 0.3;
  if (typeof fprLimit !== 'number' || !(fprLimit > 0 && fprLimit <= 1)) throw expectedRange('a number in (0, 1]', 'fprLimit', fprLimit);
  const { maps, masks, n, height, width } = input;
  const area = height * width;
  const imageScores = input.imageScores ?? mapMaxima(maps, n, area);
  const imageLabels = input.imageLabels ? Uint8Array.from(input.imageLabels) : labelsFromMasks(masks, n, area);
  const image = binaryCurve(sweepRanks(imageScores, 'imageScores'), imageLabels);
  const pixelSweep = sweepRanks(maps, 'maps');
  const pixel = binaryCurve(pixelSweep, masks);
  const { region, sizes } = labelRegions8(masks, n, height, width);
  const pro = proCurve(pixelSweep.rank, pixelSweep.thresholds.length, masks, region, sizes);
  const metrics = {
    imageAuroc: curveAuroc(image),
    pixelAuroc: curveAuroc(pixel),
    aupro: sizes.length && pixel.negatives ? areaUpTo(pro, fprLimit) : NaN,
    imageF1Max: curveF1Max(image),
    pixelF1Max: curveF1Max(pixel),
    nNormal: image.negatives,
    nAnomalous: image.positives,
    regions: sizes.length,
  };
  if (!options.curves) return metrics;
  return {
    ...metrics,
    curves: {
      imageRoc: rocPoints(image.tp, image.fp, image.positives, image.negatives),
      pixelRoc: rocPoints(pixel.tp, pixel.fp, pixel.positives, pixel.negatives),
      pro,
    },
  };
}
