// hgad demo: by default the image path end to end (demo_images.ts); with
// --vectors the FMNIST-U protocol on the Fashion-MNIST subset shipped with
// the package: one unified model on classes 0, 2, 4, 6, 8 (2x2-pooled,
// standardised pixels); each class's test images are scored as that class
// together with every test image of classes 1, 3, 5, 7, 9 (the anomalies).
import * as path from 'path';
import { ParsedArgs } from './args';
import { Command, out } from './command';
import { CliError } from './errors';
import { ProgressBar, ProgressMode, ProgressStream, progressMode } from './progress';
import { checkDevice, DEVICE_FLAGS, deviceOptions } from './model_file';
import type { DeviceOptions } from '../hgad';

export const FMNIST_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const DEMO_NORMAL = [0, 2, 4, 6, 8];
export const DEMO_ANOMALOUS = [1, 3, 5, 7, 9];

export interface DemoOptions {
  /** Training epochs (default 6, or 2 with quick). */
  epochs?: number;
  /** A short run for tests: 2 epochs unless epochs is given. */
  quick?: boolean;
  /** The IDX directory; default $HGAD_DEMO_DATA, else data/fmnist-subset of the package. */
  dataDir?: string;
  seed?: number;
  /** Where to train and score ('cpu' default, 'cuda', 'auto') and the GEMM precision on a GPU. */
  device?: DeviceOptions;
  /** No progress bar. */
  quiet?: boolean;
  /** Where the table goes (default stdout) and where progress goes (default stderr). */
  write?: (text: string) => void;
  progress?: ProgressStream;
}

export interface DemoClassResult {
  classId: number;
  name: string;
  normal: number;
  anomalous: number;
  calibrated: number;
  logp: number;
}

export interface DemoResult {
  dataDir: string;
  epochs: number;
  trainVectors: number;
  dims: number;
  trainSeconds: number;
  classes: DemoClassResult[];
  mean: { calibrated: number; logp: number };
}

export function defaultDemoDataDir(): string {
  const env = process.env.HGAD_DEMO_DATA;
  if (env !== undefined && env !== '') return env;
  // dist/lib/cli -> package root
  return path.join(__dirname, '..', '..', '..', 'data', 'fmnist-subset');
}

function mean(a: number[]): number {
  return a.reduce((x, y) => x + y, 0) / a.length;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const write = options.write ?? out;
  const epochs = options.epochs ?? (options.quick ? 2 : 6);
  if (!Number.isInteger(epochs) || epochs < 1) throw new CliError(`demo: epochs must be a positive integer, got ${epochs}`);
  const seed = options.seed ?? 0;
  const dataDir = options.dataDir ?? defaultDemoDataDir();
  const fm = await import('../data/fashion_mnist');
  let data: import('../data/fashion_mnist').FashionMnist;
  try {
    data = fm.loadFashionMnist(dataDir);
  } catch (e) {
    const msg = (e as Error).message;
    if (/not found/.test(msg)) {
      throw new CliError(`demo data not found: ${dataDir} lacks the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)\nset HGAD_DEMO_DATA or pass --data DIR`);
    }
    throw e;
  }
  if (data.train.labels.length !== data.train.images.count || data.test.labels.length !== data.test.images.count) {
    throw new CliError(`${dataDir}: the image and label files hold different numbers of entries`);
  }
  const trainIdx = fm.indicesOf(data.train.labels, DEMO_NORMAL);
  for (const c of DEMO_NORMAL) {
    if (!trainIdx.some((i) => data.train.labels[i] === c)) throw new CliError(`${dataDir}: no training images of class ${c} (${FMNIST_NAMES[c]})`);
  }
  const raw = fm.pooledFeatures(data.train.images, trainIdx);
  const D = raw.length / trainIdx.length;
  const stdz = fm.fitStandardiser(raw, D);
  const features = fm.standardise(raw, stdz);
  const remap = new Map(DEMO_NORMAL.map((c, k) => [c, k]));
  const labels = Int32Array.from(trainIdx, (i) => remap.get(data.train.labels[i])!);
  write(
    `hgad demo: one unified model on Fashion-MNIST classes ${DEMO_NORMAL.join(', ')} ` +
      `(${trainIdx.length} training images, ${D} dims), ${epochs} epoch${epochs === 1 ? '' : 's'}\n`,
  );

  const { HGAD } = await import('../hgad');
  const model = HGAD.create(
    { levels: [{ channels: D, condChannels: 0 }], classNames: DEMO_NORMAL.map((c) => FMNIST_NAMES[c]), couplings: 8, clamp: 1.9, intraCentres: 10 },
    seed,
    options.device,
  );
  const stream = options.progress ?? process.stderr;
  const mode: ProgressMode = progressMode(stream, options.quiet ?? false);
  const progress = new ProgressBar(stream, mode);
  const started = Date.now();
  try {
    await model.fit([{ features, labels }], { epochs, batchSize: 256, lr: 1e-3, seed, onProgress: (p) => progress.update(p) });
  } finally {
    progress.finish();
  }
  const trainSeconds = (Date.now() - started) / 1000;

  const { auroc } = await import('../metrics/auroc');
  const anomIdx = fm.indicesOf(data.test.labels, DEMO_ANOMALOUS);
  if (anomIdx.length === 0) throw new CliError(`${dataDir}: no test images of classes ${DEMO_ANOMALOUS.join(', ')} (the anomalies)`);
  const anomFeatures = fm.standardise(fm.pooledFeatures(data.test.images, anomIdx), stdz);
  // Every class's test images, each followed by all the anomalies, scored in one call as that class.
  const parts = DEMO_NORMAL.map((cls, k) => ({ cls, k, idx: fm.indicesOf(data.test.labels, [cls]) })).filter((p) => p.idx.length > 0);
  const rows = parts.reduce((a, p) => a + p.idx.length + anomIdx.length, 0);
  const all = new Float32Array(rows * D);
  const as = new Int32Array(rows);
  let row = 0;
  for (const p of parts) {
    all.set(fm.standardise(fm.pooledFeatures(data.test.images, p.idx), stdz), row * D);
    all.set(anomFeatures, (row + p.idx.length) * D);
    as.fill(p.k, row, row + p.idx.length + anomIdx.length);
    row += p.idx.length + anomIdx.length;
  }
  const s = rows > 0 ? await model.score([{ features: all }], as) : null;
  const classes: DemoClassResult[] = [];
  row = 0;
  for (const p of parts) {
    const n = p.idx.length + anomIdx.length;
    const truth = new Uint8Array(n).fill(1, p.idx.length);
    classes.push({
      classId: p.cls,
      name: FMNIST_NAMES[p.cls],
      normal: p.idx.length,
      anomalous: anomIdx.length,
      calibrated: auroc(s!.calibrated!.subarray(row, row + n), truth),
      logp: auroc(Float32Array.from(s!.levels[0].logp.subarray(row, row + n), (v) => -v), truth),
    });
    row += n;
  }
  if (classes.length === 0) throw new CliError(`${dataDir}: no test images of classes ${DEMO_NORMAL.join(', ')}`);
  const result: DemoResult = {
    dataDir,
    epochs,
    trainVectors: trainIdx.length,
    dims: D,
    trainSeconds,
    classes,
    mean: { calibrated: mean(classes.map((c) => c.calibrated)), logp: mean(classes.map((c) => c.logp)) },
  };
  const lines = ['', `${'class'.padEnd(16)}${'test'.padStart(6)}  AUROC calibrated  AUROC logp`];
  for (const c of classes) {
    lines.push(`${`${c.classId} ${c.name}`.padEnd(16)}${String(c.normal).padStart(6)}  ${c.calibrated.toFixed(4).padStart(16)}  ${c.logp.toFixed(4).padStart(10)}`);
  }
  lines.push(`${'mean'.padEnd(16)}${''.padStart(6)}  ${result.mean.calibrated.toFixed(4).padStart(16)}  ${result.mean.logp.toFixed(4).padStart(10)}`);
  lines.push('', `anomalies: ${anomIdx.length} test images of classes ${DEMO_ANOMALOUS.join(', ')}; training took ${trainSeconds.toFixed(1)} s`);
  write(lines.join('\n') + '\n');
  return result;
}

