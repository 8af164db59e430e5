// The outputs of fit, test and predict are never one of the command's inputs:
// an output inside the data root, on the backbone, on another output, a maps
// folder that would lose maps to a shared stem, a cache inside the data root,
// and a name too long for its temporary name are each refused with one line
// before any work, and every file stays as it was.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { demoBackbonePath } from '../lib/images/backbone';
import { expectFailure, fileHash, runCli } from './helpers/cli_run';
import { makeMvtec, tempDir } from './helpers/mvtec';

const small = ['--image-size', '32', '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '2', '--quiet'];
const SPEC = { bottle: { train: 4, good: 2, defects: { crack: 2 } } };

let setup: Promise<{ data: string; model: string; backbone: string; dir: string }> | null = null;
/** One data set and a model fitted on it (with a copy of the shipped backbone), shared by the tests; none may change them. */
function prepared() {
  setup ??= (async () => {
    const data = await makeMvtec(SPEC);
    const dir = tempDir('hgad-outputs-');
    const backbone = path.join(dir, 'bb.onnx');
    fs.copyFileSync(demoBackbonePath(), backbone);
    const model = path.join(dir, 'm.safetensors');
    const r = await runCli(['fit', '--data', data, '--out', model, '--backbone', backbone, '--cache', tempDir(), ...small]);
    if (r.code !== 0) throw new Error(r.stderr);
    return { data, model, backbone, dir };
  })();
  return setup;
}

/** The sha256 of every file under `root`, by relative path. */
function treeHashes(root: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(root, p)] = fileHash(p);
    }
  };
  walk(root);
  return out;
}

test('fit: an --out or a --cache inside the data root, or a --cache holding it, is refused before any work', async (t) => {
  const data = await makeMvtec({ bottle: { train: 2 } });
  const before = treeHashes(data);
  const cache = tempDir();
  const image = path.join(data, 'bottle', 'train', 'good', '000.png');
  await expectFailure(t, ['fit', '--data', data, '--out', image, '--cache', cache, ...small], 1, { out: image, match: /^hgad: --out .*000\.png: lies inside the input --data .*; an output must not be written into an input$/m });
  const out = path.join(tempDir(), 'm.safetensors');
  await expectFailure(t, ['fit', '--data', data, '--out', out, '--cache', path.join(data, 'cache'), ...small], 1, { out, match: /--cache .*cache: lies inside the input --data / });
  const parent = tempDir();
  const nested = path.join(parent, 'data');
  fs.cpSync(data, nested, { recursive: true });
  await expectFailure(t, ['fit', '--data', nested, '--out', out, '--cache', parent, ...small], 1, { out, match: /--cache .*: holds the input --data .*data; an output folder must not contain an input/ });
  t.deepEqual(fs.readdirSync(parent), ['data']);
  t.deepEqual(fs.readdirSync(cache), []);
  t.deepEqual(treeHashes(data), before);
});

test('fit: an --out through a symlinked folder into the data root, and one on the backbone, are refused', async (t) => {
  const data = await makeMvtec({ bottle: { train: 2 } });
  const dir = tempDir();
  const link = path.join(dir, 'link');
  fs.symlinkSync(path.join(data, 'bottle', 'train'), link);
  const cache = tempDir();
  await expectFailure(t, ['fit', '--data', data, '--out', path.join(link, 'new.safetensors'), '--cache', cache, ...small], 1, { match: /lies inside the input --data/ });
  t.false(fs.existsSync(path.join(data, 'bottle', 'train', 'new.safetensors')));
  const backbone = path.join(dir, 'bb.onnx');
  fs.copyFileSync(demoBackbonePath(), backbone);
  await expectFailure(t, ['fit', '--data', data, '--backbone', backbone, '--out', backbone, '--cache', cache, ...small], 1, { out: backbone, match: /--out .*bb\.onnx: is the same file as the input --backbone / });
  t.deepEqual(fs.readdirSync(cache), []);
});

