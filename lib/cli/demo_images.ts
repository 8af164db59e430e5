// hgad demo (the default): the image path end to end on the bundled
// Fashion-MNIST subset. A small defect set in the MVTec AD layout (patch,
// scratch and stain defects with pixel masks) is written, both model kinds
// (hgad and the single-Gaussian flow) are fitted briefly on it with the
// shipped backbone at 56 px, tested as `hgad test` does, and the per-kind
// metric table is printed with the path of the one-file HTML report.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ModelKind } from '../hgad/config';
import type { DeviceOptions } from '../hgad';
import type { LocalisationMetrics } from '../metrics/localisation';
import type { ReportClass } from '../report/html';
import { out } from './command';
import { CliError } from './errors';
import { ProgressBar, ProgressStream, progressMode } from './progress';

export interface ImageDemoOptions {
  /** the IDX directory */
  dataDir: string;
  /** where the defect set and report.html go: a new or empty folder (default: a new temporary folder) */
  outDir?: string;
  /** the smallest run (2 classes, a few images, one meta-epoch), for tests */
  quick?: boolean;
  /** meta-epochs of each fit (default 4, 1 with quick) */
  epochs?: number;
  seed?: number;
  device?: DeviceOptions;
  quiet?: boolean;
  write?: (text: string) => void;
  progress?: ProgressStream;
}

export interface ImageDemoResult {
  outDir: string;
  report: string;
  /** per model kind: the mean over the classes */
  means: Record<ModelKind, LocalisationMetrics>;
  seconds: number;
}

const KINDS: ModelKind[] = ['hgad', 'flow'];

/** The output folder, and whether the demo created it (a failed run removes what it wrote). */
function outputFolder(dir: string | undefined): { dir: string; created: boolean } {
  if (dir === undefined) return { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-demo-')), created: true };
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory() || fs.readdirSync(target).length > 0) throw new CliError(`--out: Expected a new or empty folder but received ${dir} (it exists and is not empty)`);
    return { dir: target, created: false };
  }
  if (!fs.existsSync(path.dirname(target))) throw new CliError(`--out: Expected a folder whose parent exists but received ${dir}`);
  fs.mkdirSync(target);
  return { dir: target, created: true };
}

export async function runImageDemo(o: ImageDemoOptions): Promise<ImageDemoResult> {
  const checked = { ...o, quick: o.quick ?? false, epochs: o.epochs ?? (o.quick ? 1 : 4) };
  if (!Number.isInteger(checked.epochs) || checked.epochs < 1) throw new CliError(`demo: epochs must be a positive integer, got ${checked.epochs}`);
  const target = outputFolder(o.outDir);
  try {
    return await imageDemo(checked, target.dir);
  } catch (e) {
    if (target.created) fs.rmSync(target.dir, { recursive: true, force: true });
    else for (const f of fs.readdirSync(target.dir)) fs.rmSync(path.join(target.dir, f), { recursive: true, force: true });
    throw e;
  }
}

