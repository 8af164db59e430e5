// Label-free training's clustering: k-means++ is a function of its inputs and
// seed, finds separated clusters, the silhouette picks their number and says
// K = 1 for one blob; the adjusted Rand index.
import test from 'ava';
import { adjustedRandIndex, chooseClusters, kmeans, SINGLE_CLUSTER_SILHOUETTE, silhouette } from '../lib/hgad/kmeans';
import { Random } from '../lib/random';

/** n points around each of the given centres (D = 4), spread s. */
function blobs(centres: number[][], n: number, s: number, seed: number) {
  const rng = new Random(seed);
  const D = 4;
  const x = new Float64Array(centres.length * n * D);
  const truth = new Int32Array(centres.length * n);
  centres.forEach((c, k) => {
    for (let i = 0; i < n; ++i) {
      truth[k * n + i] = k;
      for (let d = 0; d < D; ++d) x[(k * n + i) * D + d] = (c[d] ?? 0) + s * rng.normal();
    }
  });
  return { x, N: centres.length * n, D, truth };
}

const three = [[5, 0, 0, 0], [0, 5, 0, 0], [0, 0, 5, 0]];

test('k-means++ is deterministic for a seed and finds separated clusters', (t) => {
  const { x, N, D, truth } = blobs(three, 30, 0.5, 1);
  const a = kmeans(x, N, D, 3, { seed: 7 });
  const b = kmeans(x, N, D, 3, { seed: 7 });
  t.deepEqual(Array.from(a.assignment), Array.from(b.assignment));
  t.deepEqual(Array.from(a.centroids), Array.from(b.centroids));
  t.is(a.inertia, b.inertia);
  t.is(adjustedRandIndex(truth, a.assignment), 1);
  // overlapping data: other seeds may differ, the same seed may not
  const hard = blobs(three, 30, 3, 2);
  const runs = [kmeans(hard.x, hard.N, hard.D, 4, { seed: 3, restarts: 2 }), kmeans(hard.x, hard.N, hard.D, 4, { seed: 3, restarts: 2 })];
  t.deepEqual(Array.from(runs[0].assignment), Array.from(runs[1].assignment));
});

test('K chosen by the silhouette: 3 for three blobs, 1 for one blob (best silhouette below the threshold)', (t) => {
  const sep = blobs(three, 25, 0.5, 3);
  const c = chooseClusters(sep.x, sep.N, sep.D, { seed: 0, kMax: 6 });
  t.is(c.K, 3);
  t.is(c.chosenBy, 'silhouette');
  t.is(c.silhouettes.length, 5);
  t.true(c.silhouettes[1] > SINGLE_CLUSTER_SILHOUETTE);
  t.is(adjustedRandIndex(sep.truth, c.assignment), 1);
  t.true(Math.abs(silhouette(sep.x, sep.N, sep.D, c.assignment, 3) - c.silhouettes[1]) < 1e-12);

  const one = blobs([[0, 0, 0, 0]], 80, 1, 4);
  const single = chooseClusters(one.x, one.N, one.D, { seed: 0, kMax: 6 });
  t.true(Math.max(...single.silhouettes) < SINGLE_CLUSTER_SILHOUETTE, `silhouettes ${single.silhouettes.join(', ')}`);
  t.is(single.K, 1);
  t.true(single.assignment.every((a) => a === 0));
  const given = chooseClusters(one.x, one.N, one.D, { seed: 0, K: 2 });
  t.is(given.K, 2);
  t.is(given.chosenBy, 'given');
});

test('adjusted Rand index: 1 for the same partition under other names, about 0 for unrelated ones; bad inputs are one-line errors', (t) => {
  t.is(adjustedRandIndex([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 9, 9]), 1);
  const rng = new Random(5);
  const a = Int32Array.from({ length: 2000 }, () => rng.int(4));
  const b = Int32Array.from({ length: 2000 }, () => rng.int(4));
  t.true(Math.abs(adjustedRandIndex(a, b)) < 0.02);
  t.throws(() => adjustedRandIndex([0, 1], [0]), { instanceOf: RangeError });
  t.throws(() => kmeans(new Float64Array(4), 2, 2, 3), { instanceOf: RangeError, message: /Expected an integer in 1\.\.2/ });
  t.throws(() => kmeans(Float64Array.of(0, NaN), 1, 2, 1), { instanceOf: RangeError, message: /finite values/ });
});
