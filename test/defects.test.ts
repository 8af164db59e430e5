import test from 'ava';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { DEFECT_KINDS, makeDefect, upsample2x } from '../lib/images/defects';
import { loadFashionMnist } from '../lib/data/fashion_mnist';
import { Random } from '../lib/random';

const root = path.join(__dirname, '..', '..');
const script = path.join(root, 'dist', 'bench', 'make_defects.js');
const subset = path.join(root, 'data', 'fmnist-subset');
const small = ['--data', subset, '--classes', 'tshirt,pullover', '--train', '5', '--test-good', '3', '--per-defect', '4'];

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

test('upsample2x keeps flat images flat and doubles the size', (t) => {
  const flat = upsample2x(new Uint8Array(28 * 28).fill(77));
  t.is(flat.length, 56 * 56);
  t.true(flat.every((v) => v === 77));
});

test('every defect kind changes the object where its mask says and nowhere else', (t) => {
  const fm = loadFashionMnist(subset);
  const rng = new Random(11);
  for (let trial = 0; trial < 30; ++trial) {
    const img = upsample2x(fm.test.images.pixels.subarray(trial * 784, (trial + 1) * 784));
    const donor = upsample2x(fm.test.images.pixels.subarray((trial + 50) * 784, (trial + 51) * 784));
    for (const kind of DEFECT_KINDS) {
      const d = makeDefect(kind, img, donor, rng);
      let inside = 0;
      for (let i = 0; i < d.mask.length; ++i) {
        t.true(d.mask[i] === 0 || d.mask[i] === 1);
        if (d.mask[i]) inside += 1;
        else if (d.pixels[i] !== img[i] && kind !== 'patch') t.true(Math.abs(d.pixels[i] - img[i]) < 16, `${kind}: a visible change outside the mask`);
        else if (kind === 'patch') t.is(d.pixels[i], img[i]);
      }
      t.true(inside >= 6, `${kind} trial ${trial}: ${inside} mask pixels`);
    }
  }
});

test('make:defects writes the MVTec layout, deterministically for a seed, and refuses a non-empty --out', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-defects-'));
  const a = path.join(tmp, 'a');
  const b = path.join(tmp, 'b');
  const c = path.join(tmp, 'c');
  execFileSync(process.execPath, [script, '--out', a, '--seed', '5', ...small]);
  execFileSync(process.execPath, [script, '--out', b, '--seed', '5', ...small]);
  execFileSync(process.execPath, [script, '--out', c, '--seed', '6', ...small]);
  const files = listing(a);
  t.deepEqual(files, listing(b));
  t.true(files.every((f) => fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f)))), 'same seed, same bytes');
  t.false(files.every((f) => fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f)))), 'another seed, other images');
  for (const cls of ['tshirt', 'pullover']) {
    t.is(fs.readdirSync(path.join(a, cls, 'train', 'good')).length, 5);
    t.is(fs.readdirSync(path.join(a, cls, 'test', 'good')).length, 3);
    for (const kind of DEFECT_KINDS) {
      const images = fs.readdirSync(path.join(a, cls, 'test', kind)).sort();
      t.is(images.length, 4);
      for (const im of images) {
        const mask = path.join(a, cls, 'ground_truth', kind, im.replace('.png', '_mask.png'));
        const { data, info } = await sharp(mask).raw().toBuffer({ resolveWithObject: true });
        t.is(info.width, 56);
        t.true(data.every((v) => v === 0 || v === 255), 'binary mask');
        t.true(data.some((v) => v === 255), 'mask not empty');
      }
    }
  }
  const again = spawnSync(process.execPath, [script, '--out', a, ...small], { encoding: 'utf8' });
  t.is(again.status, 1);
  t.regex(again.stderr.trim(), /^Expected a new or empty folder for --out but received .*\(it exists and is not empty\)$/);
  const bad = spawnSync(process.execPath, [script, '--out', path.join(tmp, 'd'), '--data', subset, '--classes', 'tshirt,robot'], { encoding: 'utf8' });
  t.is(bad.status, 1);
  t.regex(bad.stderr, /for --classes but received tshirt,robot/);
  t.deepEqual(fs.readdirSync(tmp).sort(), ['a', 'b', 'c'], 'nothing left behind by the failed runs');
});
