import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { native } from '../lib/binding';
import { cpu } from '../lib/backend/cpu';
import type { Backend } from '../lib/backend/types';
import { calibratedMaps, fusedReferenceMaps, imageScoresFromMaps, LevelMap, referenceMaps } from '../lib/maps/anomaly_map';
import { localisationMetrics } from '../lib/metrics/localisation';
import { emulatedBackend } from './helpers/device';
import { compare } from './helpers/golden';
import { anomalyMapsJs, bilinearUpsampleAlignCorners, gaussianFilter2d } from './helpers/map_reference';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const chain: any[] = JSON.parse(
  zlib.gunzipSync(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'metrics', 'maps_chain.json.gz'))).toString('utf8'),
).cases;

const backends: [string, Backend][] = [
  ['cpu', cpu],
  ['emulated', emulatedBackend()],
];

function randn(n: number, scale = 1, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, () => shift + scale * (Math.random() * 2 - 1));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const levelsOf = (list: any[]): LevelMap[] =>
  list.map((l) => ({ data: Float64Array.from(l.data), b: l.shape[0], h: l.shape[1], w: l.shape[2] }));

test('native upsampling and blur equal the float64 JavaScript reference on random sizes (float64 and float32)', (t) => {
  for (let trial = 0; trial < 12; ++trial) {
    const B = 1 + Math.floor(Math.random() * 3);
    const h = 1 + Math.floor(Math.random() * 9);
    const w = 1 + Math.floor(Math.random() * 9);
    const H = 1 + Math.floor(Math.random() * 40);
    const W = 1 + Math.floor(Math.random() * 40);
    const x = randn(B * h * w);
    const want = bilinearUpsampleAlignCorners(x, B, h, w, H, W);
    for (const [dtype, tol] of [['float64', 1e-12], ['float32', 2e-6]] as const) {
      const xs = dtype === 'float64' ? x : Float32Array.from(x);
      const y = dtype === 'float64' ? new Float64Array(B * H * W).fill(NaN) : new Float32Array(B * H * W).fill(NaN);
      native.upsampleBilinear(B, h, w, H, W, xs, 0, y);
      const r = compare(y, want, tol, tol);
      t.true(r.ok, `upsample ${dtype} ${[B, h, w, H, W]}: ${JSON.stringify(r)}`);
      // beta = 1 accumulates onto what is there
      const acc = y.slice();
      native.upsampleBilinear(B, h, w, H, W, xs, 1, acc);
      t.true(compare(acc, Array.from(want, (v) => 2 * v), 2 * tol, tol).ok);
      const sigma = 0.5 + Math.random() * 5;
      const img = dtype === 'float64' ? randn(B * H * W) : Float32Array.from(randn(B * H * W));
      const out = img instanceof Float64Array ? new Float64Array(img.length).fill(NaN) : new Float32Array(img.length).fill(NaN);
      const work = out.slice();
      native.gaussianBlur(B, H, W, sigma, 4, img, work, out);
      for (let b = 0; b < B; ++b) {
        const ref = gaussianFilter2d(img.subarray(b * H * W, (b + 1) * H * W), H, W, sigma);
        const rb = compare(out.subarray(b * H * W, (b + 1) * H * W), ref, tol, tol);
        t.true(rb.ok, `blur ${dtype} sigma ${sigma} ${[H, W]}: ${JSON.stringify(rb)}`);
      }
    }
  }
});

test('the reference chain on the CPU and on the emulated CUDA backend matches the JavaScript reference on fresh inputs', (t) => {
  const B = 3;
  const levels: LevelMap[] = [
    { data: randn(B * 9 * 7, 0.5, -1), b: B, h: 9, w: 7 },
    { data: randn(B * 5 * 4, 0.5, -1), b: B, h: 5, w: 4 },
  ];
  const want = anomalyMapsJs(levels, 30, 4).maps;
  for (const [name, backend] of backends) {
    const got = referenceMaps(levels, { height: 30, width: 30, backend, dtype: 'float32' });
    const r = compare(got, want, 1e-6, 1e-5);
    t.true(r.ok, `${name}: ${JSON.stringify(r)}`);
  }
  const f64 = referenceMaps(levels, { height: 30, width: 30, dtype: 'float64' });
  t.true(compare(f64, want, 1e-12, 1e-10).ok);
});

test('the whole chain (logp map, entropy map, fusion, image scores, metrics) matches the reference evaluation', (t) => {
  t.true(chain.length >= 2);
  for (const c of chain) {
    const S = c.mask_size;
    const logp = levelsOf(c.level_logps);
    const negEntropy = levelsOf(c.level_neg_entropies);
    const B = logp[0].b;
    for (const [name, backend] of backends) {
      for (const dtype of name === 'cpu' ? (['float64', 'float32'] as const) : (['float32'] as const)) {
        const [atol, rtol] = dtype === 'float64' ? [1e-10, 1e-8] : [1e-5, 1e-4];
        const opts = { height: S, width: S, sigma: c.gaussian_sigma, backend, dtype };
        const label = `${name} ${dtype} S=${S}`;
        t.true(compare(referenceMaps(logp, opts), c.logp_maps.data, atol, rtol).ok, `${label} logp map`);
        t.true(compare(referenceMaps(negEntropy, opts), c.entropy_maps.data, atol, rtol).ok, `${label} entropy map`);
        const fused = fusedReferenceMaps(logp, negEntropy, opts);
        const rf = compare(fused, c.fused_maps.data, atol, rtol);
        t.true(rf.ok, `${label} fused map ${JSON.stringify(rf)}`);
        t.true(compare(imageScoresFromMaps(fused, B, S * S), c.image_scores.data, atol, rtol).ok, `${label} image scores`);
        if (dtype === 'float64') {
          const m = localisationMetrics({ maps: fused, masks: Uint8Array.from(c.masks.data), n: B, height: S, width: S });
          for (const [k, ref] of [['imageAuroc', c.image_auroc], ['pixelAuroc', c.pixel_auroc], ['aupro', c.aupro], ['imageF1Max', c.image_f1_max], ['pixelF1Max', c.pixel_f1_max]] as const) {
            t.true(Math.abs(m[k] - ref) <= 1e-9, `${label} ${k} ${m[k]} != ${ref}`);
          }
        }
      }
    }
  }
});

