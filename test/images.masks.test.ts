// Ground-truth masks and test sets as the reference reads them: any non-zero
// colour value of a mask is a defect (whatever its depth, channel or
// palette), images are labelled by their folder, every test header is
// checked before scoring, and the mean over classes says which it averages.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { FormatError } from '../lib/errors';
import { indexDataset } from '../lib/images/dataset';
import { inspectDataset, inspectTestSet } from '../lib/images/inspect';
import { IMAGENET_MEAN, IMAGENET_STD, loadMask } from '../lib/images/preprocess';
import { localisationMetrics, LocalisationMetrics } from '../lib/metrics/localisation';
import { describeMean } from '../lib/metrics/summary';
import { makeMvtec, tempDir, writePng } from './helpers/mvtec';

type Meta = Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
const W = 12;
const P = { imageSize: W, crop: W, mean: IMAGENET_MEAN, std: IMAGENET_STD };
/** The defect: a 3x2 rectangle at rows 4..5, columns 6..8. */
const isDefect = (i: number) => Math.floor(i / W) >= 4 && Math.floor(i / W) < 6 && i % W >= 6 && i % W < 9;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function expectDefect(t: import('ava').ExecutionContext, m: Uint8Array, what: string): void {
  t.is(m.length, W * W, what);
  const wrong = [...m].filter((v, i) => v !== (isDefect(i) ? 1 : 0)).length;
  t.is(wrong, 0, `${what}: ${wrong} pixels read wrong (defect pixels read: ${[...m].filter((v) => v).length})`);
}

/** Each form of mask, written with the defect rectangle; the check that the file really is that form. */
const FORMS: [string, (file: string) => Promise<void>, (m: Meta) => boolean][] = [
  ['a grey mask of 1s', (f) => writePng(f, W, W, 1, Uint8Array.from({ length: W * W }, (_, i) => (isDefect(i) ? 1 : 0))), (m) => m.channels === 1],
  // 1 out of 65535 would become 0 at 8 bits
  ['a 16-bit mask of 1s', async (f) => {
    await sharp(Uint16Array.from({ length: W * W }, (_, i) => (isDefect(i) ? 1 : 0)), { raw: { width: W, height: W, channels: 1 } }).toColourspace('grey16').png().toFile(f);
  }, (m) => m.depth === 'ushort'],
  ['an RGB mask with the defect in green only', (f) => writePng(f, W, W, 3, greenDefect()), (m) => m.channels === 3 && !m.isPalette],
  ['a palette PNG whose defect colour is green', async (f) => {
    await sharp(Buffer.from(greenDefect()), { raw: { width: W, height: W, channels: 3 } }).png({ palette: true }).toFile(f);
  }, (m) => m.isPalette === true],
  // an opaque black pixel is normal: the alpha channel is not a colour
  ['a grey + alpha mask of 7s', async (f) => {
    const ga = Uint8Array.from({ length: W * W * 2 }, (_, k) => (k % 2 === 1 ? 255 : isDefect(k >> 1) ? 7 : 0));
    await sharp(Buffer.from(ga), { raw: { width: W, height: W, channels: 2 } }).toColourspace('b-w').png().toFile(f);
  }, (m) => m.channels === 2],
  // an anti-aliased edge: every non-zero grey level is a defect
  ['a grey mask of the levels 3, 128, 255', (f) => writePng(f, W, W, 1, Uint8Array.from({ length: W * W }, (_, i) => (isDefect(i) ? [255, 128, 3][i % 3] : 0))), (m) => m.channels === 1],
];

function greenDefect(): Uint8Array {
  return Uint8Array.from({ length: W * W * 3 }, (_, k) => (k % 3 === 1 && isDefect(Math.floor(k / 3)) ? 255 : 0));
}

for (const [name, write, isForm] of FORMS) {
  test(`a mask is read as mask > 0: ${name}`, async (t) => {
    const file = path.join(tempDir('hgad-masks-'), 'mask.png');
    await write(file);
    t.true(isForm(await sharp(file).metadata()), 'the file is of that form');
    expectDefect(t, await loadMask(file, P), name);
  });
}

