// k-means++ with seeded restarts, the silhouette, the choice of K and the
// adjusted Rand index, in plain TypeScript: label-free training clusters one
// pooled vector per training image (hundreds to a few thousand), so none of
// this needs native code.
import { expectedRange, expectedType, isPositiveInteger, received } from '../errors';
import { Random } from '../random';

export interface KMeansResult {
  K: number;
  /** (K, D) row-major */
  centroids: Float64Array;
  /** (N) cluster of each vector */
  assignment: Int32Array;
  /** sum of squared distances to the assigned centroid */
  inertia: number;
}

/** Squared Euclidean distance between row i of a (., D) and row j of b (., D). */
function dist2(a: Float64Array, i: number, b: Float64Array, j: number, D: number): number {
  let s = 0;
  for (let d = 0; d < D; ++d) {
    const t = a[i * D + d] - b[j * D + d];
    s += t * t;
  }
  return s;
}

/** The nearest of K centroids (K, D) to each of the N rows of x (N, D). */
export function nearestCentroids(x: Float64Array, N: number, D: number, centroids: Float64Array, K: number): Int32Array {
  const out = new Int32Array(N);
  for (let i = 0; i < N; ++i) {
    let best = 0;
    let bestD = Infinity;
    for (let k = 0; k < K; ++k) {
      const d = dist2(x, i, centroids, k, D);
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}

function checkVectors(x: unknown, N: number, D: number): void {
  if (!(x instanceof Float64Array)) throw expectedType('a Float64Array of N x D values', 'x', x);
  if (!isPositiveInteger(N) || !isPositiveInteger(D) || x.length !== N * D) throw expectedRange(`${N} x ${D} values`, 'x', received(`${x.length} values`));
  for (let i = 0; i < x.length; ++i) if (!Number.isFinite(x[i])) throw expectedRange('finite values', 'x', received(`${x[i]} at index ${i}`));
}

/** One k-means++ seeding then Lloyd iterations until no vector moves (at most maxIter). */
function kmeansOnce(x: Float64Array, N: number, D: number, K: number, rng: Random, maxIter: number): KMeansResult {
  const centroids = new Float64Array(K * D);
  const first = Math.min(N - 1, Math.floor(rng.uniform() * N));
  centroids.set(x.subarray(first * D, (first + 1) * D), 0);
  const closest = Float64Array.from({ length: N }, (_, i) => dist2(x, i, centroids, 0, D));
  for (let k = 1; k < K; ++k) {
    let total = 0;
    for (let i = 0; i < N; ++i) total += closest[i];
    let pick = N - 1;
    if (total > 0) {
      let r = rng.uniform() * total;
      for (let i = 0; i < N; ++i) {
        r -= closest[i];
        if (r < 0) {
          pick = i;
          break;
        }
      }
    } else pick = Math.min(N - 1, Math.floor(rng.uniform() * N));
    centroids.set(x.subarray(pick * D, (pick + 1) * D), k * D);
    for (let i = 0; i < N; ++i) closest[i] = Math.min(closest[i], dist2(x, i, centroids, k, D));
  }
  let assignment = nearestCentroids(x, N, D, centroids, K);
  for (let iter = 0; iter < maxIter; ++iter) {
    const sums = new Float64Array(K * D);
    const counts = new Float64Array(K);
    for (let i = 0; i < N; ++i) {
      counts[assignment[i]] += 1;
      for (let d = 0; d < D; ++d) sums[assignment[i] * D + d] += x[i * D + d];
    }
    for (let k = 0; k < K; ++k) {
      // An emptied cluster keeps its centroid (k-means++ seeds are data points, so this is rare).
      if (counts[k] > 0) for (let d = 0; d < D; ++d) centroids[k * D + d] = sums[k * D + d] / counts[k];
    }
    const next = nearestCentroids(x, N, D, centroids, K);
    const moved = next.some((v, i) => v !== assignment[i]);
    assignment = next;
    if (!moved) break;
  }
  let inertia = 0;
  for (let i = 0; i < N; ++i) inertia += dist2(x, i, centroids, assignment[i], D);
  return { K, centroids, assignment, inertia };
}

/**
 * k-means++ on N vectors x (N, D): `restarts` seeded runs (one Random from
 * `seed` for all, so the result is a function of the inputs and the seed),
 * the one with the least inertia kept (the first on ties).
 */
export function kmeans(x: Float64Array, N: number, D: number, K: number, options: { seed?: number; restarts?: number; maxIter?: number } = {}): KMeansResult {
  checkVectors(x, N, D);
  if (!isPositiveInteger(K) || K > N) throw expectedRange(`an integer in 1..${N} (the number of vectors)`, 'K', K);
  const restarts = options.restarts ?? 10;
  if (!isPositiveInteger(restarts)) throw expectedRange('a positive integer', 'restarts', restarts);
  const rng = new Random(options.seed ?? 0);
  let best: KMeansResult | null = null;
  for (let r = 0; r < restarts; ++r) {
    const run = kmeansOnce(x, N, D, K, rng, options.maxIter ?? 100);
    if (!best || run.inertia < best.inertia) best = run;
  }
  return best!;
}

/** Mean silhouette of an assignment with K >= 2 clusters (a vector alone in its cluster counts 0). */
export function silhouette(x: Float64Array, N: number, D: number, assignment: Int32Array, K: number): number {
  const dist = new Float64Array(N * N);
  for (let i = 0; i < N; ++i) for (let j = i + 1; j < N; ++j) dist[i * N + j] = dist[j * N + i] = Math.sqrt(dist2(x, i, x, j, D));
  const sizes = new Float64Array(K);
  for (let i = 0; i < N; ++i) sizes[assignment[i]] += 1;
  let total = 0;
  const sums = new Float64Array(K);
  for (let i = 0; i < N; ++i) {
    sums.fill(0);
    for (let j = 0; j < N; ++j) if (j !== i) sums[assignment[j]] += dist[i * N + j];
    const own = assignment[i];
    if (sizes[own] <= 1) continue;
    const a = sums[own] / (sizes[own] - 1);
    let b = Infinity;
    for (let k = 0; k < K; ++k) if (k !== own && sizes[k] > 0) b = Math.min(b, sums[k] / sizes[k]);
    if (!Number.isFinite(b)) continue;
    total += (b - a) / Math.max(a, b, 1e-12);
  }
  return total / N;
}

/** Below this best silhouette (over K = 2..Kmax) the data are taken as one cluster. */
export const SINGLE_CLUSTER_SILHOUETTE = 0.25;

export interface ChosenClusters extends KMeansResult {
  /** the silhouette of every K tried, from K = 2 (index 0) */
  silhouettes: number[];
  chosenBy: 'given' | 'silhouette';
}

/**
 * The clusters of x (N, D): with K given, k-means++ with that K; else the K in
 * 2..min(kMax, N - 1) with the highest mean silhouette, or K = 1 when that
 * silhouette is below SINGLE_CLUSTER_SILHOUETTE (no clear cluster structure).
 */
export function chooseClusters(x: Float64Array, N: number, D: number, options: { K?: number; kMax?: number; seed?: number; restarts?: number } = {}): ChosenClusters {
  const seed = options.seed ?? 0;
  if (options.K !== undefined) return { ...kmeans(x, N, D, options.K, { seed, restarts: options.restarts }), silhouettes: [], chosenBy: 'given' };
  checkVectors(x, N, D);
  const kMax = Math.min(options.kMax ?? 10, N - 1);
  const silhouettes: number[] = [];
  let best: KMeansResult | null = null;
  let bestS = -Infinity;
  for (let K = 2; K <= kMax; ++K) {
    const run = kmeans(x, N, D, K, { seed, restarts: options.restarts });
    const s = silhouette(x, N, D, run.assignment, K);
    silhouettes.push(s);
    if (s > bestS) {
      bestS = s;
      best = run;
    }
  }
  if (!best || bestS < SINGLE_CLUSTER_SILHOUETTE) return { ...kmeans(x, N, D, 1, { seed, restarts: 1 }), silhouettes, chosenBy: 'silhouette' };
  return { ...best, silhouettes, chosenBy: 'silhouette' };
}

/** The adjusted Rand index of two labellings of the same N items (1: identical partitions, about 0: chance). */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) throw expectedRange(`two labellings of the same length`, 'labels', received(`${a.length} and ${b.length}`));
  const N = a.length;
  const table = new Map<string, number>();
  const rows = new Map<number, number>();
  const cols = new Map<number, number>();
  for (let i = 0; i < N; ++i) {
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i], (rows.get(a[i]) ?? 0) + 1);
    cols.set(b[i], (cols.get(b[i]) ?? 0) + 1);
  }
  const c2 = (n: number) => (n * (n - 1)) / 2;
  let index = 0;
  for (const n of table.values()) index += c2(n);
  let sa = 0;
  for (const n of rows.values()) sa += c2(n);
  let sb = 0;
  for (const n of cols.values()) sb += c2(n);
  const expected = (sa * sb) / c2(N);
  const max = (sa + sb) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}
