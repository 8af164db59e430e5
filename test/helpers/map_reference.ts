// An independent float64 JavaScript version of the reference's map chain
// (upsampling, scipy's Gaussian filter, max-normalisation), written loop by
// loop from the reference's definitions: the native kernels of
// native/cpu/anomaly_map.cc are checked against it on random inputs.
import { expectedRange, expectedType, isPositiveInteger } from '../../lib/errors';

export interface LevelLogLikelihoods {
  /** (b, h, w) row-major log-likelihoods of one feature level. */
  data: Float32Array | Float64Array;
  b: number;
  h: number;
  w: number;
}

export interface AnomalyMaps {
  /** (B, S, S) row-major anomaly maps, higher = more anomalous. */
  maps: Float64Array;
  /** (B) the maximum of each map. */
  imageScores: Float64Array;
}

/**
 * Bilinear resize of a (b, h, w) stack to (b, outH, outW) with PyTorch's
 * `F.interpolate(mode='bilinear', align_corners=True)` arithmetic, so corner
 * samples land exactly on the corner inputs.
 */
export function bilinearUpsampleAlignCorners(
  input: ArrayLike<number>,
  b: number,
  h: number,
  w: number,
  outH: number,
  outW: number,
): Float64Array {
  for (const [v, name] of [[b, 'b'], [h, 'h'], [w, 'w'], [outH, 'outH'], [outW, 'outW']] as const) {
    if (!isPositiveInteger(v)) throw expectedRange('a positive integer', name, v);
  }
  if (input === null || typeof input !== 'object' || input.length !== b * h * w) {
    throw expectedType(`an array-like of length ${b * h * w} (b*h*w)`, 'input', input);
  }
  const scaleH = outH > 1 ? (h - 1) / (outH - 1) : 0;
  const scaleW = outW > 1 ? (w - 1) / (outW - 1) : 0;
  const out = new Float64Array(b * outH * outW);
  for (let n = 0; n < b; ++n) {
    const src = n * h * w;
    const dst = n * outH * outW;
    for (let oy = 0; oy < outH; ++oy) {
      const ry = scaleH * oy;
      const y0 = Math.floor(ry);
      const y1 = y0 < h - 1 ? y0 + 1 : y0;
      const ly = ry - y0;
      for (let ox = 0; ox < outW; ++ox) {
        const rx = scaleW * ox;
        const x0 = Math.floor(rx);
        const x1 = x0 < w - 1 ? x0 + 1 : x0;
        const lx = rx - x0;
        const top = (1 - lx) * input[src + y0 * w + x0] + lx * input[src + y0 * w + x1];
        const bottom = (1 - lx) * input[src + y1 * w + x0] + lx * input[src + y1 * w + x1];
        out[dst + oy * outW + ox] = (1 - ly) * top + ly * bottom;
      }
    }
  }
  return out;
}

// scipy.ndimage's 'reflect' border (half-sample symmetric: d c b a | a b c d | d c b a),
// folded by its period so kernels wider than the image still index inside it.
function reflectIndex(k: number, n: number): number {
  const period = 2 * n;
  let r = k % period;
  if (r < 0) r += period;
  return r < n ? r : period - 1 - r;
}

function gaussianKernel(sigma: number, truncate: number): Float64Array {
  const radius = Math.trunc(truncate * sigma + 0.5);
  const kernel = new Float64Array(2 * radius + 1);
  if (radius === 0) {
    kernel[0] = 1;
    return kernel;
  }
  let sum = 0;
  for (let x = -radius; x <= radius; ++x) {
    const v = Math.exp((-0.5 / (sigma * sigma)) * x * x);
    kernel[x + radius] = v;
    sum += v;
  }
  for (let i = 0; i < kernel.length; ++i) kernel[i] /= sum;
  return kernel;
}

/**
 * `scipy.ndimage.gaussian_filter(image, sigma, truncate=truncate)` for one
 * (h, w) image with the default 'reflect' border: separable 1-D passes,
 * rows axis first, kernel radius int(truncate * sigma + 0.5).
 */
