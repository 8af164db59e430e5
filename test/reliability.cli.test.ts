// The command line given hostile paths: an --out that is one of the inputs,
// a device node or a FIFO; inputs that are /dev/zero or a FIFO; a label that
// would make 2^31 classes. Each fails at once with one line naming the path
// and leaves every file as it was.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeNpy } from '../lib/io/npy';
import { CliDataset, writeDataset } from './helpers/cli_data';
import { expectFailure, fileHash, runCli } from './helpers/cli_run';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-rel-cli-'));
let d: CliDataset;
const model = path.join(tmp, 'model.safetensors');
const TRAIN = ['--epochs=1', '--batch-size', '64', '--couplings', '1', '--intra-centres', '2', '--quiet'];

test.before(async () => {
  d = writeDataset(tmp);
  const r = await runCli(['train', '--features', d.features, '--labels', d.labels, ...TRAIN, '--out', model]);
  if (r.code !== 0) throw new Error(`training failed: ${r.stderr}`);
});

test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('--out naming an input (directly or through a symlink) is refused before anything is read or written', async (t) => {
  const link = path.join(tmp, 'model-link.safetensors');
  fs.symlinkSync(model, link);
  const hashes = [model, d.features, d.labels].map(fileHash);
  await expectFailure(t, ['score', '--model', model, '--features', d.test, '--class', '0', '--out', model], 1, {
    out: model,
    match: /--out .*model\.safetensors: is the same file as the input .*model\.safetensors/,
  });
  await expectFailure(t, ['score', '--model', model, '--features', d.test, '--class', '0', '--out', link], 1, { out: model, match: /same file as the input/ });
  await expectFailure(t, ['train', '--features', d.features, '--labels', d.labels, ...TRAIN, '--out', d.features], 1, {
    out: d.features,
    match: /features\.npy: is the same file as the input/,
  });
  await expectFailure(t, ['train', '--features', d.features, '--labels', d.labels, ...TRAIN, '--out', d.labels], 1, { out: d.labels });
  t.deepEqual([model, d.features, d.labels].map(fileHash), hashes);
});

test('--out that is a device node or a FIFO is refused and the node stays as it was', async (t) => {
  const fifo = path.join(tmp, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const targets: [string, RegExp][] = [[fifo, /is a FIFO/]];
  if (process.getuid?.() === 0) {
    const dev = path.join(tmp, 'nulldev');
    execFileSync('mknod', [dev, 'c', '1', '3']);
    targets.push([dev, /is a character device/]);
  }
  for (const [target, match] of targets) {
    const before = fs.lstatSync(target);
    await expectFailure(t, ['score', '--model', model, '--features', d.test, '--class', '0', '--out', target], 1, { match });
    const after = fs.lstatSync(target);
    t.is(after.ino, before.ino);
    t.is(after.mode, before.mode);
  }
});

test('/dev/zero or a FIFO as an input fails at once naming it', async (t) => {
  const fifo = path.join(tmp, 'in.fifo');
  execFileSync('mkfifo', [fifo]);
  const out = path.join(tmp, 'scores.npy');
  const started = Date.now();
  await expectFailure(t, ['score', '--model', model, '--features', '/dev/zero', '--class', '0', '--out', out], 1, {
    out,
    match: /\/dev\/zero: is a character device, expected a regular file/,
  });
  await expectFailure(t, ['info', '--model', '/dev/zero'], 1, { match: /\/dev\/zero: is a character device/ });
  await expectFailure(t, ['info', '--model', fifo], 1, { match: /in\.fifo: is a FIFO/ });
  await expectFailure(t, ['train', '--features', fifo, '--labels', d.labels, ...TRAIN, '--out', out], 1, { out, match: /in\.fifo: is a FIFO/ });
  t.true(Date.now() - started < 30_000);
});

test('a label of 2^31 - 1 is refused with the class limit instead of growing until the process aborts', async (t) => {
  const labels = path.join(tmp, 'huge-label.npy');
  const values = Int32Array.from({ length: 300 }, (_, i) => i % 3);
  values[7] = 2147483647;
  writeNpy(labels, { dtype: 'int32', shape: [300], data: values });
  const out = path.join(tmp, 'huge.safetensors');
  await expectFailure(t, ['train', '--features', d.features, '--labels', labels, ...TRAIN, '--out', out], 1, {
    out,
    match: /huge-label\.npy: label 2147483647 at index 7 would make 2147483648 classes; hgad supports at most 100000/,
  });
});

test('classes trained on fewer than 2 vectors: train warns, info says so, calibrated scoring of them is refused', async (t) => {
  const labels = path.join(tmp, 'one-of-c.npy');
  const values = Int32Array.from({ length: 300 }, (_, i) => i % 2);
  values[5] = 2;
  writeNpy(labels, { dtype: 'int32', shape: [300], data: values });
  const m = path.join(tmp, 'few.safetensors');
  const r = await runCli(['train', '--features', d.features, '--labels', labels, ...TRAIN, '--stage1-epochs', '0', '--class-names', 'a,b,c,d', '--out', m]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /hgad: warning: 2 classes have fewer than 2 training vectors, too few to calibrate: "c" \(1\), "d" \(0\)/);
  const info = await runCli(['info', '--model', m]);
  t.regex(info.stdout, /calibrated\s+yes, except 2 classes with fewer than 2 training vectors: c \(1\), d \(0\)/);
  const out = path.join(tmp, 'few-scores.npy');
  await expectFailure(t, ['score', '--model', m, '--features', d.test, '--class', 'c', '--out', out], 1, {
    out,
    match: /class "c" was trained on 1 vector, too few to calibrate; use --kind logp/,
  });
  const logp = await runCli(['score', '--model', m, '--features', d.test, '--class', 'c', '--kind', 'logp', '--out', out]);
  t.is(logp.code, 0, logp.stderr);
});
