// hgad fit's cost flags: the preview printed before training, --dry-run
// stopping there (nothing written), --preset and --positions-per-image, a
// --time-budget recorded in the model, and clean errors for bad values.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { expectFailure, runCli } from './helpers/cli_run';
import { makeMvtec, tempDir } from './helpers/mvtec';

const small = ['--image-size', '32', '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '2', '--sub-epochs', '2', '--batch-images', '2'];

test('hgad fit --dry-run prints the preview and writes nothing; a real run prints it first and records its schedule', async (t) => {
  const root = await makeMvtec({ bottle: { train: 4 }, cable: { train: 2 } });
  const cache = tempDir();
  const dry = await runCli(['fit', '--data', root, '--cache', cache, '--dry-run', '--positions-per-image', '1/4', ...small]);
  t.is(dry.code, 0, dry.stderr);
  // 6 images, batches of 2: 6 images per pass, 4 passes; the counts per level are each level's h*w/4
  const m = /^preview: ([0-9,]+) vectors \(4 passes of 6 images, positions per image ((?:\d+\/\d+(?:, )?)+)\), [0-9.]+ TFLOP; about [0-9:]+ on this machine/.exec(dry.stdout);
  t.truthy(m, dry.stdout);
  const levels = m![2].split(', ').map((s) => s.split('/').map(Number));
  t.is(Number(m![1].replace(/,/g, '')), 4 * 6 * levels.reduce((a, [n]) => a + n, 0));
  for (const [n, hw] of levels) t.is(n, Math.max(1, Math.round(hw / 4)));
  t.false(/trained /.test(dry.stdout));
  t.regex(dry.stdout, /then [0-9:]+ to calibrate on 6 images\)/, 'every image by default');
  const capped = await runCli(['fit', '--data', root, '--cache', cache, '--dry-run', '--calibration-images', '1', ...small]);
  t.regex(capped.stdout, /then [0-9:]+ to calibrate on 2 images\)/, 'one image of each class');

  const out = path.join(tempDir(), 'm.safetensors');
  const r = await runCli(['fit', '--data', root, '--cache', cache, '--out', out, '--preset', 'fast', '--time-budget', '60s', ...small]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^preview: [0-9,]+ vectors/m);
  t.regex(r.stderr, /budget left [0-9:]+/);
  const training = (await HGAD.load(out)).config.training!;
  t.is(training.timeBudget, 60);
  t.is(training.metaEpochs, 2);
  t.deepEqual(training.positionsPerImage, levels.map(([, hw]) => Math.max(1, Math.round(hw / 16))), 'fast: 1/16 of each level');
  t.is(training.calibrationImages, 6, 'fast: at most 64 images of each class');
});

test('hgad fit: bad --positions-per-image, --time-budget, --preset and a missing --out fail with one line', async (t) => {
  const root = await makeMvtec({ bottle: { train: 2 } });
  const out = path.join(tempDir(), 'm.safetensors');
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--positions-per-image', '0', ...small], 2, { out, match: /--positions-per-image but received 0/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--positions-per-image', '3/2', ...small], 2, { out, match: /Expected a fraction in \(0, 1\] for --positions-per-image/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--time-budget', '5x', ...small], 2, { out, match: /--time-budget: expected a duration such as 45m/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--preset', 'slow', ...small], 2, { out, match: /--preset/ });
  await expectFailure(t, ['fit', '--data', root, '--out', out, '--calibration-images', '0', ...small], 2, { out, match: /--calibration-images: expected an integer >= 1, got "0"/ });
  await expectFailure(t, ['fit', '--data', root, ...small], 2, { match: /missing required option --out/ });
  t.false(fs.existsSync(out));
});