test('calibrated maps do not depend on the batch: an image alone gets the map it gets among others', (t) => {
  const B = 4;
  const levels: LevelMap[] = [
    { data: randn(B * 6 * 6, 1, -2), b: B, h: 6, w: 6 },
    { data: randn(B * 3 * 3, 1, -2), b: B, h: 3, w: 3 },
  ];
  const calibration = [
    { mean: randn(36, 0.2, -2), std: Float64Array.from(randn(36, 0.1, 0.5)) },
    { mean: Float64Array.of(-2), std: Float64Array.of(0.7) },
  ];
  for (const [name, backend] of backends) {
    const all = calibratedMaps(levels, calibration, { height: 24, width: 24, backend });
    for (let i = 0; i < B; ++i) {
      const alone = calibratedMaps(
        levels.map((l) => ({ ...l, b: 1, data: l.data.slice(i * l.h * l.w, (i + 1) * l.h * l.w) })),
        calibration,
        { height: 24, width: 24, backend },
      );
      t.true(compare(alone, all.subarray(i * 576, (i + 1) * 576), 0, 0).worstAbs === 0, `${name} image ${i}`);
    }
    // the reference maps, by contrast, move with the batch: they are scaled by
    // the batch maximum, which image 1 holds here (every other value is below -1)
    const peaked = levels.map((l) => {
      const data = l.data.slice();
      data[l.h * l.w] = 0;
      return { ...l, data };
    });
    const ref = referenceMaps(peaked, { height: 24, width: 24, backend });
    const refAlone = referenceMaps(peaked.map((l) => ({ ...l, b: 1, data: l.data.slice(0, l.h * l.w) })), { height: 24, width: 24, backend });
    t.false(compare(refAlone, ref.subarray(0, 576), 1e-6, 1e-6).ok);
  }
  // by hand: one level, one position per pixel, no smoothing: (mean - logp) / std
  const one = calibratedMaps([{ data: Float64Array.of(-1, -3), b: 2, h: 1, w: 1 }], [{ mean: Float64Array.of(-2), std: Float64Array.of(0.5) }], {
    height: 2, width: 2, sigma: 0, dtype: 'float64',
  });
  t.deepEqual(Array.from(one), [-2, -2, -2, -2, 2, 2, 2, 2]);
});

test('image scores: the maximum, or the mean of the top k', (t) => {
  const maps = Float32Array.of(1, 5, 3, 2, /**/ 0, -1, 4, 4);
  t.deepEqual(Array.from(imageScoresFromMaps(maps, 2, 4)), [5, 4]);
  t.deepEqual(Array.from(imageScoresFromMaps(maps, 2, 4, 2)), [4, 4]);
  t.deepEqual(Array.from(imageScoresFromMaps(maps, 2, 4, 4)), [2.75, 1.75]);
  t.throws(() => imageScoresFromMaps(maps, 2, 4, 5), { instanceOf: RangeError, message: /Expected an integer in 1\.\.4 for topK but received 5/ });
});

test('map ops reject bad arguments with one clear line', (t) => {
  const x = new Float32Array(8);
  t.throws(() => native.gaussianBlur(2, 2, 2, 0, 4, x, x.slice(), x.slice()), { instanceOf: RangeError, message: /Expected a number > 0 for sigma/ });
  t.throws(() => native.gaussianBlur(2, 2, 2, 1, 4, x, x, x.slice()), { instanceOf: RangeError, message: /Expected distinct arrays/ });
  t.throws(() => native.gaussianBlur(2, 2, 2, 2000, 4, x, x.slice(), x.slice()), { instanceOf: RangeError, message: /radius/ });
  t.throws(() => native.upsampleBilinear(2, 2, 2, 3, 3, x, 0, new Float32Array(17)), { instanceOf: RangeError, message: /Expected at least 18 elements for y but received 17/ });
  t.throws(() => native.mapShift(8, x, new Float32Array(1), 2, x), { instanceOf: RangeError, message: /for mode but received 2/ });
  t.throws(() => native.mapProduct(8, x, new Float64Array(8), x), { instanceOf: TypeError, message: /for b/ });
  t.throws(() => referenceMaps([], { height: 4, width: 4 }), { instanceOf: TypeError, message: /Expected a non-empty array of levels for levels/ });
  t.throws(() => referenceMaps([{ data: new Float32Array(4), b: 1, h: 2, w: 2 }], { height: 0, width: 4 }), { instanceOf: RangeError, message: /for height but received 0/ });
  t.throws(() => calibratedMaps([{ data: new Float32Array(4), b: 1, h: 2, w: 2 }], [{ mean: new Float32Array(3), std: new Float32Array(1) }], { height: 4, width: 4 }), {
    instanceOf: TypeError,
    message: /calibration\[0\]\.mean/,
  });
});
