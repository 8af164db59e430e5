// Builds a localisation data set in the MVTec AD layout from Fashion-MNIST:
//   DIR/<class>/train/good/NNN.png
//   DIR/<class>/test/good/NNN.png, DIR/<class>/test/<defect>/NNN.png
//   DIR/<class>/ground_truth/<defect>/NNN_mask.png   (0 or 255)
// with the defect kinds of lib/images/defects.ts (patch, scratch, stain).
//   npm run make:defects -- --out DIR [--seed 0] [--data /usr/share/datasets/fashion-mnist]
//        [--classes tshirt,trouser,sandal,sneaker,bag] [--train 200] [--test-good 40] [--per-defect 20]
// The same seed gives the same files. The set is written into a temporary
// folder beside DIR and renamed at the end, so a failed run leaves nothing.
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_FMNIST_DIR, loadFashionMnist } from '../lib/data/fashion_mnist';
import { DEFECT_KINDS, FMNIST_CLASS_NAMES } from '../lib/images/defects';
import { writeDefectSet } from '../lib/images/defect_set';

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
  if (fs.existsSync(target)) fs.rmdirSync(target);
  await writeDefectSet(fm, target, { classes, train: nTrain, testGood: nGood, perDefect: nDefect, seed });
  console.log(`wrote ${target}: ${classes.length} classes, ${nTrain} training, ${nGood} normal and ${nDefect} x ${DEFECT_KINDS.length} defective test images each (seed ${seed})`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