test('test: --json, --report or --maps inside the data root, on the backbone or on each other are refused, nothing written', async (t) => {
  const { data, model, backbone, dir } = await prepared();
  const before = treeHashes(data);
  const image = path.join(data, 'bottle', 'test', 'good', '000.png');
  const out = tempDir();
  const json = path.join(out, 'metrics.json');
  const base = ['test', '--model', model, '--data', data];
  await expectFailure(t, [...base, '--json', image], 1, { out: image, match: /^hgad: --json .*000\.png: lies inside the input --data /m });
  const link = path.join(out, 'image-link.png');
  fs.symlinkSync(image, link);
  await expectFailure(t, [...base, '--json', link], 1, { out: image, match: /--json .*image-link\.png: lies inside the input --data / });
  await expectFailure(t, [...base, '--json', json, '--report', path.join(data, 'report.html')], 1, { out: json, match: /--report .*report\.html: lies inside the input --data / });
  await expectFailure(t, [...base, '--json', json, '--maps', path.join(data, 'maps')], 1, { out: json, match: /--maps .*maps: lies inside the input --data / });
  await expectFailure(t, [...base, '--backbone', backbone, '--json', backbone], 1, { out: backbone, match: /--json .*bb\.onnx: is the same file as the input --backbone / });
  await expectFailure(t, [...base, '--json', model], 1, { out: model, match: /is the same file as the input --model / });
  await expectFailure(t, [...base, '--json', json, '--report', json], 1, { out: json, match: /--json .*metrics\.json: is the same path as the output --report / });
  const maps = path.join(out, 'maps');
  await expectFailure(t, [...base, '--json', path.join(maps, 'metrics.json'), '--maps', maps], 1, { match: /--json .*metrics\.json: lies inside the output --maps / });
  t.deepEqual(fs.readdirSync(out), ['image-link.png']);
  t.deepEqual(treeHashes(data), before);
  t.true(fs.existsSync(path.join(dir, 'm.safetensors')));
});

test('test: --maps refuses two test images whose maps would share a name (000.png and 000.jpg)', async (t) => {
  const { data, model } = await prepared();
  const copy = path.join(tempDir(), 'data');
  fs.cpSync(data, copy, { recursive: true });
  const good = path.join(copy, 'bottle', 'test', 'good');
  await sharp(path.join(good, '001.png')).jpeg({ quality: 95 }).toFile(path.join(good, '000.jpg'));
  const out = tempDir();
  const json = path.join(out, 'metrics.json');
  await expectFailure(t, ['test', '--model', model, '--data', copy, '--json', json, '--maps', path.join(out, 'maps')], 1, {
    out: json,
    match: /^hgad: --maps .*maps: .*000\.jpg and .*000\.png share the name 000; their maps would overwrite each other$/m,
  });
  t.deepEqual(fs.readdirSync(out), []);
  // Without --maps nothing is lost: the same set is scored.
  const r = await runCli(['test', '--model', model, '--data', copy, '--json', json]);
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(fs.readFileSync(json, 'utf8')).classes.bottle.n_normal, 3);
});

test('a name too long for its temporary name is refused before any work (fit --out, test --json, predict --out and its map names)', async (t) => {
  const { data, model } = await prepared();
  const dir = tempDir();
  const cache = tempDir();
  const longOut = path.join(dir, `${'m'.repeat(240)}.st`);
  await expectFailure(t, ['fit', '--data', data, '--out', longOut, '--cache', cache, ...small], 1, { match: /^hgad: --out .*: the name is too long \(243 bytes; .* the limit is 255\)$/m });
  t.deepEqual(fs.readdirSync(cache), [], 'no feature was extracted');
  const longJson = path.join(dir, `${'j'.repeat(245)}.json`);
  await expectFailure(t, ['test', '--model', model, '--data', data, '--json', longJson], 1, { match: /^hgad: --json .*: the name is too long/m });
  const image = path.join(data, 'bottle', 'test', 'good', '000.png');
  await expectFailure(t, ['predict', '--model', model, '--class', 'bottle', '--out', path.join(dir, 'd'.repeat(250)), image], 1, { match: /^hgad: --out .*: the name is too long/m });
  t.deepEqual(fs.readdirSync(dir), []);
  const longImage = path.join(tempDir(), `${'i'.repeat(236)}.png`);
  fs.copyFileSync(image, longImage);
  await expectFailure(t, ['predict', '--model', model, '--class', 'bottle', '--out', path.join(dir, 'maps'), longImage], 1, { match: /^hgad: --out .*maps: a map name would be too long for its temporary name \(2\d\d bytes, the limit is 255\), that of .*iii/m });
  t.deepEqual(fs.readdirSync(dir), []);
  // a name that fits with its temporary name is written
  const ok = path.join(dir, `${'j'.repeat(200)}.json`);
  const r = await runCli(['test', '--model', model, '--data', data, '--json', ok]);
  t.is(r.code, 0, r.stderr);
  t.true(fs.existsSync(ok));
});