test('images are labelled by folder: a defect image with an empty mask is anomalous and adds only normal pixels', (t) => {
  const n = 3;
  const maps = Float32Array.from([0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.9, 0.3, 0.3]);
  const masks = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
  const byMask = localisationMetrics({ maps, masks, n, height: 2, width: 2 });
  t.deepEqual([byMask.nNormal, byMask.nAnomalous], [2, 1]);
  const byFolder = localisationMetrics({ maps, masks, n, height: 2, width: 2, imageLabels: [0, 1, 1] });
  t.deepEqual([byFolder.nNormal, byFolder.nAnomalous], [1, 2]);
  t.is(byFolder.imageAuroc, 1);
  t.is(byFolder.pixelAuroc, byMask.pixelAuroc, 'pixel labels come from the masks either way');
  t.throws(() => localisationMetrics({ maps, masks, n, height: 2, width: 2, imageLabels: [0, 1] }), { message: /Expected an array of 3 image labels for imageLabels/ });
  t.throws(() => localisationMetrics({ maps, masks, n, height: 2, width: 2, imageLabels: [0, 2, 1] }), { message: /Expected image labels 0 \(normal\) or 1 \(anomalous\) for imageLabels\[1\] but received 2/ });
});

test('the mean line counts the classes each rate averages and names those where it is undefined', (t) => {
  const row = (imageAuroc: number, pixelAuroc: number): LocalisationMetrics => ({
    imageAuroc, pixelAuroc, aupro: pixelAuroc, imageF1Max: imageAuroc, pixelF1Max: pixelAuroc, nNormal: 3, nAnomalous: 1, regions: 1,
  });
  t.is(describeMean({ a: row(0.5, 0.5), b: row(1, 1) }), 'mean over 2 classes: image AUROC 0.750, pixel AUROC 0.750, AUPRO 0.750');
  t.is(
    describeMean({ a: row(0.778, 0.9), b: row(NaN, 0.7) }),
    'mean over 1 class: image AUROC 0.778 (undefined for b), pixel AUROC 0.800 (over 2 classes), AUPRO 0.800 (over 2 classes)',
  );
  t.is(describeMean({ a: row(NaN, NaN) }), 'mean over 0 classes: image AUROC undefined (undefined for a), pixel AUROC undefined (undefined for a), AUPRO undefined (undefined for a)');
});

test('an unreadable test image or mask is named, or skipped and listed with skipUnreadable, by fit\'s check and the test set\'s', async (t) => {
  const root = await makeMvtec({ wood: { train: 2, good: 2, defects: { hole: 2 } } });
  const badImage = path.join(root, 'wood', 'test', 'good', '001.png');
  const badMask = path.join(root, 'wood', 'ground_truth', 'hole', '000_mask.png');
  const withMask = path.join(root, 'wood', 'test', 'hole', '000.png');
  fs.writeFileSync(badImage, 'not a png');
  fs.writeFileSync(badMask, 'not a png either');
  const index = await indexDataset(root);
  const err = await t.throwsAsync(inspectDataset(index), { message: new RegExp(`^${escape(badImage)}: 2 unreadable test images or masks: ${escape(badImage)} \\(cannot read the image .*--skip-unreadable`) });
  t.true(err instanceof FormatError);
  const fit = await inspectDataset(index, { skipUnreadable: true });
  t.is(fit.train.length, 2, 'the training images are all kept');
  t.deepEqual(fit.skippedTest.map((s) => s.path).sort(), [badImage, withMask].sort());
  t.regex(fit.skippedTest.find((s) => s.path === withMask)!.reason, new RegExp(`^its mask ${escape(badMask)}: cannot read the image`));
  const tested = await inspectTestSet(index, { skipUnreadable: true });
  t.deepEqual(tested.test.map((x) => path.basename(x.path)), ['000.png', '001.png'], 'the good 000 and the hole 001 remain');
  t.deepEqual(tested.test.map((x) => x.defect), ['good', 'hole']);
});

test('a huge mask of another size than its image is refused from its header, naming both files', async (t) => {
  const root = await makeMvtec({ tile: { train: 2, defects: { crack: 1 } } });
  const mask = path.join(root, 'tile', 'ground_truth', 'crack', '000_mask.png');
  const image = path.join(root, 'tile', 'test', 'crack', '000.png');
  // 4000 x 4000 zeros: a few kB of PNG, 16 MB decoded
  await sharp({ create: { width: 4000, height: 4000, channels: 3, background: { r: 0, g: 0, b: 0 } } }).toColourspace('b-w').png().toFile(mask);
  await t.throwsAsync(inspectTestSet(await indexDataset(root)), {
    instanceOf: FormatError,
    message: `${mask}: mask of 4000x4000 for the image ${image} of 32x32; a mask must have its image's size`,
  });
});
