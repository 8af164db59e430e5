// The one threshold sweep behind every curve metric: sort the scores once,
// give each sample the rank of its distinct value, and let each metric
// accumulate per-rank counts. A sweep over millions of pixels is then one
// native sort, one binary search per sample and one pass over the distinct
// thresholds, never one pass over all pixels per threshold.
import { expectedType } from '../errors';

export interface Sweep {
  /** distinct scores, highest first: (T) */
  thresholds: Float64Array;
  /** per sample, the index of its score in `thresholds`: (n) */
  rank: Int32Array;
}

/**
 * Ranks every score among the distinct scores, highest first. A least
 * significant digit radix sort (16-bit digits) over the order-preserving bit
 * patterns of the float64 values: linear in n, where the engine's typed-array
 * sort takes seconds for a few million pixels. Digits on which all keys agree
 * (the low half of float32 inputs, the exponent of maps in a narrow range)
 * cost one histogram and no pass.
 */
export function sweepRanks(scores: ArrayLike<number>, name = 'scores'): Sweep {
  const n = scores.length;
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const [loWord, hiWord] = little ? [0, 1] : [1, 0];
  let hi = new Uint32Array(n);
  let lo = new Uint32Array(n);
  let idx = new Int32Array(n);
  for (let i = 0; i < n; ++i) {
    const s = scores[i];
    if (!Number.isFinite(s)) throw expectedType('finite numbers', `${name}[${i}]`, s);
    // -0 and 0 are one threshold, as numpy's unique sees them.
    bits[0] = s === 0 ? 0 : s;
    let h = words[hiWord];
    let l = words[loWord];
    if (h & 0x80000000) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    } else {
      h = (h | 0x80000000) >>> 0;
    }
    hi[i] = h;
    lo[i] = l;
    idx[i] = i;
  }
  let hi2 = new Uint32Array(n);
  let lo2 = new Uint32Array(n);
  let idx2 = new Int32Array(n);
  const count = new Int32Array(65536);
  for (let pass = 0; pass < 4; ++pass) {
    const words32 = pass < 2 ? lo : hi;
    const shift = (pass & 1) * 16;
    count.fill(0);
    for (let i = 0; i < n; ++i) ++count[(words32[i] >>> shift) & 0xffff];
    if (n === 0 || count[(words32[0] >>> shift) & 0xffff] === n) continue;
    let total = 0;
    for (let d = 0; d < 65536; ++d) {
      const c = count[d];
      count[d] = total;
      total += c;
    }
    for (let i = 0; i < n; ++i) {
      const pos = count[(words32[i] >>> shift) & 0xffff]++;
      hi2[pos] = hi[i];
      lo2[pos] = lo[i];
      idx2[pos] = idx[i];
    }
    [hi, hi2] = [hi2, hi];
    [lo, lo2] = [lo2, lo];
    [idx, idx2] = [idx2, idx];
  }
  // ascending keys: walk from the top so that rank 0 is the highest score
  const rank = new Int32Array(n);
  const top = new Float64Array(n);
  let distinct = 0;
  for (let j = n - 1; j >= 0; --j) {
    if (j === n - 1 || hi[j] !== hi[j + 1] || lo[j] !== lo[j + 1]) top[distinct++] = scores[idx[j]] === 0 ? 0 : scores[idx[j]];
    rank[idx[j]] = distinct - 1;
  }
  return { thresholds: top.slice(0, distinct), rank };
}

export interface BinaryCurve {
  /** distinct thresholds, highest first: (T) */
  thresholds: Float64Array;
  /** true positives scoring >= thresholds[k]: (T) */
  tp: Float64Array;
  /** false positives scoring >= thresholds[k]: (T) */
  fp: Float64Array;
  positives: number;
  negatives: number;
}

/** Cumulative true and false positives at every distinct threshold. labels: (n) of 0/1 */
export function binaryCurve(sweep: Sweep, labels: ArrayLike<number>): BinaryCurve {
  const T = sweep.thresholds.length;
  const tp = new Float64Array(T);
  const fp = new Float64Array(T);
  const { rank } = sweep;
  for (let i = 0; i < rank.length; ++i) {
    if (labels[i]) tp[rank[i]] += 1;
    else fp[rank[i]] += 1;
  }
  for (let k = 1; k < T; ++k) {
    tp[k] += tp[k - 1];
    fp[k] += fp[k - 1];
  }
  return { thresholds: sweep.thresholds, tp, fp, positives: T ? tp[T - 1] : 0, negatives: T ? fp[T - 1] : 0 };
}

/**
 * ROC AUC by trapezoids over the distinct thresholds, as scikit-learn's
 * roc_auc_score (ties give diagonal segments). Twice the area is an integer
 * sum, exact below 2^53, divided once. NaN when one class is absent.
 */
export function curveAuroc(c: BinaryCurve): number {
  if (c.positives === 0 || c.negatives === 0) return NaN;
  let doubleArea = 0;
  let tpPrev = 0;
  let fpPrev = 0;
  for (let k = 0; k < c.tp.length; ++k) {
    doubleArea += (c.fp[k] - fpPrev) * (c.tp[k] + tpPrev);
    tpPrev = c.tp[k];
    fpPrev = c.fp[k];
  }
  return doubleArea / (2 * c.positives * c.negatives);
}

/**
 * The largest F1 over the thresholds of scikit-learn's precision_recall_curve:
 * F1 = 2 tp / (tp + fp + positives). NaN when there are no positives.
 */
export function curveF1Max(c: BinaryCurve): number {
  if (c.positives === 0) return NaN;
  let best = 0;
  for (let k = 0; k < c.tp.length; ++k) {
    const f1 = (2 * c.tp[k]) / (c.tp[k] + c.fp[k] + c.positives);
    if (f1 > best) best = f1;
  }
  return best;
}
