// hgad predict beyond the basics (cli.localise.test.ts): classes named like
// ids (BTAD's "01", "02"), lines streamed batch by batch, images that are not
// files, the manifest + --jsonl + --resume mode (a kill -9 mid-run then a
// resume gives one line per image), data-folder entries named like images
// that are not images, and fit's checks of precomputed maps' labels.
import test from 'ava';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { lookupClass } from '../lib/hgad/class_lookup';
import { indexDataset } from '../lib/images/dataset';
import { readNpy, writeNpy } from '../lib/io/npy';
import { CLI, expectFailure, runCli } from './helpers/cli_run';
import { tempDir } from './helpers/mvtec';
import { scoreImages } from '../lib/localise/score_images';

const root = path.join(__dirname, '..', '..');
const small = ['--image-size', '56', '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '4', '--quiet'];

let setup: Promise<{ data: string; model: string; images: string[] }> | null = null;
/** A two-class set whose classes are "01" (pullover) and "02" (tshirt), its model, and 40 distinct test images of class "02". */
function prepared() {
  setup ??= (async () => {
    const dir = tempDir('hgad-pred2-');
    const data = path.join(dir, 'defects');
    execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'make_defects.js'), '--out', data, '--data', path.join(root, 'data', 'fmnist-subset'),
      '--classes', 'tshirt,pullover', '--train', '6', '--test-good', '3', '--per-defect', '1']);
    fs.renameSync(path.join(data, 'pullover'), path.join(data, '01'));
    fs.renameSync(path.join(data, 'tshirt'), path.join(data, '02'));
    const model = path.join(dir, 'm.safetensors');
    const r = await runCli(['fit', '--data', data, '--out', model, '--cache', path.join(dir, 'cache'), ...small]);
    if (r.code !== 0) throw new Error(r.stderr);
    const pool = path.join(dir, 'pool');
    fs.mkdirSync(pool);
    const src = ['good/000.png', 'good/001.png', 'good/002.png'].map((f) => path.join(data, '02', 'test', f));
    const images = Array.from({ length: 40 }, (_, i) => {
      const p = path.join(pool, `img${String(i).padStart(3, '0')}.png`);
      fs.copyFileSync(src[i % src.length], p);
      return p;
    });
    return { data, model, images };
  })();
  return setup;
}

test('class lookup: names first, "#N" always an id, a plain number an id only when no class bears that name', (t) => {
  const names = ['01', '02'];
  t.deepEqual(lookupClass(names, '01'), { id: 0 });
  t.deepEqual(lookupClass(names, '02'), { id: 1 });
  t.deepEqual(lookupClass(names, '#1'), { id: 1 });
  t.deepEqual(lookupClass(names, '1'), { id: 1 });
  t.deepEqual(lookupClass(names, 0), { id: 0 });
  t.deepEqual(lookupClass(names, '#2'), { error: 'id out of range' });
  t.deepEqual(lookupClass(names, 'zebra'), { error: 'no such class' });
  t.deepEqual(lookupClass(['1', '0'], '1'), { id: 0 }, 'a class named "1" wins over the id 1');
  t.deepEqual(lookupClass(['1', '0'], '#1'), { id: 1 });
});

