// Image- and pixel-level ROC AUC, matching scikit-learn's roc_auc_score,
// including its treatment of tied scores.
import { expectedRange, expectedType } from '../errors';

/**
 * Area under the ROC curve of `scores` (higher = more anomalous) against
 * `labels` (1 = anomalous, 0 = normal).
 *
 * sklearn integrates the ROC curve by trapezoids over the distinct thresholds,
 * so a run of tied scores contributes a diagonal segment (half credit for
 * positive/negative ties). Twice that area is an integer sum, accumulated
 * exactly here (below ~1e8 samples) and divided once, so the result is the
 * correctly rounded rational value.
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (scores === null || typeof scores !== 'object' || typeof scores.length !== 'number') {
    throw expectedType('an array-like of numbers', 'scores', scores);
  }
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw expectedType('an array-like of 0/1 labels', 'labels', labels);
  }
  const n = scores.length;
  if (labels.length !== n) throw expectedRange(`labels of the same length as scores (${n})`, 'labels', labels);
  let positives = 0;
  for (let i = 0; i < n; ++i) {
    const s = scores[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) throw expectedType('a finite number', `scores[${i}]`, s);
    const l = Number(labels[i]);
    if (l !== 0 && l !== 1) throw expectedRange('0 or 1', `labels[${i}]`, labels[i]);
    positives += l;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw expectedRange('labels containing both classes (0 and 1)', 'labels', `only class ${positives === 0 ? 0 : 1}`);
  }

  // Sorting each class's scores separately uses the engine's native numeric
  // sort (no comparator), which matters for pixel-level AUROC over ~1e8 pixels.
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  for (let i = 0, a = 0, b = 0; i < n; ++i) {
    if (Number(labels[i]) === 1) pos[a++] = scores[i];
    else neg[b++] = scores[i];
  }
  pos.sort();
  neg.sort();

  let i = positives - 1;
  let j = negatives - 1;
  let doubleArea = 0;
  while (i >= 0 || j >= 0) {
    const threshold = Math.max(i >= 0 ? pos[i] : -Infinity, j >= 0 ? neg[j] : -Infinity);
    const tpPrev = positives - 1 - i;
    const fpPrev = negatives - 1 - j;
    while (i >= 0 && pos[i] === threshold) --i;
    while (j >= 0 && neg[j] === threshold) --j;
    doubleArea += (negatives - 1 - j - fpPrev) * (positives - 1 - i + tpPrev);
  }
  return doubleArea / (2 * positives * negatives);
}
