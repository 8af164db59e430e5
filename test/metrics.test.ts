import test from 'ava';
import { anomalyMaps } from '../lib/maps/anomaly_map';
import { bilinearUpsampleAlignCorners, gaussianFilter2d } from './helpers/map_reference';
import { auroc } from '../lib/metrics/auroc';
import { compare, loadGolden } from './helpers/golden';

const golden = loadGolden('maps_and_metrics');

// Deterministic PRNG so the brute-force comparison is reproducible.
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function pairwiseAuroc(scores: number[], labels: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; ++i) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; ++j) {
      if (labels[j] !== 0) continue;
      pairs += 1;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

test('auroc matches scikit-learn on the golden case with ties', (t) => {
  const { labels, scores, value } = golden.auroc;
  t.true(Math.abs(auroc(scores, labels) - value) <= 1e-12);
  t.true(Math.abs(auroc(Float32Array.from(scores), Uint8Array.from(labels)) - auroc(Float32Array.from(scores), labels)) === 0);
});

test('auroc hand cases', (t) => {
  t.is(auroc([0.1, 0.9], [0, 1]), 1);
  t.is(auroc([0.9, 0.1], [0, 1]), 0);
  t.is(auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5);
  // sklearn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
  t.is(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  // One positive tied with one of two negatives: (1 + 0.5) / 2.
  t.is(auroc([1, 1, 0], [1, 0, 0]), 0.75);
  t.is(auroc([-0, 0, 1], [1, 0, 1]), 0.75);
});

test('auroc equals the pairwise Mann-Whitney statistic on random data with ties', (t) => {
  const rand = lcg(7);
  for (let trial = 0; trial < 50; ++trial) {
    const n = 2 + Math.floor(rand() * 300);
    const levels = 1 + Math.floor(rand() * 20);
    const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : rand() < 0.3 ? 1 : 0));
    const scores = Array.from({ length: n }, () => Math.floor(rand() * levels) / levels - 0.5);
    const got = auroc(scores, labels);
    const want = pairwiseAuroc(scores, labels);
    if (Math.abs(got - want) > 1e-12) t.fail(`trial ${trial}: ${got} != ${want}`);
  }
  t.pass();
});

test('auroc rejects bad inputs', (t) => {
  t.throws(() => auroc([1, 2], [1, 1]), { instanceOf: RangeError, message: /both classes/ });
  t.throws(() => auroc([1, 2], [0, 0]), { instanceOf: RangeError, message: /both classes/ });
  t.throws(() => auroc([1, 2, 3], [0, 1]), { instanceOf: RangeError, message: /same length/ });
  t.throws(() => auroc([1, NaN, 3], [0, 1, 0]), { instanceOf: TypeError, message: /Expected a finite number for scores\[1\] but received NaN/ });
  t.throws(() => auroc([1, 2, Infinity], [0, 1, 0]), { instanceOf: TypeError, message: /scores\[2\]/ });
  t.throws(() => auroc([1, 2, 3], [0, 1, 2]), { instanceOf: RangeError, message: /labels\[2\]/ });
});

test('anomaly maps match the reference', (t) => {
  const ref = golden.anomaly_map;
  const levels = ref.level_logps.map((l: { shape: number[]; data: number[] }) => ({
    data: Float64Array.from(l.data),
    b: l.shape[0],
    h: l.shape[1],
    w: l.shape[2],
  }));
  const { maps, imageScores } = anomalyMaps(levels, ref.mask_size, ref.gaussian_sigma);
  t.deepEqual(ref.scores.shape, [levels[0].b, ref.mask_size, ref.mask_size]);
  const rm = compare(maps, ref.scores.data, 1e-9, 1e-7);
  t.true(rm.ok, JSON.stringify(rm));
  const ri = compare(imageScores, ref.image_scores.data, 1e-9, 1e-7);
  t.true(ri.ok, JSON.stringify(ri));

  // Float32 log-likelihoods are accepted and give the same maps to float32 precision.
  const f32 = anomalyMaps(
    levels.map((l: { data: Float64Array; b: number; h: number; w: number }) => ({ ...l, data: Float32Array.from(l.data) })),
    ref.mask_size,
    ref.gaussian_sigma,
  );
  t.true(compare(f32.maps, ref.scores.data, 1e-5, 1e-4).ok);
});

