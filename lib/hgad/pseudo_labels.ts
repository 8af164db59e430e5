// Label-free training's classes: every training image pooled into one vector
// (each level's mean over its positions, divided by its norm, levels
// concatenated), clustered by k-means++ (lib/hgad/kmeans.ts), the clusters
// named cluster-0, cluster-1, ...; and the same pooling of a test image to
// find its cluster.
import { expectedRange, expectedType, isPositiveInteger } from '../errors';
import type { FeatureSource } from '../data/feature_source';
import type { PseudoLabels } from './config';
import { chooseClusters, ChosenClusters, nearestCentroids } from './kmeans';

export interface PseudoLabelOptions {
  /** the number of clusters; default: chosen by the silhouette over 2..kMax, or 1 (see chooseClusters) */
  K?: number;
  /** the largest K tried when K is not given (default 10) */
  kMax?: number;
  /** k-means++ restarts per K (default 10) */
  restarts?: number;
}

export function checkPseudoLabelOptions(o: unknown): PseudoLabelOptions {
  if (o === true) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw expectedType('true or an object {K?, kMax?, restarts?}', 'options.pseudoLabels', o);
  const { K, kMax, restarts } = o as PseudoLabelOptions;
  for (const [name, v] of [['K', K], ['kMax', kMax], ['restarts', restarts]] as const) {
    if (v !== undefined && !isPositiveInteger(v)) throw expectedRange('a positive integer', `options.pseudoLabels.${name}`, v);
  }
  if (kMax !== undefined && kMax < 2) throw expectedRange('an integer >= 2', 'options.pseudoLabels.kMax', kMax);
  return { K, kMax, restarts };
}

export const clusterName = (k: number): string => `cluster-${k}`;

/**
 * Adds one image's level mean, divided by its norm, into out[offset..offset+C):
 * data holds the image's hw positions of C channels, as rows (hw, C) or, with
 * nchw, as planes (C, hw).
 */
function poolLevel(data: Float32Array, C: number, hw: number, nchw: boolean, out: Float64Array, offset: number): void {
  for (let c = 0; c < C; ++c) {
    let s = 0;
    if (nchw) for (let p = 0; p < hw; ++p) s += data[c * hw + p];
    else for (let p = 0; p < hw; ++p) s += data[p * C + c];
    out[offset + c] = s / hw;
  }
  let norm = 0;
  for (let c = 0; c < C; ++c) norm += out[offset + c] ** 2;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let c = 0; c < C; ++c) out[offset + c] /= norm;
}

/** The pooled vectors (numImages, D) of every image of a source, one image at a time. */
export function poolSource(source: FeatureSource): { x: Float64Array; N: number; D: number } {
  const D = source.levels.reduce((s, l) => s + l.channels, 0);
  const N = source.numImages;
  const x = new Float64Array(N * D);
  let offset = 0;
  source.levels.forEach(({ channels: C, height, width }, l) => {
    const hw = height * width;
    const buf = new Float32Array(hw * C);
    for (let i = 0; i < N; ++i) {
      source.read(l, Int32Array.of(i), buf);
      poolLevel(buf, C, hw, false, x, i * D + offset);
    }
    offset += C;
  });
  return { x, N, D };
}

/** Clusters a source's images; the clusters and the PseudoLabels a model records. */
export function clusterSource(source: FeatureSource, options: PseudoLabelOptions, seed: number): { clusters: ChosenClusters; pseudoLabels: PseudoLabels; classNames: string[] } {
  const { x, N, D } = poolSource(source);
  if (options.K !== undefined && options.K > N) throw expectedRange(`at most ${N} clusters (the training images)`, 'options.pseudoLabels.K', options.K);
  const clusters = N === 1 ? chooseClusters(x, N, D, { K: 1, seed }) : chooseClusters(x, N, D, { ...options, seed });
  return {
    clusters,
    pseudoLabels: { pooling: 'level-mean-l2', centroids: Array.from(clusters.centroids), chosenBy: clusters.chosenBy },
    classNames: Array.from({ length: clusters.K }, (_, k) => clusterName(k)),
  };
}

/** The cluster of each of B images given as NCHW feature maps (one per level), by the model's pseudo-labels. */
export function assignClusters(pseudo: PseudoLabels, levels: { data: Float32Array; channels: number; height: number; width: number }[], B: number): Int32Array {
  const D = levels.reduce((s, l) => s + l.channels, 0);
  const K = pseudo.centroids.length / D;
  const x = new Float64Array(B * D);
  let offset = 0;
  for (const { data, channels: C, height, width } of levels) {
    const hw = height * width;
    for (let b = 0; b < B; ++b) poolLevel(data.subarray(b * C * hw, (b + 1) * C * hw), C, hw, true, x, b * D + offset);
    offset += C;
  }
  return nearestCentroids(x, B, D, Float64Array.from(pseudo.centroids), K);
}