export function gaussianFilter2d(image: ArrayLike<number>, h: number, w: number, sigma: number, truncate = 4.0): Float64Array {
  if (!isPositiveInteger(h)) throw expectedRange('a positive integer', 'h', h);
  if (!isPositiveInteger(w)) throw expectedRange('a positive integer', 'w', w);
  if (image === null || typeof image !== 'object' || image.length !== h * w) {
    throw expectedType(`an array-like of length ${h * w} (h*w)`, 'image', image);
  }
  if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma < 0) throw expectedRange('a finite number >= 0', 'sigma', sigma);
  if (typeof truncate !== 'number' || !Number.isFinite(truncate) || truncate < 0) {
    throw expectedRange('a finite number >= 0', 'truncate', truncate);
  }
  const kernel = gaussianKernel(sigma, truncate);
  const radius = (kernel.length - 1) / 2;
  const tmp = new Float64Array(h * w);
  for (let y = 0; y < h; ++y) {
    for (let x = 0; x < w; ++x) {
      let acc = 0;
      for (let k = -radius; k <= radius; ++k) acc += kernel[k + radius] * image[reflectIndex(y + k, h) * w + x];
      tmp[y * w + x] = acc;
    }
  }
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; ++y) {
    const row = y * w;
    for (let x = 0; x < w; ++x) {
      let acc = 0;
      for (let k = -radius; k <= radius; ++k) acc += kernel[k + radius] * tmp[row + reflectIndex(x + k, w)];
      out[row + x] = acc;
    }
  }
  return out;
}

function maxOf(a: ArrayLike<number>, start: number, end: number): number {
  let m = -Infinity;
  for (let i = start; i < end; ++i) if (a[i] > m) m = a[i];
  return m;
}

/**
 * Anomaly maps from L levels of log-likelihoods. As in the reference, each
 * level is normalised by its maximum over the whole level tensor (all images
 * of the batch), and the summed probabilities are inverted against the
 * maximum over the whole summed tensor, so scores are comparable only within
 * the batch the maps were assembled from — pass the whole test set at once to
 * reproduce the reference's numbers.
 */
export function anomalyMapsJs(levels: LevelLogLikelihoods[], maskSize: number, sigma: number): AnomalyMaps {
  if (!Array.isArray(levels) || levels.length === 0) throw expectedType('a non-empty array of levels', 'levels', levels);
  if (!isPositiveInteger(maskSize)) throw expectedRange('a positive integer', 'maskSize', maskSize);
  const b = levels[0]?.b;
  if (!isPositiveInteger(b)) throw expectedRange('a positive integer', 'levels[0].b', b);
  const area = maskSize * maskSize;
  const sum = new Float64Array(b * area);
  levels.forEach((level, l) => {
    if (level === null || typeof level !== 'object') throw expectedType('a level object', `levels[${l}]`, level);
    if (level.b !== b) throw expectedRange(`the batch size of levels[0] (${b})`, `levels[${l}].b`, level.b);
    const { data, h, w } = level;
    if (!isPositiveInteger(h)) throw expectedRange('a positive integer', `levels[${l}].h`, h);
    if (!isPositiveInteger(w)) throw expectedRange('a positive integer', `levels[${l}].w`, w);
    if (!(data instanceof Float32Array || data instanceof Float64Array) || data.length !== b * h * w) {
      throw expectedType(`a Float32Array or Float64Array of length ${b * h * w} (b*h*w)`, `levels[${l}].data`, data);
    }
    const top = maxOf(data, 0, data.length);
    const prob = new Float64Array(data.length);
    for (let i = 0; i < data.length; ++i) prob[i] = Math.exp(data[i] - top);
    const up = bilinearUpsampleAlignCorners(prob, b, h, w, maskSize, maskSize);
    for (let i = 0; i < sum.length; ++i) sum[i] += up[i];
  });
  const top = maxOf(sum, 0, sum.length);
  for (let i = 0; i < sum.length; ++i) sum[i] = top - sum[i];
  const maps = new Float64Array(b * area);
  const imageScores = new Float64Array(b);
  for (let n = 0; n < b; ++n) {
    const filtered = gaussianFilter2d(sum.subarray(n * area, (n + 1) * area), maskSize, maskSize, sigma);
    maps.set(filtered, n * area);
    imageScores[n] = maxOf(filtered, 0, area);
  }
  return { maps, imageScores };
}
