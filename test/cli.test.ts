// The hgad command line, driven as a child process (node dist/lib/cli/main.js)
// on small synthetic data in a temporary directory: the train -> info ->
// score -> eval round trip, every command's help, the demo on a tiny
// Fashion-MNIST subset, and clean failures (exit status, a short message, no
// stack trace, no half-written or clobbered output) for bad input.
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNpy } from '../lib/io/npy';
import { auroc } from '../lib/metrics/auroc';
import { ProgressBar } from '../lib/cli/progress';
import { HGAD } from '../lib/hgad';
import type { FitProgress } from '../lib/hgad/model';
import { C, CliDataset, writeDataset, writeDemoSubset } from './helpers/cli_data';
import { BadFiles, writeBadFiles } from './helpers/cli_fixtures';
import { expectFailure, runCli, runInProcess } from './helpers/cli_run';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-cli-'));
let d: CliDataset;
let bad: BadFiles;
const model = path.join(tmp, 'model.safetensors');
// 10 epochs of 19 iterations: enough for the class-shifted anomalies to separate, well under a second.
const TRAIN = ['--epochs=10', '--batch-size', '16', '--lr', '1e-2', '--couplings', '2', '--class-names', 'a,b,c'];
let trainRun: { code: number; stdout: string; stderr: string };

test.before(async () => {
  d = writeDataset(tmp);
  trainRun = await runCli(['train', '--features', d.features, '--labels', d.labels, ...TRAIN, '--out', model]);
  if (trainRun.code !== 0) throw new Error(`training failed: ${trainRun.stderr}`);
  bad = writeBadFiles(d, model);
});

