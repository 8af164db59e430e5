// An MVTec AD-size training set for timing training at data-set scale:
// the training images of a defect set (npm run make:defects) repeated and
// jittered (a random crop of 80-100% of the side, a random flip, a small
// brightness change) to --per-class images of each class, resized to --size
// (default 256). Test images and masks are copied as they are.
//   node dist/bench/make_scale_set.js --from DEFECTS --out DIR [--per-class 242] [--size 256] [--seed 0]
// 15 classes x 242 = 3,630 is MVTec AD's 3,629 training images; with the
// defect set's 5 classes, --per-class 726 gives the same count.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Random } from '../lib/random';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const from = arg('from');
  const out = arg('out');
  if (!from || !out) throw new TypeError('Expected --from DEFECTS and --out DIR');
  if (fs.existsSync(out)) throw new RangeError(`Expected a new folder for --out but received ${out} (it exists)`);
  const perClass = Number(arg('per-class', '242'));
  const size = Number(arg('size', '256'));
  if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`Expected a positive integer for --per-class but received ${perClass}`);
  if (!Number.isInteger(size) || size < 8) throw new RangeError(`Expected an integer >= 8 for --size but received ${size}`);
  const rng = new Random(Number(arg('seed', '0')));
  const tmp = `${out}.tmp-${process.pid}`;
  let total = 0;
  for (const cls of fs.readdirSync(from).filter((c) => fs.existsSync(path.join(from, c, 'train', 'good'))).sort()) {
    const src = path.join(from, cls, 'train', 'good');
    const files = fs.readdirSync(src).filter((f) => f.endsWith('.png')).sort();
    const dst = path.join(tmp, cls, 'train', 'good');
    fs.mkdirSync(dst, { recursive: true });
    for (let i = 0; i < perClass; ++i) {
      const file = path.join(src, files[i % files.length]);
      const { width, height } = await sharp(file).metadata();
      const side = Math.min(width!, height!);
      const crop = Math.max(4, Math.round(side * (0.8 + 0.2 * rng.uniform())));
      const left = Math.floor(rng.uniform() * (width! - crop + 1));
      const top = Math.floor(rng.uniform() * (height! - crop + 1));
      let img = sharp(file).extract({ left, top, width: crop, height: crop }).resize(size, size, { kernel: 'lanczos3' });
      if (rng.uniform() < 0.5) img = img.flop();
      await img.linear(0.9 + 0.2 * rng.uniform(), 0).png().toFile(path.join(dst, `${String(i).padStart(4, '0')}.png`));
    }
    total += perClass;
    for (const sub of ['test', 'ground_truth']) {
      if (fs.existsSync(path.join(from, cls, sub))) fs.cpSync(path.join(from, cls, sub), path.join(tmp, cls, sub), { recursive: true });
    }
  }
  fs.renameSync(tmp, out);
  console.log(`wrote ${total} training images of ${size} px in ${out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