test('bilinear upsampling with align_corners keeps corners and interpolates linearly', (t) => {
  // 2x2 -> 3x3: corners stay, centre is the mean.
  const out = bilinearUpsampleAlignCorners([0, 2, 4, 6], 1, 2, 2, 3, 3);
  t.deepEqual(Array.from(out), [0, 1, 2, 2, 3, 4, 4, 5, 6]);
  // A linear ramp stays exactly linear.
  const ramp = bilinearUpsampleAlignCorners([0, 1, 2, 3], 1, 1, 4, 1, 7);
  t.true(compare(ramp, [0, 0.5, 1, 1.5, 2, 2.5, 3], 1e-15, 0).ok);
  t.throws(() => bilinearUpsampleAlignCorners([1, 2, 3], 1, 2, 2, 3, 3), { instanceOf: TypeError, message: /length 4/ });
});

test('gaussian filter follows scipy reflect semantics', (t) => {
  const rand = lcg(3);
  const h = 5;
  const w = 9;
  const img = Float64Array.from({ length: h * w }, () => rand());
  // Constant images are preserved by a normalised kernel under any border mode.
  const flat = gaussianFilter2d(new Float64Array(h * w).fill(2.5), h, w, 3);
  t.true(compare(flat, new Float64Array(h * w).fill(2.5), 1e-14, 0).ok);
  // Reflection is symmetric, so filtering a mirrored image gives the mirrored
  // result, here with a kernel radius (12) wider than the image.
  const mirrored = new Float64Array(h * w);
  for (let y = 0; y < h; ++y) for (let x = 0; x < w; ++x) mirrored[y * w + x] = img[y * w + (w - 1 - x)];
  const a = gaussianFilter2d(img, h, w, 3);
  const b = gaussianFilter2d(mirrored, h, w, 3);
  let worst = 0;
  for (let y = 0; y < h; ++y) for (let x = 0; x < w; ++x) worst = Math.max(worst, Math.abs(a[y * w + x] - b[y * w + (w - 1 - x)]));
  t.true(worst < 1e-14);
  // Values printed by scipy 1.17 gaussian_filter1d / gaussian_filter (reflect, truncate 4).
  const row = gaussianFilter2d([1, 2, 3], 1, 3, 1);
  t.true(compare(row, [1.4220737662726832, 2, 2.5779262337273168], 1e-15, 1e-14).ok, Array.from(row).join(','));
  const wide = gaussianFilter2d([1, 2, 3, 4, 0, 5, -1, 2], 2, 4, 2);
  const scipyWide = [1.8180476217158226, 1.9293109414431382, 2.0814534211579514, 2.185574996688281, 1.8143142217596477, 1.9235878803924726, 2.072841247509035, 2.174869669333652];
  t.true(compare(wide, scipyWide, 1e-15, 1e-14).ok, Array.from(wide).join(','));
  t.deepEqual(Array.from(gaussianFilter2d([1, 2, 3], 1, 3, 0)), [1, 2, 3]);
  t.throws(() => gaussianFilter2d([1, 2, 3], 1, 3, -1), { instanceOf: RangeError, message: /sigma/ });
});

test('anomalyMaps rejects bad inputs', (t) => {
  const level = { data: new Float64Array(8), b: 2, h: 2, w: 2 };
  t.throws(() => anomalyMaps([], 4, 1), { instanceOf: TypeError, message: /levels/ });
  t.throws(() => anomalyMaps([level], 0, 1), { instanceOf: RangeError, message: /maskSize/ });
  t.throws(() => anomalyMaps([level, { ...level, b: 1, data: new Float64Array(4) }], 4, 1), { instanceOf: RangeError, message: /levels\[1\]\.b/ });
  t.throws(() => anomalyMaps([{ ...level, data: new Float64Array(7) }], 4, 1), { instanceOf: TypeError, message: /levels\[0\]\.data/ });
  t.throws(() => anomalyMaps([{ ...level, h: 0 }], 4, 1), { instanceOf: RangeError, message: /levels\[0\]\.h/ });
});
