import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { heatmapPixels, heatmapPng, jet, writeMapFiles } from '../lib/maps/heatmap';
import { readNpy } from '../lib/io/npy';
import { localisationMetrics } from '../lib/metrics/localisation';
import { meanOverClasses } from '../lib/metrics/summary';
import { renderReport, thinCurve } from '../lib/report/html';

test('jet runs from blue through green to red', (t) => {
  t.deepEqual(jet(0), [0, 0, 128]);
  t.deepEqual(jet(0.5), [128, 255, 128]);
  t.deepEqual(jet(1), [128, 0, 0]);
  t.deepEqual(jet(-3), jet(0));
});

test('heat map: colour blended over the image, the mask outlined, interior left coloured', (t) => {
  const W = 6;
  const H = 5;
  const map = Float32Array.from({ length: W * H }, (_, i) => i);
  const mask = new Uint8Array(W * H);
  for (let y = 1; y <= 3; ++y) for (let x = 1; x <= 3; ++x) mask[y * W + x] = 1;
  const image = { data: new Uint8Array(W * H * 3).fill(200), width: W, height: H };
  const px = heatmapPixels({ map, width: W, height: H, image, mask, alpha: 0.5 });
  // first pixel: min of the map -> jet(0) = (0, 0, 128) blended with 200
  t.deepEqual(Array.from(px.data.subarray(0, 3)), [100, 100, 164]);
  // the mask's border pixel is white, its centre (2, 2) is not
  t.deepEqual(Array.from(px.data.subarray((1 * W + 1) * 3, (1 * W + 1) * 3 + 3)), [255, 255, 255]);
  t.notDeepEqual(Array.from(px.data.subarray((2 * W + 2) * 3, (2 * W + 2) * 3 + 3)), [255, 255, 255]);
  t.throws(() => heatmapPixels({ map, width: W, height: H, mask: new Uint8Array(3) }), { instanceOf: TypeError, message: /for mask/ });
  t.throws(() => heatmapPixels({ map: map.subarray(1), width: W, height: H }), { instanceOf: TypeError, message: /for map/ });
});

test('heat-map PNG decodes to the map size; .npy holds the raw float32 map', async (t) => {
  const W = 17;
  const H = 9;
  const map = Float32Array.from({ length: W * H }, () => Math.random());
  const png = await heatmapPng({ map, width: W, height: H });
  const meta = await sharp(png).metadata();
  t.is(meta.format, 'png');
  t.is(meta.width, W);
  t.is(meta.height, H);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-maps-'));
  const files = await writeMapFiles(path.join(dir, 'img_000'), { map, width: W, height: H });
  const npy = readNpy(files.npy);
  t.deepEqual(npy.shape, [H, W]);
  t.is(npy.dtype, 'float32');
  t.deepEqual(Array.from(npy.data as Float32Array), Array.from(map));
  t.deepEqual(fs.readdirSync(dir).sort(), ['img_000.npy', 'img_000.png']);
  await t.throwsAsync(() => writeMapFiles(path.join(dir, 'missing', 'x'), { map, width: W, height: H }));
  t.deepEqual(fs.readdirSync(dir).sort(), ['img_000.npy', 'img_000.png'], 'nothing half-written');
});

test('report: one file with the metric table, inline SVG curves and inline images, nothing fetched', async (t) => {
  const n = 4;
  const S = 8;
  const masks = new Uint8Array(n * S * S);
  masks[2 * S * S + 9] = masks[3 * S * S + 30] = 1;
  const maps = Float32Array.from(masks, (v) => v * 0.5 + Math.random());
  const m = localisationMetrics({ maps, masks, n, height: S, width: S }, { curves: true });
  const png = await heatmapPng({ map: maps.subarray(0, S * S), width: S, height: S });
  const html = renderReport({
    title: 'test <run>',
    scoreKind: 'fused',
    classes: [{ name: 'shirt', metrics: m, curves: m.curves, topNormal: [{ name: 'a.png', defect: 'good', score: 1.5, png }], bottomAnomalous: [] }],
    mean: meanOverClasses({ shirt: m }),
  });
  t.true(html.startsWith('<!DOCTYPE html>'));
  t.true(html.includes('test &lt;run&gt;'), 'text is escaped');
  t.is((html.match(/<svg /g) ?? []).length, 2);
  t.true(html.includes('data:image/png;base64,'));
  t.false(/(src|href)="(https?:)?\/\//.test(html), 'no network reference');
  t.true(html.includes(`<td>${(100 * m.pixelAuroc).toFixed(1)}</td>`));
});

test('thinCurve keeps the ends and at most the asked number of points', (t) => {
  const x = Float64Array.from({ length: 1000 }, (_, i) => i / 999);
  const c = thinCurve({ x, y: x }, 50);
  t.is(c.x.length, 50);
  t.is(c.x[0], 0);
  t.is(c.x[49], 1);
});