test('hgad predict --class 01 scores class "01" of a model whose classes are "01", "02" (the API too)', async (t) => {
  const { model, images } = await prepared();
  const run = async (cls: string) => {
    const r = await runCli(['predict', '--model', model, '--class', cls, images[0]]);
    t.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const byName = await run('01');
  t.is(byName.class, '01');
  t.is((await run('02')).class, '02');
  t.is((await run('#1')).class, '02');
  t.is((await run('#0')).score, byName.score);
  await expectFailure(t, ['predict', '--model', model, '--class', '#2', images[0]], 1, { match: /--class #2: class id out of range \("01", "02"/ });
  const { HGAD } = await import('../lib/hgad');
  const m = await HGAD.load(model);
  t.teardown(() => m.close());
  t.is((await scoreImages(m, [images[0]], { class: '01' })).classId, 0);
  t.is((await scoreImages(m, [images[0]], { class: '#1' })).classId, 1);
});

test('hgad predict streams: the first batch of lines comes out while later batches are still being scored', async (t) => {
  const { model, images } = await prepared();
  const chunks: { at: number; lines: number }[] = [];
  const child = spawn(process.execPath, [CLI, 'predict', '--model', model, '--class', '1', ...images.slice(0, 32)], { env: { ...process.env, HGAD_NUM_THREADS: '1' } });
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    chunks.push({ at: Date.now(), lines: text.split('\n').length - 1 });
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, stderr);
  t.is(text.trim().split('\n').length, 32);
  t.true(chunks.length >= 2, 'more than one write to stdout');
  t.true(chunks[0].lines < 32 && chunks[0].lines % 8 === 0, `first chunk: ${chunks[0].lines} lines`);
});

test('hgad predict says what a path is when it is not an image file', async (t) => {
  const { model } = await prepared();
  const dir = tempDir('hgad-pred-kind-');
  const fifo = path.join(dir, 'pipe.png');
  execFileSync('mkfifo', [fifo]);
  fs.symlinkSync('loop.png', path.join(dir, 'loop.png'));
  fs.symlinkSync('missing.png', path.join(dir, 'dangling.png'));
  await expectFailure(t, ['predict', '--model', model, '--class', '01', dir], 1, { match: /: is a directory, not an image file/ });
  await expectFailure(t, ['predict', '--model', model, '--class', '01', fifo], 1, { match: /pipe\.png: is a FIFO \(named pipe\), not an image file/ });
  await expectFailure(t, ['predict', '--model', model, '--class', '01', path.join(dir, 'loop.png')], 1, { match: /loop\.png: is a symbolic link loop/ });
  await expectFailure(t, ['predict', '--model', model, '--class', '01', path.join(dir, 'dangling.png')], 1, { match: /dangling\.png: is a dangling symbolic link/ });
  await expectFailure(t, ['predict', '--model', model, '--class', '01', path.join(dir, 'none.png')], 1, { match: /none\.png: no such image file/ });
});

test('indexing a data folder lists entries named like images that are not image files as skipped; hgad test warns of each', async (t) => {
  const { data, model } = await prepared();
  const copy = path.join(tempDir('hgad-skip-'), 'set');
  fs.cpSync(data, copy, { recursive: true });
  const good = path.join(copy, '01', 'test', 'good');
  fs.mkdirSync(path.join(good, 'folder.png'));
  fs.symlinkSync('loop.png', path.join(good, 'loop.png'));
  fs.symlinkSync('nowhere.png', path.join(good, 'dangling.png'));
  execFileSync('mkfifo', [path.join(copy, '02', 'train', 'good', 'fifo.png')]);
  const index = await indexDataset(copy);
  const reasons = Object.fromEntries(index.skipped.map((s) => [path.basename(s.path), s.reason]));
  t.deepEqual(reasons, {
    'dangling.png': 'is a dangling symbolic link (to nowhere.png)',
    'folder.png': 'is a directory, not an image file',
    'loop.png': 'is a symbolic link loop',
    'fifo.png': 'is a FIFO (named pipe), not an image file',
  });
  t.false(index.test.some((e) => index.skipped.some((s) => s.path === e.path)));
  const r = await runCli(['test', '--model', model, '--data', copy, '--json', path.join(path.dirname(copy), 'm.json')]);
  t.is(r.code, 0, r.stderr);
  for (const name of ['dangling.png', 'folder.png', 'loop.png', 'fifo.png']) t.regex(r.stderr, new RegExp(`hgad: warning: skipped \\S*${name.replace('.', '\\.')}: `));
});

function waitForLines(file: string, n: number, child: { exitCode: number | null }): Promise<void> {
  return new Promise((resolve, reject) => {
    const tick = setInterval(() => {
      const have = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').length - 1 : 0;
      if (have >= n) {
        clearInterval(tick);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(tick);
        reject(new Error(`the run ended (${child.exitCode}) before ${n} lines`));
      }
    }, 5);
  });
}

test('hgad predict --manifest --jsonl: kill -9 mid-run, a torn line, then --resume gives exactly one line per image', async (t) => {
  const { model, images } = await prepared();
  const dir = tempDir('hgad-manifest-');
  const manifest = path.join(dir, 'list.txt');
  // relative paths are relative to the manifest's folder; blank lines and comments are ignored
  const rel = images.map((p) => path.relative(dir, p));
  fs.writeFileSync(manifest, ['# the pool', '', ...rel.slice(0, 20), '   ', '# more', ...rel.slice(20)].join('\n') + '\n');
  const jsonl = path.join(dir, 'out.jsonl');
  const maps = path.join(dir, 'maps');
  const child = spawn(process.execPath, [CLI, 'predict', '--model', model, '--class', '02', '--manifest', manifest, '--jsonl', jsonl, '--out', maps], { env: { ...process.env, HGAD_NUM_THREADS: '1' }, stdio: 'ignore' });
  await waitForLines(jsonl, 8, child);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  const kept = fs.readFileSync(jsonl, 'utf8');
  const before = kept.split('\n').length - 1;
  t.true(before >= 8 && before < 40, `${before} lines before the kill`);
  t.true(kept.endsWith('\n'));
  // a kill in the middle of an append leaves a torn last line
  fs.appendFileSync(jsonl, '{"image":"' + images[39].slice(0, 10));
  await expectFailure(t, ['predict', '--model', model, '--class', '02', '--manifest', manifest, '--jsonl', jsonl], 1, { match: /out\.jsonl: exists; pass --resume/ });
  // the batch in flight may have written maps before the kill: --resume replaces them
  fs.writeFileSync(path.join(maps, 'img039.npy'), 'left by the batch in flight');
  const r = await runCli(['predict', '--model', model, '--class', '02', '--manifest', manifest, '--jsonl', jsonl, '--out', maps, '--resume']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /dropped a torn last line/);
  t.regex(r.stdout, new RegExp(`^scored ${40 - before} images \\(${before} already in .*out\\.jsonl\\)`));
  const lines = fs.readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(lines.map((l) => l.image).sort(), [...images].sort());
  for (const l of lines) {
    t.is(l.class, '02');
    t.true(Number.isFinite(l.score));
    t.is(l.size, fs.statSync(l.image).size);
    t.is(l.map, path.join(maps, `${path.basename(l.image, '.png')}.npy`));
    t.true(fs.existsSync(l.map) && fs.existsSync(l.png));
  }
  t.deepEqual(readNpy(path.join(maps, 'img039.npy')).shape, [56, 56]);
  // nothing left to do; a changed image is scored again
  const again = await runCli(['predict', '--model', model, '--class', '02', '--manifest', manifest, '--jsonl', jsonl, '--resume']);
  t.regex(again.stdout, /^scored 0 images \(40 already in/);
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(images[3], later, later);
  const changed = await runCli(['predict', '--model', model, '--class', '02', '--manifest', manifest, '--jsonl', jsonl, '--out', maps, '--resume']);
  t.regex(changed.stdout, /^scored 1 image \(39 already in/);
  // a manifest line that is not an image file names the line
  fs.writeFileSync(manifest, `${rel[0]}\n.\n`);
  await expectFailure(t, ['predict', '--model', model, '--class', '02', '--manifest', manifest], 1, { match: /list\.txt:2: .*: is a directory/ });
  await expectFailure(t, ['predict', '--model', model, '--class', '02', '--manifest', manifest, '--score', 'fused'], 2, { match: /relative to the whole set/ });
});

test('fit --feature-maps: labels out of range are refused in one line before anything is built from them', async (t) => {
  const dir = tempDir('hgad-labels-');
  const maps = path.join(dir, 'a.npy');
  writeNpy(maps, { dtype: 'float32', shape: [2, 4, 2, 2], data: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)) });
  const labels = (name: string, values: number[], dtype: 'int32' | 'float64' = 'int32') => {
    const f = path.join(dir, `${name}.npy`);
    writeNpy(f, { dtype, shape: [values.length], data: dtype === 'int32' ? Int32Array.from(values) : Float64Array.from(values) });
    return f;
  };
  const out = path.join(dir, 'm.safetensors');
  const fit = (l: string, extra: string[] = []) => ['fit', '--feature-maps', maps, '--labels', l, '--out', out, '--quiet', ...extra];
  const started = Date.now();
  await expectFailure(t, fit(labels('max', [0, 2 ** 31 - 1])), 1, { out, match: /Expected class ids in \[0, 100000\) .* for .*max\.npy\[1\] but received 2147483647/ });
  await expectFailure(t, fit(labels('e8', [0, 1e8])), 1, { out, match: /e8\.npy\[1\] but received 100000000/ });
  t.true(Date.now() - started < 20_000, 'refused at once');
  await expectFailure(t, fit(labels('neg', [0, -1])), 1, { out, match: /neg\.npy\[1\] but received -1/ });
  await expectFailure(t, fit(labels('frac', [0, 1.5], 'float64')), 1, { out, match: /integer label values for .*frac\.npy\[1\] but received 1\.5/ });
  await expectFailure(t, fit(labels('named', [0, 2]), ['--class-names', 'a,b']), 1, { out, match: /class ids in \[0, 2\) \(one per name of --class-names\) for .*named\.npy\[1\] but received 2/ });
});
