// The pyramid's resize (--pyramid) against PyTorch: the reference's
// Encoder.forward halves and quarters the image with F.interpolate(...,
// mode='bilinear', align_corners=True). test/fixtures/resize/pyramid_resize.json
// holds random images of odd and even sides and torch's output for them
// (scripts/make_resize_fixture.py). Caches extracted with another resize are
// not reused.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { CACHE_FORMAT, CACHE_VERSION } from '../lib/data/feature_cache';
import { PYRAMID_RESIZE, PYRAMID_SCALES, pyramidSize, resizeBilinear } from '../lib/images/backbone';
import { cacheKey } from '../lib/images/extract';
import { Preprocessing } from '../lib/images/preprocess';
import type { FeatureExtractor } from '../lib/images/feature_extractor';

interface ResizeCase { size: number; scale: number; out: number; input: number[]; output: number[] }

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'resize', 'pyramid_resize.json'), 'utf8')) as { cases: ResizeCase[] };

test('the fixture covers odd and even sides at both pyramid scales', (t) => {
  const sides = new Set(fixture.cases.map((c) => c.size));
  t.true([...sides].some((S) => S % 2 === 1) && [...sides].some((S) => S % 2 === 0));
  for (const scale of PYRAMID_SCALES.filter((s) => s !== 1)) t.true(fixture.cases.some((c) => c.scale === scale), `scale ${scale}`);
});

for (const c of fixture.cases) {
  test(`resizeBilinear ${c.size} -> ${c.out} (scale ${c.scale}) matches F.interpolate(align_corners=True)`, (t) => {
    t.is(pyramidSize(c.size, c.scale), c.out, 'the level side is floor(S * scale), as torch sizes it');
    t.is(c.input.length, 3 * c.size * c.size);
    const out = resizeBilinear(Float32Array.from(c.input), c.size, c.out);
    t.is(out.length, c.output.length);
    // torch computes the source coordinates in float32 (hgad in float64): one
    // ulp of a coordinate near 13 moves a weight by ~1e-6, so the tolerance is
    // 1e-6 of the largest input value (the old align_corners = false resize
    // is off by whole pixel differences, ~1).
    const tol = 1e-6 * Math.max(1, ...c.input.map(Math.abs));
    let worst = 0;
    for (let i = 0; i < out.length; ++i) worst = Math.max(worst, Math.abs(out[i] - c.output[i]));
    t.true(worst <= tol, `worst |err| ${worst.toExponential(2)} > ${tol.toExponential(2)}`);
    t.log(`worst |err| ${worst.toExponential(2)}, tolerance ${tol.toExponential(2)}`);
  });
}

test('a pyramid cache key names the resize, so caches of another resize are not reused', (t) => {
  const record = { sha256: 'ab'.repeat(32), file: 'b.onnx', outputs: ['stage3'], pyramid: true };
  const backbone = { record } as unknown as FeatureExtractor;
  const images = [{ path: '/data/a.png', size: 10, mtimeMs: 1, classId: 0 }];
  const p: Preprocessing = { imageSize: 64, crop: 64, mean: [0, 0, 0], std: [1, 1, 1] };
  // The key the same extraction had before the resize was recorded in it.
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, version: CACHE_VERSION, dtype: 'float32', classNames: ['a'], backbone: record.sha256, outputs: record.outputs, pyramid: true, p }));
  for (const im of images) h.update(`\n${im.classId}\t${im.size}\t${im.mtimeMs}\t${im.path}`);
  t.not(cacheKey(images, ['a'], backbone, p, 'float32'), h.digest('hex'));
  t.is(PYRAMID_RESIZE, 'bilinear-align-corners-floor');
  // Without the pyramid the key does not change.
  const plain = { record: { ...record, pyramid: false } } as unknown as FeatureExtractor;
  const h2 = crypto.createHash('sha256');
  h2.update(JSON.stringify({ format: CACHE_FORMAT, version: CACHE_VERSION, dtype: 'float32', classNames: ['a'], backbone: record.sha256, outputs: record.outputs, pyramid: false, p }));
  for (const im of images) h2.update(`\n${im.classId}\t${im.size}\t${im.mtimeMs}\t${im.path}`);
  t.is(cacheKey(images, ['a'], plain, p, 'float32'), h2.digest('hex'));
});