export const demo: Command = {
  name: 'demo',
  summary: 'the image path end to end on the bundled Fashion-MNIST subset (defects, hgad and flow, report); --vectors: FMNIST-U',
  usage: [
    'hgad demo [--out DIR] [--quick] [--epochs N] [--data DIR] [--device cpu|cuda|auto]',
    'hgad demo --vectors [--epochs N] [--quick] [--data DIR] [--device cpu|cuda|auto]',
  ],
  flags: [
    { name: 'out', value: 'DIR', help: 'a new or empty folder for the defect set and report.html (default: a new temporary folder; not with --vectors)' },
    { name: 'vectors', help: 'the FMNIST-U protocol on 2x2-pooled pixel vectors instead of images' },
    { name: 'epochs', value: 'N', help: 'training epochs (images: meta-epochs of each fit, default 4; vectors: default 6)' },
    { name: 'quick', help: 'a short run (images: 2 classes, a few images, 1 meta-epoch; vectors: 2 epochs)' },
    { name: 'data', value: 'DIR', help: 'directory of the Fashion-MNIST IDX files (default $HGAD_DEMO_DATA, else the bundled data/fmnist-subset)' },
    { name: 'quiet', help: 'no progress bar' },
    ...DEVICE_FLAGS,
  ],
  notes: [
    'Images (default): writes DIR/defects, a defect set in the MVTec AD layout (tshirt, coat, bag: 100 training, ' +
      '20 normal and 30 defective test images each, patch, scratch and stain defects with their masks, 56 px), fits hgad and ' +
      'the single-Gaussian flow on it with the shipped backbone (8 couplings, P 64, M 10, 4 meta-epochs), tests both as hgad test does ' +
      '(calibrated maps) and prints each kind\'s mean image AUROC, pixel AUROC and AUPRO and the path of DIR/report.html.',
    'Vectors (--vectors): trains one model on classes 0, 2, 4, 6, 8 (8 couplings, clamp 1.9, 10 intra-class centres, batch 256, lr 1e-3), ' +
      'then scores each class\'s test images together with all test images of classes 1, 3, 5, 7, 9 as that class ' +
      'and prints the AUROC per class (calibrated and -logp scores) and their mean.',
  ],
  run: async (args: ParsedArgs) => {
    const device = deviceOptions(args);
    const vectors = args.flag('vectors');
    const outDir = args.string('out');
    if (vectors && outDir !== undefined) throw new CliError('--out goes with the image demo, not with --vectors');
    await checkDevice(device);
    const common = { epochs: args.int('epochs', { min: 1 }), quick: args.flag('quick'), quiet: args.flag('quiet'), device };
    if (vectors) await runDemo({ ...common, dataDir: args.string('data') });
    else await (await import('./demo_images')).runImageDemo({ ...common, dataDir: args.string('data') ?? defaultDemoDataDir(), outDir });
    return 0;
  },
};
