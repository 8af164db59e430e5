// hgad fit and hgad test on test sets as the reference reads them: an
// unreadable test image does not stop fit with --skip-unreadable, hgad test
// names it (or skips and lists it), a defect image with an empty mask is
// anomalous (labels by folder), and the mean line says which classes it averages.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { expectFailure, runCli } from './helpers/cli_run';
import { tempDir, writePng } from './helpers/mvtec';

const root = path.join(__dirname, '..', '..');
const small = ['--image-size', '56', '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '4', '--quiet'];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function defectTypes(data: string, cls: string): string[] {
  return fs.readdirSync(path.join(data, cls, 'test')).filter((d) => d !== 'good').sort();
}

test('an unreadable test image: fit goes on with --skip-unreadable; hgad test names it, or skips and lists it; labels by folder; the mean names its classes', async (t) => {
  const dir = tempDir('hgad-sets-');
  const data = path.join(dir, 'defects');
  execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'make_defects.js'), '--out', data, '--data', path.join(root, 'data', 'fmnist-subset'),
    '--classes', 'tshirt,pullover', '--train', '8', '--test-good', '3', '--per-defect', '2']);
  const bad = path.join(data, 'pullover', 'test', 'good', '001.png');
  fs.writeFileSync(bad, 'this is not a png');
  const model = path.join(dir, 'm.safetensors');
  const fit = ['fit', '--data', data, '--out', model, '--cache', path.join(dir, 'cache'), ...small];
  await expectFailure(t, fit, 1, { out: model, match: new RegExp(`${escape(bad)}: 1 unreadable test image or mask: .*--skip-unreadable`) });
  const fitted = await runCli([...fit, '--skip-unreadable']);
  t.is(fitted.code, 0, fitted.stderr);
  t.regex(fitted.stderr, new RegExp(`warning: unreadable test image \\(not used by fit\\) ${escape(bad)}: cannot read the image`));

  const json = path.join(dir, 'metrics.json');
  await expectFailure(t, ['test', '--model', model, '--data', data, '--json', json], 1, { out: json, match: new RegExp(`^hgad: ${escape(bad)}: 1 unreadable test image or mask: ${escape(bad)} \\(cannot read the image`) });

  // tshirt: one defect image whose mask is empty (still anomalous); pullover: normal test images only
  const types = defectTypes(data, 'tshirt');
  const emptied = path.join(data, 'tshirt', 'ground_truth', types[0], fs.readdirSync(path.join(data, 'tshirt', 'ground_truth', types[0])).sort()[0]);
  await writePng(emptied, 56, 56, 1, new Uint8Array(56 * 56));
  for (const d of defectTypes(data, 'pullover')) fs.rmSync(path.join(data, 'pullover', 'test', d), { recursive: true });
  const r = await runCli(['test', '--model', model, '--data', data, '--json', json, '--skip-unreadable']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`hgad: warning: skipped ${escape(bad)}: cannot read the image`));
  const m = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.is(m.classes.tshirt.n_anomalous, 2 * types.length, 'the defect image with an empty mask is anomalous');
  t.is(m.classes.tshirt.n_normal, 3);
  t.is(m.classes.pullover.n_normal, 2, 'the unreadable image is left out');
  t.is(m.classes.pullover.image_auroc, null);
  t.regex(r.stdout, /^mean over 1 class: image AUROC [0-9.]+ \(undefined for pullover\), pixel AUROC [0-9.]+ \(undefined for pullover\), AUPRO [0-9.]+ \(undefined for pullover\) \(calibrated\)\n$/);
});
