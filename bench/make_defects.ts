// Builds a localisation data set in the MVTec AD layout from Fashion-MNIST:
//   DIR/<class>/train/good/NNN.png
//   DIR/<class>/test/good/NNN.png, DIR/<class>/test/<defect>/NNN.png
//   DIR/<class>/ground_truth/<defect>/NNN_mask.png   (0 or 255)
// with the defect kinds of lib/data/defects.ts (patch, scratch, stain).
//   npm run make:defects -- --out DIR [--seed 0] [--data /usr/share/datasets/fashion-mnist]
//        [--classes tshirt,trouser,sandal,sneaker,bag] [--train 200] [--test-good 40] [--per-defect 20]
// The same seed gives the same files. The set is written into a temporary
// folder beside DIR and renamed at the end, so a failed run leaves nothing.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { DEFAULT_FMNIST_DIR, loadFashionMnist } from '../lib/data/fashion_mnist';
import { DEFECT_KINDS, DEFECT_SIZE, FMNIST_CLASS_NAMES, makeDefect, upsample2x } from './defects';
import { Random } from '../lib/random';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function integer(name: string, fallback: number, min: number): number {
  const raw = arg(name, String(fallback));
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new RangeError(`Expected an integer >= ${min} for --${name} but received ${raw}`);
  return v;
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

async function main(): Promise<void> {
  const out = arg('out');
  if (!out) throw new TypeError('Expected a folder for --out but received nothing');
  const target = path.resolve(out);
  if (fs.existsSync(target) && (!fs.statSync(target).isDirectory() || fs.readdirSync(target).length > 0)) {
    throw new RangeError(`Expected a new or empty folder for --out but received ${out} (it exists and is not empty)`);
  }
  const parent = path.dirname(target);
  if (!fs.existsSync(parent)) throw new RangeError(`Expected an existing parent folder for --out but received ${out}`);
  const seed = integer('seed', 0, 0);
  const nTrain = integer('train', 200, 1);
  const nGood = integer('test-good', 40, 1);
  const nDefect = integer('per-defect', 20, 1);
  const classes = (arg('classes', 'tshirt,trouser,sandal,sneaker,bag') as string).split(',').map((s) => s.trim());
  const ids = classes.map((c) => FMNIST_CLASS_NAMES.indexOf(c));
  if (ids.some((i) => i < 0) || new Set(ids).size !== ids.length || ids.length < 2) {
    throw new RangeError(`Expected at least two distinct names of ${FMNIST_CLASS_NAMES.join(', ')} for --classes but received ${arg('classes')}`);
  }
  const fm = loadFashionMnist(arg('data', DEFAULT_FMNIST_DIR)!);
  const rng = new Random(seed);
  const byClass = (labels: Uint8Array, c: number) => Array.from(labels.keys()).filter((i) => labels[i] === c);
  const image = (set: typeof fm.train, i: number) => upsample2x(set.images.pixels.subarray(i * 784, (i + 1) * 784));

  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.tmp-`));
  const counts: Record<string, Record<string, number>> = {};
  try {
    for (let k = 0; k < classes.length; ++k) {
      const name = classes[k];
      const train = shuffled(byClass(fm.train.labels, ids[k]), rng);
      const test = shuffled(byClass(fm.test.labels, ids[k]), rng);
      const others = shuffled(Array.from(fm.test.labels.keys()).filter((i) => fm.test.labels[i] !== ids[k]), rng);
      const needTest = nGood + nDefect * DEFECT_KINDS.length;
      if (train.length < nTrain || test.length < needTest) {
        throw new RangeError(`Expected at least ${nTrain} training and ${needTest} test images of class ${name} but received ${train.length} and ${test.length}`);
      }
      const dir = (...p: string[]) => {
        const d = path.join(tmp, name, ...p);
        fs.mkdirSync(d, { recursive: true });
        return d;
      };
      const file = (i: number) => String(i).padStart(3, '0');
      const trainDir = dir('train', 'good');
      for (let i = 0; i < nTrain; ++i) fs.writeFileSync(path.join(trainDir, `${file(i)}.png`), await png(image(fm.train, train[i])));
      const goodDir = dir('test', 'good');
      for (let i = 0; i < nGood; ++i) fs.writeFileSync(path.join(goodDir, `${file(i)}.png`), await png(image(fm.test, test[i])));
      counts[name] = { train: nTrain, good: nGood };
      let next = nGood;
      for (const kind of DEFECT_KINDS) {
        const imgDir = dir('test', kind);
        const maskDir = dir('ground_truth', kind);
        for (let i = 0; i < nDefect; ++i) {
          const d = makeDefect(kind, image(fm.test, test[next++]), image(fm.test, others[rng.int(others.length)]), rng);
          fs.writeFileSync(path.join(imgDir, `${file(i)}.png`), await png(d.pixels));
          fs.writeFileSync(path.join(maskDir, `${file(i)}_mask.png`), await png(d.mask.map((v) => v * 255)));
        }
        counts[name][kind] = nDefect;
      }
    }
    const meta = { source: 'Fashion-MNIST', seed, size: DEFECT_SIZE, defects: DEFECT_KINDS, classes: counts };
    fs.writeFileSync(path.join(tmp, 'defects.json'), JSON.stringify(meta, null, 2) + '\n');
    if (fs.existsSync(target)) fs.rmdirSync(target);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  console.log(`wrote ${target}: ${classes.length} classes, ${nTrain} training, ${nGood} normal and ${nDefect} x ${DEFECT_KINDS.length} defective test images each (seed ${seed})`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