test.after.always(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const out = (name: string) => path.join(tmp, name);
const scoreArgs = (extra: string[], file: string) => ['score', '--model', model, '--features', d.test, ...extra, '--out', file];

async function score(extra: string[], file: string): Promise<Float32Array> {
  const r = await runCli(scoreArgs(extra, file));
  if (r.code !== 0) throw new Error(`hgad score ${extra.join(' ')} failed: ${r.stderr}`);
  const arr = readNpy(file);
  if (arr.dtype !== 'float32' || arr.shape.join() !== '300') throw new Error(`scores: ${arr.dtype} (${arr.shape})`);
  return arr.data as Float32Array;
}

async function evalJson(scores: string, truth: string, labels?: string) {
  const r = await runCli(['eval', '--scores', scores, '--truth', truth, ...(labels ? ['--labels', labels] : []), '--json']);
  if (r.code !== 0) throw new Error(`hgad eval failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { auroc: number; n: number; anomalous: number; perClass?: { label: number; auroc: number | null }[]; meanPerClass?: number };
}

// ---------------------------------------------------------------- round trip

test('train writes a model, a summary line and one progress line per epoch off a terminal', (t) => {
  t.true(fs.statSync(model).size > 0);
  t.regex(trainRun.stdout, /^trained 3 classes on 300 vectors \(C=6\) in [\d.]+ s; final loss -?[\d.]+; wrote .*model\.safetensors\n$/);
  const lines = trainRun.stderr.trimEnd().split('\n');
  t.is(lines.length, 10);
  t.regex(lines[9], /^epoch 10\/10  loss -?[\d.]+  lr [\d.]+e-\d  \d+ vec\/s  [\d.]+ s$/);
});

test('train --quiet prints no progress; default class names are 0..K-1', async (t) => {
  const m = out('quiet.safetensors');
  const r = await runCli(['train', '--features', d.features, '--labels', d.labels, '--epochs', '1', '--stage1-epochs', '0', '--couplings', '1', '--quiet', '--out', m]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  // --quiet silences progress, not warnings: one epoch inside the default two of stage 1 is said.
  const stage1 = await runCli(['train', '--features', d.features, '--labels', d.labels, '--epochs', '1', '--couplings', '1', '--quiet', '--out', m]);
  t.is(stage1.code, 0, stage1.stderr);
  t.regex(stage1.stderr, /^hgad: warning: all 1 epoch is stage 1 \(stage1Epochs = 2\): the intra-class mixtures were never trained/);
  const info = JSON.parse((await runCli(['info', '--model', m, '--json'])).stdout);
  t.deepEqual(info.classNames, ['0', '1', '2']);
});

test('info prints the model summary, as text and JSON', async (t) => {
  const text = await runCli(['info', '--model', model]);
  t.is(text.code, 0);
  for (const re of [/classes\s+3: a, b, c/, /levels\s+1: C=6/, /couplings\s+2/, /clamp\s+1\.9/, /intra centres\s+10/, /parameters\s+\d+/, /calibrated\s+yes/]) t.regex(text.stdout, re);
  const info = JSON.parse((await runCli(['info', '--model', model, '--json'])).stdout);
  t.like(info, { classNames: ['a', 'b', 'c'], levels: [{ channels: C, condChannels: 0 }], couplings: 2, clamp: 1.9, intraCentres: 10, calibrated: true });
  t.true(info.parameters > 0);
});

test('score --labels then eval: calibrated scores separate class-shifted anomalies', async (t) => {
  await score(['--labels', d.testLabels], out('cal.npy'));
  const r = await evalJson(out('cal.npy'), d.truth, d.testLabels);
  t.true(r.auroc > 0.8, `overall AUROC ${r.auroc}`);
  t.is(r.n, 300);
  t.is(r.anomalous, 150);
  t.deepEqual(r.perClass!.map((g) => g.label), [0, 1, 2]);
  for (const g of r.perClass!) t.true(g.auroc! > 0.8, `class ${g.label}: AUROC ${g.auroc}`);
  t.true(Math.abs(r.meanPerClass! - r.perClass!.reduce((a, g) => a + g.auroc!, 0) / 3) < 1e-12);
  const text = await runCli(['eval', '--scores', out('cal.npy'), '--truth', d.truth, '--labels', d.testLabels]);
  t.regex(text.stdout, /^AUROC 0\.\d{4}  \(300 scores: 150 anomalous, 150 normal\)/);
  t.regex(text.stdout, /\nmean\s+0\.\d{4}\n$/);
});

test('score kinds: logp and neg-entropy negate the model scores; chunking changes nothing, fusion included', async (t) => {
  const labels = ['--labels', d.testLabels];
  const [cal, fusion, logp, negEntropy, calChunked, fusionChunked] = await Promise.all([
    score([...labels], out('calibrated.npy')),
    score([...labels, '--kind', 'fusion'], out('fusion.npy')),
    score([...labels, '--kind', 'logp'], out('logp.npy')),
    score([...labels, '--kind', 'neg-entropy'], out('neg-entropy.npy')),
    score([...labels, '--batch-size', '70'], out('calibrated-chunked.npy')),
    score([...labels, '--kind', 'fusion', '--batch-size', '70'], out('fusion-chunked.npy')),
  ]);
  t.deepEqual(calChunked, cal);
  t.deepEqual(fusionChunked, fusion, 'fusion is computed over the whole input, not per chunk');
  const truth = readNpy(d.truth).data as Uint8Array;
  for (const [kind, s] of Object.entries({ cal, fusion, logp })) {
    t.true(s.every(Number.isFinite), kind);
    t.true(auroc(s, truth) > 0.5, `${kind}: AUROC ${auroc(s, truth)}`);
  }
  // The anomalies here are vectors of another trained class, which the mixture
  // classifies confidently: the entropy need not separate them (it is meant for
  // samples outside every class), so neg-entropy is checked against the model.
  const lib = await HGAD.load(model);
  const ref = await lib.score([{ features: readNpy(d.test).data as Float32Array }], readNpy(d.testLabels).data as Int32Array);
  lib.close();
  t.deepEqual(Array.from(negEntropy), Array.from(ref.levels[0].negEntropy, (v) => -v));
  t.true(fusion.every((v) => v >= 0));
  // Within one class, -logp ranks vectors as the calibrated score does.
  const first = (s: Float32Array) => s.subarray(0, 100);
  t.is(auroc(first(logp), truth.subarray(0, 100)), auroc(first(cal), truth.subarray(0, 100)));
});

test('score --class takes a class id or a class name', async (t) => {
  const byId = await score(['--class', '0'], out('class-id.npy'));
  const byName = await score(['--class', 'a'], out('class-name.npy'));
  t.deepEqual(byName, byId);
  const r = await runCli(['score', '--model', model, '--features', d.test0, '--class', 'a', '--out', out('class0.npy')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /scored 100 vectors as class 0 \("a"\), kind calibrated/);
  t.true((await evalJson(out('class0.npy'), d.truth0)).auroc > 0.8);
});

test('a successful score replaces an existing output file', async (t) => {
  const file = out('replaced.npy');
  fs.writeFileSync(file, 'old');
  await score(['--class', 'b', '--kind', 'logp'], file);
  t.is(readNpy(file).shape[0], 300);
});

test('devices --json reports the build and the devices found', async (t) => {
  const r = await runCli(['devices', '--json']);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(typeof j.cudaCompiled, 'boolean');
  t.true(Array.isArray(j.cudaArchs) && j.cudaArchs.every((a: unknown) => typeof a === 'string'));
  t.true(Array.isArray(j.devices));
  if (j.devices.length === 0) t.is(typeof j.reason, 'string');
  else t.is(j.reason, null);
  t.regex((await runCli(['devices'])).stdout, /^CUDA compiled {3}(yes|no)/);
});

// ---------------------------------------------------------------- help

test('hgad --help and hgad help list every command; each command has --help', async (t) => {
  const commands = ['train', 'score', 'eval', 'info', 'devices', 'demo'];
  for (const args of [['--help'], ['help']]) {
    const r = await runCli(args);
    t.is(r.code, 0);
    for (const c of commands) t.regex(r.stdout, new RegExp(`^  ${c} `, 'm'));
  }
  const trainHelp = await runCli(['train', '--help']);
  t.is(trainHelp.code, 0);
  t.is(trainHelp.stdout, (await runInProcess(['train', '--help'])).stdout);
  for (const c of commands) {
    const r = await runInProcess([c, '--help']);
    t.is(r.code, 0, c);
    t.regex(r.stdout, new RegExp(`^usage: hgad ${c}`, 'm'));
    t.regex(r.stdout, /--help/);
    t.is(r.stderr, '');
  }
  t.is((await runInProcess(['help', 'score'])).stdout, (await runInProcess(['score', '--bogus', '-h'])).stdout);
  const none = await runInProcess([]);
  t.is(none.code, 2);
  t.regex(none.stderr, /usage: hgad <command>/);
});

// ---------------------------------------------------------------- demo

test('demo --vectors --quick trains on a tiny Fashion-MNIST subset and prints per-class AUROC', async (t) => {
  const dir = path.join(tmp, 'fmnist');
  writeDemoSubset(dir, 40, 10);
  const r = await runCli(['demo', '--vectors', '--quick'], { HGAD_DEMO_DATA: dir });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /200 training images, 196 dims\), 2 epochs/);
  const rows = r.stdout.split('\n').filter((l) => /^(\d \S|mean)/.test(l));
  t.is(rows.length, 6, r.stdout);
  for (const row of rows) {
    const [calibrated, logp] = row.trim().split(/\s+/).slice(-2).map(Number);
    t.true(calibrated >= 0 && calibrated <= 1 && logp >= 0 && logp <= 1, row);
  }
  t.regex(r.stdout, /training took [\d.]+ s/);
  t.is(r.stderr.trimEnd().split('\n').length, 2, 'one progress line per epoch');
  await expectFailure(t, ['demo', '--vectors', '--quick'], 1, { env: { HGAD_DEMO_DATA: path.join(tmp, 'missing') }, match: /demo data not found/ });
});

// ---------------------------------------------------------------- progress on a terminal

test('the progress bar updates one line in place on a terminal', (t) => {
  const writes: string[] = [];
  let now = 0;
  const bar = new ProgressBar({ write: (s) => writes.push(s), isTTY: true, columns: 200 }, 'tty', () => now, 0);
  const p = (epoch: number, iteration: number, level = 0, levels = 1, subEpoch = 0, subEpochs = 1): FitProgress => ({
    level, levels, epoch, epochs: 6, metaEpoch: epoch, metaEpochs: 6, subEpoch, subEpochs, iteration, iterations: 10, stage: 1,
    lr: 1e-3, groupLr: [1e-3, 1e-3, 1e-3], vectorsPerSecond: 1234, etaSeconds: 3.2, step: 14, steps: 60,
    losses: { loss: -12.3454, L_g: 0, L_e: 0, L_mi: 0 } as FitProgress['losses'],
  });
  now = 1000;
  bar.update(p(1, 4));
  t.is(writes[0], '\repoch 2/6 [#####.....]  50%  loss -12.345  lr 1.0e-3  1234 vec/s  eta 0:03\x1b[K');
  bar.finish();
  t.is(writes[1], '\n');
  // Several levels and sub-epochs: the position counts every level of every batch of the meta-epoch.
  bar.update(p(1, 4, 1, 2, 1, 2));
  t.is(writes[2], '\rlevel 2/2 epoch 2/6 sub 2/2 [########..]  75%  loss -12.345  lr 1.0e-3  1234 vec/s  eta 0:03\x1b[K');
});

test('off a terminal: one line per epoch, and within a long epoch a progress line at most once a minute', (t) => {
  const writes: string[] = [];
  let now = 0;
  const bar = new ProgressBar({ write: (s) => writes.push(s) }, 'lines', () => now);
  const p = (epoch: number, iteration: number): FitProgress => ({
    level: 0, levels: 1, epoch, epochs: 2, metaEpoch: epoch, metaEpochs: 2, subEpoch: 0, subEpochs: 1, iteration, iterations: 10, stage: 1,
    lr: 1e-3, groupLr: [1e-3, 1e-3, 1e-3], vectorsPerSecond: 1000, etaSeconds: 125, step: epoch * 10 + iteration, steps: 20,
    losses: { loss: -1.5, L_g: 0, L_e: 0, L_mi: 0 } as FitProgress['losses'],
  });
  now = 30_000;
  bar.update(p(0, 0));
  t.deepEqual(writes, [], 'nothing within the first minute');
  now = 61_000;
  bar.update(p(0, 4));
  t.deepEqual(writes, ['epoch 1/2 [#####.....]  50%  loss -1.500  lr 1.0e-3  1000 vec/s  eta 2:05\n']);
  now = 100_000;
  bar.update(p(0, 5));
  t.is(writes.length, 1, 'at most once a minute');
  now = 110_000;
  bar.update(p(0, 9));
  t.is(writes[1], 'epoch 1/2  loss -1.500  lr 1.0e-3  1000 vec/s  110.0 s\n');
  now = 150_000;
  bar.update(p(1, 2));
  t.is(writes.length, 2, 'the minute counts from the epoch line');
});

// ---------------------------------------------------------------- errors

test('bad files fail cleanly and leave an existing --out untouched', async (t) => {
  const train = (features: string, labels: string, extra: string[] = []) => [
    'train', '--features', features, '--labels', labels, '--epochs', '1', ...extra, '--out', bad.sentinelModel];
  const o = { out: bad.sentinelModel };
  await expectFailure(t, train(out('missing.npy'), d.labels), 1, { ...o, match: /missing\.npy: no such file/ });
  await expectFailure(t, train(bad.garbage, d.labels), 1, { ...o, match: /garbage\.npy: not a \.npy file/ });
  await expectFailure(t, train(bad.truncatedNpy, d.labels), 1, { ...o, match: /truncated\.npy: truncated/ });
  await expectFailure(t, train(bad.nanFeatures, d.labels), 1, { ...o, match: /nan\.npy: .*non-finite.*row 7, column 3/ });
  await expectFailure(t, train(bad.oneDimFeatures, d.labels), 1, { ...o, match: /2-D array/ });
  await expectFailure(t, train(d.features, bad.shortLabels), 1, { ...o, match: /expected 300 labels.*found 299/ });
  await expectFailure(t, train(d.features, bad.fractionalLabels), 1, { ...o, match: /must be integers, found 0\.5/ });
  await expectFailure(t, train(d.features, bad.negativeLabels), 1, { ...o, match: />= 0, found -1/ });
  await expectFailure(t, train(d.features, d.labels, ['--class-names', 'x,y']), 1, { ...o, match: /label 2 .*out of range/ });
  const noDir = ['train', '--features', d.features, '--labels', d.labels, '--out', path.join(tmp, 'no-dir', 'm.safetensors')];
  await expectFailure(t, noDir, 1, { match: /no-dir does not exist/ });
  await expectFailure(t, ['info', '--model', bad.truncatedModel], 1, { match: /truncated\.safetensors: truncated/ });
  await expectFailure(t, ['info', '--model', bad.garbage], 1, { match: /garbage\.npy: / });
  await expectFailure(t, ['info', '--model', tmp], 1, { match: /is a directory/ });
});

test('bad scoring inputs fail cleanly and leave an existing --out untouched', async (t) => {
  const o = { out: bad.sentinelScores };
  const s = (extra: string[], features = d.test) => ['score', '--model', model, '--features', features, ...extra, '--out', bad.sentinelScores];
  await expectFailure(t, s(['--class', '0'], bad.narrowFeatures), 1, { ...o, match: /5 channels .*expects C=6/ });
  await expectFailure(t, s(['--class', '3']), 2, { ...o, match: /class id out of range, the model has 3 classes/ });
  await expectFailure(t, s(['--class', 'zebra']), 2, { ...o, match: /no class of that name/ });
  await expectFailure(t, s(['--labels', bad.shortLabels]), 1, { ...o, match: /expected 300 labels/ });
  await expectFailure(t, s(['--class', '0'], bad.nanFeatures), 1, { ...o, match: /non-finite/ });
  await expectFailure(t, s(['--class', '0', '--cond', d.test]), 2, { ...o, match: /unconditional/ });
  await expectFailure(t, ['score', '--model', bad.truncatedModel, '--features', d.test, '--class', '0', '--out', bad.sentinelScores], 1, { ...o, match: /truncated/ });
  await expectFailure(t, s([]), 2, { ...o, match: /one of --class or --labels is required/ });
  await expectFailure(t, s(['--class', '0', '--labels', d.testLabels]), 2, { ...o, match: /cannot be used together/ });
  await expectFailure(t, s(['--class', '0', '--kind', 'fusoin']), 2, { ...o, match: /did you mean fusion/ });
  await expectFailure(t, s(['--class', '0', '--batch-size', '0']), 2, { ...o, match: /--batch-size: expected an integer >= 1/ });
  await expectFailure(t, ['eval', '--scores', out('missing.npy'), '--truth', d.truth], 1, { match: /no such file/ });
  await expectFailure(t, ['eval', '--scores', d.truth0, '--truth', d.truth], 1, { match: /expected 100 truth values/ });
  await expectFailure(t, ['eval', '--scores', d.testLabels, '--truth', bad.truthOnlyZeros], 1, { match: /only 0s/ });
  await expectFailure(t, ['eval', '--scores', d.testLabels, '--truth', d.testLabels], 1, { match: /must be 0 \(normal\) or 1/ });
});

test('usage mistakes exit 2 with a hint', async (t) => {
  const o = { out: bad.sentinelModel };
  const train = (...extra: string[]) => ['train', '--features', d.features, '--labels', d.labels, ...extra, '--out', bad.sentinelModel];
  const cases: [string[], RegExp][] = [
    [train('--epochs', '0'), /--epochs: expected an integer >= 1, got "0"/],
    [train('--epochs', '2.5'), /--epochs: expected an integer/],
    [train('--lr', '-1'), /--lr: expected a number > 0, got "-1"/],
    [train('--lr', 'abc'), /--lr: expected a number > 0, got "abc"/],
    [train('--clamp', '0'), /--clamp: expected a number > 0/],
    [train('--batch-size', '1'), /--batch-size: expected an integer >= 2/],
    [train('--class-names', 'a,a,b'), /distinct/],
    [train('--epochs'), /--epochs needs a value/],
    [train('--ouy', 'x'), /unknown option --ouy \(did you mean --out\?\)/],
    [train('--quiet=yes'), /--quiet takes no value/],
    [train('--device', 'gpu'), /--device: expected one of cpu, cuda, auto, got "gpu"/],
    [train('--precision', 'fp16'), /--precision: expected one of fp32, tf32, got "fp16"/],
    [train('extra'), /unexpected argument "extra"/],
    [train('--seed', '1', '--seed', '2'), /given more than once/],
    [['train', '--features', d.features, '--out', bad.sentinelModel], /missing required option --labels/],
    [['trian'], /unknown command "trian" \(did you mean train\?\)/],
    [['--frobnicate'], /expected a command/],
  ];
  for (const [i, [args, match]] of cases.entries()) {
    // A few through the executable, the rest in-process (same code path, no start-up cost).
    const r = await expectFailure(t, args, 2, { ...o, match, inProcess: i % 5 !== 0 });
    t.regex(r.stderr, /\nrun 'hgad (\w+ )?--help' for/);
  }
});

test('--device: auto runs on the CPU without a GPU; cuda without one fails before any work, naming the reason', async (t) => {
  const { devices } = await import('../lib/backend/devices');
  if (devices().devices.length > 0) {
    t.log('a GPU is present: the no-GPU behaviour of --device was not exercised');
    const r = await runCli(scoreArgs(['--labels', d.testLabels, '--device', 'cuda'], out('cuda.npy')));
    t.is(r.code, 0, r.stderr);
    return;
  }
  const viaAuto = await score(['--labels', d.testLabels, '--device', 'auto'], out('auto.npy'));
  const viaCpu = await score(['--labels', d.testLabels], out('cpu.npy'));
  t.deepEqual(Array.from(viaAuto), Array.from(viaCpu));
  await expectFailure(t, scoreArgs(['--labels', d.testLabels, '--device', 'cuda'], bad.sentinelScores), 1,
    { out: bad.sentinelScores, match: /^hgad: --device cuda: CUDA is not available: .*; use --device cpu or --device auto/ });
  await expectFailure(t, ['train', '--features', d.features, '--labels', d.labels, '--device', 'cuda', '--out', bad.sentinelModel], 1,
    { out: bad.sentinelModel, match: /--device cuda: CUDA is not available/ });
  await expectFailure(t, ['demo', '--quick', '--device', 'cuda'], 1, { match: /--device cuda: CUDA is not available/, inProcess: true });
});

test('HGAD_DEBUG=1 adds the stack trace', async (t) => {
  const r = await runCli(['info', '--model', bad.truncatedModel], { HGAD_DEBUG: '1' });
  t.is(r.code, 1);
  t.regex(r.stderr, /^hgad: .*truncated/);
  t.regex(r.stderr, /^\s+at /m);
});

test('eval agrees with scikit-learn on the golden AUROC case, ties included', async (t) => {
  const { loadGolden } = await import('./helpers/golden');
  const { writeNpy } = await import('../lib/io/npy');
  const g = loadGolden('maps_and_metrics').auroc;
  const scores = out('golden-scores.npy');
  const truth = out('golden-truth.npy');
  writeNpy(scores, { dtype: 'float64', shape: [g.scores.length], data: Float64Array.from(g.scores) });
  writeNpy(truth, { dtype: 'int64', shape: [g.labels.length], data: BigInt64Array.from(g.labels.map((v: number) => BigInt(v))) });
  const r = await runCli(['eval', '--scores', scores, '--truth', truth, '--json']);
  t.is(r.code, 0, r.stderr);
  const value = JSON.parse(r.stdout).auroc ?? JSON.parse(r.stdout).overall;
  t.true(Math.abs(value - g.value) <= 1e-12, `hgad eval gave ${r.stdout.trim()}, scikit-learn ${g.value}`);
});
