// hgad fit on a tiny MVTec-layout folder with the shipped demo backbone: the
// model file, progress, the cache's reuse, and clean failures.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { expectFailure, runCli } from './helpers/cli_run';
import { makeMvtec, tempDir } from './helpers/mvtec';

const small = ['--image-size', '32', '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '2'];

test('hgad fit trains on a folder of images, writes the model with its backbone, and reuses the cache', async (t) => {
  const root = await makeMvtec({ bottle: { train: 4 }, cable: { train: 2 } });
  const cache = tempDir();
  const out = path.join(tempDir(), 'm.safetensors');
  const r = await runCli(['fit', '--data', root, '--out', out, '--cache', cache, ...small]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^trained 2 classes on 6 images \(3 levels, C=32\/64\/96\) in [0-9.]+ s; features cached in .*; wrote /);
  t.regex(r.stderr, /extracting features 6\/6 images {2}[0-9.]+ images\/s {2}eta 0:00/);
  t.regex(r.stderr, /epoch 1\/1 {2}loss /);
  const model = await HGAD.load(out);
  t.deepEqual(model.config.classNames, ['bottle', 'cable']);
  t.deepEqual(model.config.features!.levels, ['stage2', 'stage3', 'stage4']);
  const info = await runCli(['info', '--model', out]);
  t.regex(info.stdout, /backbone +demo_backbone\.onnx \(sha256 [0-9a-f]{12}…\), levels stage2, stage3, stage4\n {2}images +resized to 32, cropped to 32, mean 0\.485\/0\.456\/0\.406/);

  const again = await runCli(['fit', '--data', root, '--out', out, '--cache', cache, '--classes', 'bottle,cable', '--quiet', ...small, '--lr', '1e-4']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /features from /);
  t.is(again.stderr, '');

  // A cache folder without its cache.json is rebuilt with one warning line; --rebuild-cache extracts again.
  const [folder] = fs.readdirSync(cache);
  fs.rmSync(path.join(cache, folder, 'cache.json'));
  const repaired = await runCli(['fit', '--data', root, '--out', out, '--cache', cache, '--quiet', ...small]);
  t.is(repaired.code, 0, repaired.stderr);
  t.regex(repaired.stdout, /features cached in /);
  t.regex(repaired.stderr, /^hgad: warning: the feature cache \S+ is broken \(\S+cache\.json: no such file \(not a feature cache folder\)\); rebuilding it\n$/);
  const rebuilt = await runCli(['fit', '--data', root, '--out', out, '--cache', cache, '--quiet', '--rebuild-cache', ...small]);
  t.is(rebuilt.code, 0, rebuilt.stderr);
  t.regex(rebuilt.stdout, /features cached in /);
  t.is(rebuilt.stderr, '');
  t.deepEqual(fs.readdirSync(cache), [folder]);
});

test('hgad fit fails cleanly: a class folder without train/good, a bad option, a missing backbone', async (t) => {
  const root = await makeMvtec({ bottle: { train: 2 } });
  fs.mkdirSync(path.join(root, 'empty'));
  const out = path.join(tempDir(), 'm.safetensors');
  const cache = tempDir();
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--cache', cache, ...small], 1, { out, match: /empty: class folder without train\/good/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--cache', cache, '--classes', 'bottle', ...small, '--crop', '40'], 1, { out, match: /for --crop but received 40/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--cache', cache, '--classes', 'bottle', '--backbone', path.join(root, 'no.onnx'), ...small], 1, { out, match: /no\.onnx: no such file/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--mean', '1,2'], 2, { out, match: /--mean: expected three numbers/ });
  t.deepEqual(fs.readdirSync(cache), []);
});

test('hgad fit --feature-maps trains on precomputed .npy maps with --labels', async (t) => {
  const { writeNpy } = await import('../lib/io/npy');
  const dir = tempDir();
  const maps = Float32Array.from({ length: 4 * 4 * 2 * 2 }, (_, i) => Math.sin(i * 1.7) + (i % 3));
  writeNpy(path.join(dir, 'f.npy'), { dtype: 'float32', shape: [4, 4, 2, 2], data: maps });
  writeNpy(path.join(dir, 'l.npy'), { dtype: 'int32', shape: [4], data: Int32Array.from([0, 1, 0, 1]) });
  const out = path.join(dir, 'm.safetensors');
  const r = await runCli(['fit', '--feature-maps', path.join(dir, 'f.npy'), '--labels', path.join(dir, 'l.npy'), '--class-names', 'a,b', '--out', out,
    '--cache', tempDir(), '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '2', '--quiet']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^trained 2 classes on 4 images of precomputed maps/);
  t.deepEqual((await HGAD.load(out)).config.classNames, ['a', 'b']);
  await expectFailure(t, ['fit', '--feature-maps', path.join(dir, 'f.npy'), '--out', out], 2, { match: /--feature-maps needs --labels/ });
  await expectFailure(t, ['fit', '--out', out], 2, { match: /give either --data DIR or --feature-maps/ });
});

test('Ctrl-C during extraction leaves no cache folder, temporary or not, and no model', async (t) => {
  const { spawn } = await import('child_process');
  const { CLI } = await import('./helpers/cli_run');
  const root = await makeMvtec({ bottle: { train: 40 } }, { size: 64 });
  const cache = tempDir();
  const out = path.join(tempDir(), 'm.safetensors');
  const child = spawn(process.execPath, [CLI, 'fit', '--data', root, '--out', out, '--cache', cache, '--image-size', '512', '--cond-channels', '8', '--couplings', '1'],
    { env: { ...process.env, HGAD_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Wait for the temporary cache folder, then interrupt.
  const deadline = Date.now() + 60_000;
  while (!fs.readdirSync(cache).some((f) => f.endsWith('.tmp')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.true(fs.readdirSync(cache).some((f) => f.endsWith('.tmp')), 'extraction started');
  child.kill('SIGINT');
  t.is(await exited, 130, stderr);
  t.regex(stderr, /hgad: interrupted/);
  t.deepEqual(fs.readdirSync(cache), [], 'the temporary folder is gone');
  t.false(fs.existsSync(out));
});
