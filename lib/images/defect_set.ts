// A small localisation data set in the MVTec AD layout from Fashion-MNIST
// images and the defects of defects.ts, written into a folder that must not
// exist yet: a temporary folder beside it, renamed at the end, so a failed
// run leaves nothing. The same seed gives the same files. defects.json at
// the top records the source, seed, size, defect kinds and counts.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { FashionMnist } from '../data/fashion_mnist';
import { expectedRange } from '../errors';
import { Random } from '../random';
import { DEFECT_KINDS, DEFECT_SIZE, FMNIST_CLASS_NAMES, makeDefect, upsample2x } from './defects';

export interface DefectSetOptions {
  /** class folder names, from FMNIST_CLASS_NAMES */
  classes: string[];
  /** training images per class */
  train: number;
  /** normal test images per class */
  testGood: number;
  /** test images per class and defect kind */
  perDefect: number;
  seed: number;
}

const png = (pixels: Uint8Array) =>
  sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: DEFECT_SIZE, height: DEFECT_SIZE, channels: 1 } }).png().toBuffer();

function shuffled(ids: number[], rng: Random): number[] {
  const a = ids.slice();
  for (let i = a.length - 1; i > 0; --i) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Writes the set into `target` (which must not exist); returns the number of images written. */
export async function writeDefectSet(fm: FashionMnist, target: string, o: DefectSetOptions): Promise<number> {
  const ids = o.classes.map((c) => FMNIST_CLASS_NAMES.indexOf(c));
  if (ids.length === 0 || ids.some((i) => i < 0) || new Set(ids).size !== ids.length) {
    throw expectedRange(`distinct names of ${FMNIST_CLASS_NAMES.join(', ')}`, 'classes', o.classes.join(','));
  }
  if (fs.existsSync(target)) throw expectedRange('a folder that does not exist yet', 'the defect set', target);
  const rng = new Random(o.seed);
  const byClass = (labels: Uint8Array, c: number) => Array.from(labels.keys()).filter((i) => labels[i] === c);
  const image = (set: FashionMnist['train'], i: number) => upsample2x(set.images.pixels.subarray(i * 784, (i + 1) * 784));
  const tmp = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  let written = 0;
  const counts: Record<string, Record<string, number>> = {};
  try {
    for (let k = 0; k < o.classes.length; ++k) {
      const name = o.classes[k];
      const train = shuffled(byClass(fm.train.labels, ids[k]), rng);
      const test = shuffled(byClass(fm.test.labels, ids[k]), rng);
      const others = shuffled(Array.from(fm.test.labels.keys()).filter((i) => fm.test.labels[i] !== ids[k]), rng);
      const needTest = o.testGood + o.perDefect * DEFECT_KINDS.length;
      if (train.length < o.train || test.length < needTest || others.length === 0) {
        throw expectedRange(`at least ${o.train} training and ${needTest} test images of class ${name}`, 'the Fashion-MNIST files', `${train.length} and ${test.length}`);
      }
      const dir = (...p: string[]) => {
        const d = path.join(tmp, name, ...p);
        fs.mkdirSync(d, { recursive: true });
        return d;
      };
      const file = (i: number) => String(i).padStart(3, '0');
      const put = async (d: string, f: string, pixels: Uint8Array) => {
        fs.writeFileSync(path.join(d, f), await png(pixels));
        ++written;
      };
      const trainDir = dir('train', 'good');
      for (let i = 0; i < o.train; ++i) await put(trainDir, `${file(i)}.png`, image(fm.train, train[i]));
      const goodDir = dir('test', 'good');
      for (let i = 0; i < o.testGood; ++i) await put(goodDir, `${file(i)}.png`, image(fm.test, test[i]));
      counts[name] = { train: o.train, good: o.testGood };
      let next = o.testGood;
      for (const kind of DEFECT_KINDS) {
        const imgDir = dir('test', kind);
        const maskDir = dir('ground_truth', kind);
        for (let i = 0; i < o.perDefect; ++i) {
          const d = makeDefect(kind, image(fm.test, test[next++]), image(fm.test, others[rng.int(others.length)]), rng);
          await put(imgDir, `${file(i)}.png`, d.pixels);
          fs.writeFileSync(path.join(maskDir, `${file(i)}_mask.png`), await png(d.mask.map((v) => v * 255)));
        }
        counts[name][kind] = o.perDefect;
      }
    }
    const meta = { source: 'Fashion-MNIST', seed: o.seed, size: DEFECT_SIZE, defects: DEFECT_KINDS, classes: counts };
    fs.writeFileSync(path.join(tmp, 'defects.json'), JSON.stringify(meta, null, 2) + '\n');
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return written;
}