async function imageDemo(o: ImageDemoOptions & { quick: boolean; epochs: number }, outDir: string): Promise<ImageDemoResult> {
  const write = o.write ?? out;
  const { quick, epochs } = o;
  const seed = o.seed ?? 0;
  const started = Date.now();
  const fm = await import('../data/fashion_mnist');
  let data: import('../data/fashion_mnist').FashionMnist;
  try {
    data = fm.loadFashionMnist(o.dataDir);
  } catch (e) {
    if (/not found/.test((e as Error).message)) {
      throw new CliError(`demo data not found: ${o.dataDir} lacks the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)\nset HGAD_DEMO_DATA or pass --data DIR`);
    }
    throw e;
  }
  const set = quick
    ? { classes: ['tshirt', 'bag'], train: 16, testGood: 4, perDefect: 2, seed }
    : { classes: ['tshirt', 'coat', 'bag'], train: 100, testGood: 20, perDefect: 10, seed };
  const dataSet = path.join(outDir, 'defects');
  const { writeDefectSet } = await import('../images/defect_set');
  try {
    await writeDefectSet(data, dataSet, set);
  } catch (e) {
    throw new CliError(`${o.dataDir}: ${(e as Error).message}`);
  }
  write(
    `hgad demo: a defect set of ${set.classes.length} Fashion-MNIST classes (${set.classes.join(', ')}) in ${dataSet}: ` +
      `${set.train} training, ${set.testGood} normal and ${3 * set.perDefect} defective test images each, 56 px\n`,
  );

  const { fitImages } = await import('../images/fit_images');
  const { openModelBackbone } = await import('../localise/score_images');
  const { evaluateImages } = await import('../localise/evaluate');
  const { meanOverClasses } = await import('../metrics/summary');
  const { reportSection, mapRange } = await import('./test_images_run');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-demo-cache-'));
  const sections: ReportClass[] = [];
  const means = {} as Record<ModelKind, LocalisationMetrics>;
  const trainSeconds = {} as Record<ModelKind, number>;
  const stream = o.progress ?? process.stderr;
  try {
    for (const kind of KINDS) {
      const progress = new ProgressBar(stream, progressMode(stream, o.quiet ?? false));
      let fitted;
      try {
        fitted = await fitImages({
          data: dataSet, kind, imageSize: 56, condChannels: quick ? 16 : 64, couplings: quick ? 2 : 8, intraCentres: quick ? 2 : 10, metaEpochs: epochs, subEpochs: 1,
          lr: 1e-3, seed, cacheDir, device: o.device?.device, precision: o.device?.precision,
          onProgress: (p) => {
            if (p.phase === 'train') progress.update(p);
          },
        });
      } finally {
        progress.finish();
      }
      trainSeconds[kind] = fitted.summary.seconds;
      const { backbone, preprocessing } = await openModelBackbone(fitted.model, undefined, `${kind} model`);
      try {
        const perClass = await evaluateImages(fitted.model, fitted.index, backbone, preprocessing, { kind: 'calibrated', curves: true }, async (r) => {
          sections.push(await reportSection(r, preprocessing, mapRange(r.maps), `${kind} · ${r.name}`));
        });
        means[kind] = meanOverClasses(perClass);
      } finally {
        await backbone.close();
        fitted.model.close();
      }
    }
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }

  const { renderReport } = await import('../report/html');
  const { writeFileAtomicAsync } = await import('../io/atomic');
  const report = path.join(outDir, 'report.html');
  const rate = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
  const html = renderReport({
    title: `hgad demo: hgad and flow on ${set.classes.length} Fashion-MNIST defect classes`,
    scoreKind: 'calibrated map, image score = max, sigma 4; sections per model kind and class; the mean row is hgad\'s',
    classes: sections,
    mean: means.hgad,
    notes: [
      ...KINDS.map((k) => `${k}: mean image AUROC ${rate(means[k].imageAuroc)}, pixel AUROC ${rate(means[k].pixelAuroc)}, AUPRO ${rate(means[k].aupro)}; trained in ${trainSeconds[k].toFixed(1)} s`),
      `data ${dataSet}`,
      new Date().toISOString(),
    ],
  });
  await writeFileAtomicAsync(report, Buffer.from(html));
  const seconds = (Date.now() - started) / 1000;
  const lines = ['', `${'model'.padEnd(8)}${'image AUROC'.padStart(13)}${'pixel AUROC'.padStart(13)}${'AUPRO'.padStart(8)}${'train s'.padStart(9)}`];
  for (const k of KINDS) {
    const m = means[k];
    lines.push(`${k.padEnd(8)}${rate(m.imageAuroc).padStart(13)}${rate(m.pixelAuroc).padStart(13)}${rate(m.aupro).padStart(8)}${trainSeconds[k].toFixed(1).padStart(9)}`);
  }
  lines.push('', `mean over ${set.classes.length} classes, calibrated maps; ${seconds.toFixed(1)} s in all`, `report: ${report}`);
  write(lines.join('\n') + '\n');
  return { outDir, report, means, seconds };
}
