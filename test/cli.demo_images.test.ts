// hgad demo (the image path) with its smallest settings on the bundled
// Fashion-MNIST subset: a defect set, hgad and flow fitted and tested, one
// HTML report, the metric table per model kind; and its bad inputs.
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expectFailure, runCli } from './helpers/cli_run';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-demo-images-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('demo --quick runs the image path end to end: exit 0, one HTML report, the table per kind', async (t) => {
  const out = path.join(tmp, 'run');
  const r = await runCli(['demo', '--quick', '--quiet', '--out', out], { HGAD_DEMO_DATA: '' });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /a defect set of 2 Fashion-MNIST classes \(tshirt, bag\)/);
  const rows = r.stdout.split('\n').filter((l) => /^(hgad|flow) +[\d.–]/.test(l));
  t.deepEqual(rows.map((l) => l.split(/\s+/)[0]), ['hgad', 'flow'], r.stdout);
  for (const row of rows) {
    const [image, pixel, aupro] = row.trim().split(/\s+/).slice(1, 4).map(Number);
    for (const v of [image, pixel, aupro]) t.true(v >= 0 && v <= 1, row);
  }
  t.regex(r.stdout, /^model +image AUROC +pixel AUROC +AUPRO +train s$/m);
  const report = path.join(out, 'report.html');
  t.true(r.stdout.includes(`report: ${report}\n`), r.stdout);
  // One self-contained file: no other file beside it but the defect set, nothing fetched.
  t.deepEqual(fs.readdirSync(out).sort(), ['defects', 'report.html']);
  const html = fs.readFileSync(report, 'utf8');
  t.regex(html, /^<!DOCTYPE html>/);
  t.regex(html, /<\/html>\s*$/);
  t.false(/(src|href)="https?:/.test(html));
  for (const s of ['hgad · tshirt', 'hgad · bag', 'flow · tshirt', 'flow · bag']) t.true(html.includes(s), s);
  t.true(fs.existsSync(path.join(out, 'defects', 'bag', 'ground_truth', 'stain', '000_mask.png')));
});

test('demo refuses a non-empty --out, --out with --vectors and missing data, leaving nothing behind', async (t) => {
  const full = path.join(tmp, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'keep.txt'), 'x');
  await expectFailure(t, ['demo', '--quick', '--out', full], 1, { match: /--out: Expected a new or empty folder but received/ });
  t.deepEqual(fs.readdirSync(full), ['keep.txt']);
  await expectFailure(t, ['demo', '--vectors', '--out', path.join(tmp, 'v')], 1, { match: /--out goes with the image demo/ });
  const missing = path.join(tmp, 'missing-out');
  await expectFailure(t, ['demo', '--quick', '--out', missing], 1, { env: { HGAD_DEMO_DATA: path.join(tmp, 'nothing') }, match: /demo data not found/ });
  t.false(fs.existsSync(missing));
});
