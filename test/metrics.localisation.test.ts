import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { auroc } from '../lib/metrics/auroc';
import { localisationMetrics } from '../lib/metrics/localisation';
import { labelRegions8 } from '../lib/metrics/regions';
import { meanOverClasses, metricsJson } from '../lib/metrics/summary';
import { loadGolden } from './helpers/golden';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Case = any;

const close = (a: number, b: number, tol = 1e-12) => Math.abs(a - b) <= tol + tol * Math.abs(b);

function checkCase(t: import('ava').ExecutionContext, c: Case, label: string) {
  const [n, height, width] = c.masks.shape;
  const masks = Uint8Array.from(c.masks.data);
  for (const maps of [Float64Array.from(c.maps.data), Float32Array.from(c.maps.data)]) {
    const m = localisationMetrics({ maps, masks, n, height, width });
    const where = `${label} (${maps.constructor.name})`;
    // float32 keeps the 1e-2..1e-3 grid distinct, so the rates are the same
    t.true(close(m.imageAuroc, c.image_auroc), `${where} image AUROC ${m.imageAuroc} != ${c.image_auroc}`);
    t.true(close(m.pixelAuroc, c.pixel_auroc), `${where} pixel AUROC ${m.pixelAuroc} != ${c.pixel_auroc}`);
    t.true(close(m.imageF1Max, c.image_f1_max), `${where} image F1 ${m.imageF1Max} != ${c.image_f1_max}`);
    t.true(close(m.pixelF1Max, c.pixel_f1_max), `${where} pixel F1 ${m.pixelF1Max} != ${c.pixel_f1_max}`);
    t.true(close(m.aupro, c.aupro), `${where} AUPRO ${m.aupro} != ${c.aupro}`);
    t.is(m.regions, c.regions, where);
    t.is(m.nAnomalous, c.image_labels.reduce((a: number, b: number) => a + b, 0));
  }
}

test('localisation metrics match the reference case (scikit-learn, scipy regions)', (t) => {
  checkCase(t, loadGolden('localisation_metrics'), 'golden');
});

test('localisation metrics match the independent generator (literal per-threshold AUPRO, ties)', (t) => {
  const file = path.join(__dirname, '..', '..', 'test', 'fixtures', 'metrics', 'localisation_cases.json.gz');
  const { cases } = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
  t.true(cases.length >= 5);
  cases.forEach((c: Case, i: number) => checkCase(t, c, `case ${i}`));
});

test('8-connected regions: diagonal neighbours join, separate images never do', (t) => {
  // image 0: a diagonal line (one region) and an isolated pixel; image 1: a pixel at the shared border
  const m = Uint8Array.from([1, 0, 0, 0, /**/ 0, 1, 0, 1, /**/ 0, 0, 0, 0, /**/ 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const { region, sizes } = labelRegions8(m, 2, 3, 4);
  t.deepEqual(Array.from(sizes), [2, 1, 1]);
  t.is(region[0], region[5]);
  t.not(region[7], region[5]);
  t.is(region[12], 2);
});

test('perfect and inverted maps give the extreme values', (t) => {
  const n = 3;
  const h = 5;
  const w = 6;
  const masks = new Uint8Array(n * h * w);
  masks[h * w + 7] = masks[h * w + 8] = masks[2 * h * w + 20] = 1;
  const perfect = Float32Array.from(masks, (v) => v + 0.01);
  const p = localisationMetrics({ maps: perfect, masks, n, height: h, width: w });
  t.is(p.pixelAuroc, 1);
  t.is(p.imageAuroc, 1);
  t.is(p.aupro, 1);
  t.is(p.pixelF1Max, 1);
  const inverted = Float32Array.from(masks, (v) => 1 - v);
  const q = localisationMetrics({ maps: inverted, masks, n, height: h, width: w });
  t.is(q.pixelAuroc, 0);
  t.is(q.aupro, 0);
});

test('pixel AUROC over two million pixels agrees with the two-sorted-lists AUROC and takes seconds', (t) => {
  const n = 32;
  const h = 256;
  const w = 256;
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const masks = new Uint8Array(n * h * w);
  const maps = new Float32Array(n * h * w);
  for (let i = 0; i < maps.length; ++i) {
    masks[i] = (i >> 12) % 7 === 0 ? 1 : 0;
    maps[i] = Math.round((rand() + 0.3 * masks[i]) * 500) / 500;
  }
  const start = process.hrtime.bigint();
  const m = localisationMetrics({ maps, masks, n, height: h, width: w });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  t.true(seconds < 10, `took ${seconds} s`);
  t.true(close(m.pixelAuroc, auroc(maps, masks), 1e-12));
  t.true(m.aupro > 0 && m.aupro < 1);
});

test('per-class summary: the mean skips undefined rates and sums counts; JSON uses null', (t) => {
  const a = { imageAuroc: 0.8, pixelAuroc: 0.9, aupro: 0.7, imageF1Max: 0.6, pixelF1Max: 0.5, nNormal: 3, nAnomalous: 2, regions: 4 };
  const b = { ...a, imageAuroc: NaN, pixelAuroc: 0.7, nNormal: 5, nAnomalous: 0 };
  const mean = meanOverClasses({ a, b });
  t.is(mean.imageAuroc, 0.8);
  t.true(close(mean.pixelAuroc, 0.8));
  t.is(mean.nNormal, 8);
  const json = metricsJson({ a, b }, 'calibrated');
  t.is(json.classes.b.image_auroc, null);
  t.is(json.score, 'calibrated');
  t.deepEqual(Object.keys(json.mean).sort(), ['aupro', 'image_auroc', 'image_f1_max', 'n_anomalous', 'n_normal', 'pixel_auroc', 'pixel_f1_max']);
});

test('bad inputs: one clear error each', (t) => {
  const masks = new Uint8Array(8);
  const maps = new Float32Array(8);
  t.throws(() => localisationMetrics({ maps, masks: Uint8Array.from([0, 2, 0, 0, 0, 0, 0, 0]), n: 2, height: 2, width: 2 }), {
    instanceOf: RangeError,
    message: /Expected a binary mask \(values 0 or 1\) for masks \(image 0\) but received the value 2/,
  });
  t.throws(() => localisationMetrics({ maps: new Float32Array(7), masks, n: 2, height: 2, width: 2 }), { instanceOf: TypeError, message: /^Expected .* for maps/ });
  t.throws(() => localisationMetrics({ maps, masks, n: 0, height: 2, width: 2 }), { instanceOf: RangeError, message: /for n but received 0/ });
  const nan = new Float32Array(8);
  nan[3] = NaN;
  t.throws(() => localisationMetrics({ maps: nan, masks, n: 2, height: 2, width: 2 }), { message: /Expected finite numbers for maps\[3\] but received NaN/ });
});
