// The class-free and label-free rows of FMNIST-U: the labelled model scored
// without class ids (rules inferred and marginal), and unified models trained
// on k-means++ clusters of the training vectors instead of their classes (K
// chosen by the silhouette on a seeded sample of 2000 vectors, and K = the
// true class count), scored class-free; each normal class against the
// anomalous classes, as the class-given rows.
import { HgadModel } from '../lib/hgad/model';
import { adjustedRandIndex, chooseClusters, kmeans } from '../lib/hgad/kmeans';
import type { ClassFreeRule } from '../lib/hgad/types';
import { auroc } from '../lib/metrics/auroc';
import { Random } from '../lib/random';

export interface FmnistTest {
  /** per normal class k: its test vectors */
  normal: Float32Array[];
  anomalous: Float32Array;
  D: number;
}

export interface ClassFreeFmnistRow {
  per_class: number[];
  mean: number;
  /** share of each normal class's test vectors whose inferred class is its own (labelled) or its majority cluster (label-free) */
  inference_normal: number;
}

/** Class-free AUROC of each normal class's test vectors against the anomalies; truth[k]: the model class that counts as right for class k. */
export function classFreeRow(model: HgadModel, data: FmnistTest, rule: ClassFreeRule, truth: number[]): ClassFreeFmnistRow {
  const anom = model.scoreSync([{ features: data.anomalous }], undefined, rule).calibrated!;
  let right = 0;
  let total = 0;
  const per_class = data.normal.map((features, k) => {
    const s = model.scoreSync([{ features }], undefined, rule);
    s.classFree!.classes.forEach((c) => {
      right += c === truth[k] ? 1 : 0;
      total += 1;
    });
    const scores = new Float32Array(s.calibrated!.length + anom.length);
    scores.set(s.calibrated!);
    scores.set(anom, s.calibrated!.length);
    const labels = new Uint8Array(scores.length).fill(1, s.calibrated!.length);
    return auroc(scores, labels);
  });
  return { per_class, mean: per_class.reduce((a, b) => a + b, 0) / per_class.length, inference_normal: right / total };
}

/** Pseudo-labels of N training vectors (N, D): K given, or chosen by the silhouette on a seeded sample of 2000. */
export function clusterVectors(features: Float32Array, N: number, D: number, seed: number, K?: number): { assignment: Int32Array; K: number; silhouettes: number[] } {
  const x = Float64Array.from(features);
  let silhouettes: number[] = [];
  if (K === undefined) {
    const rng = new Random(seed);
    const ids = rng.shuffle(Int32Array.from({ length: N }, (_, i) => i)).subarray(0, Math.min(N, 2000));
    const sample = new Float64Array(ids.length * D);
    ids.forEach((i, j) => sample.set(x.subarray(i * D, (i + 1) * D), j * D));
    const chosen = chooseClusters(sample, ids.length, D, { seed, restarts: 3 });
    K = chosen.K;
    silhouettes = chosen.silhouettes;
  }
  return { assignment: kmeans(x, N, D, K, { seed, restarts: 3 }).assignment, K, silhouettes };
}

/** Each true class's majority cluster, and the ARI of the clusters against the classes. */
export function agreement(labels: Int32Array, assignment: Int32Array, classes: number, K: number): { majority: number[]; ari: number } {
  const majority = Array.from({ length: classes }, (_, c) => {
    const counts = new Array<number>(K).fill(0);
    labels.forEach((l, i) => {
      if (l === c) counts[assignment[i]] += 1;
    });
    return counts.indexOf(Math.max(...counts));
  });
  return { majority, ari: adjustedRandIndex(labels, assignment) };
}
