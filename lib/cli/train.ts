// hgad train: fits a single-level HGAD model on (N, C) feature vectors with
// class labels, then saves it (atomically) as safetensors.
import { ParsedArgs } from './args';
import { Command, err, out } from './command';
import { CliError, UsageError } from './errors';
import { readLabels, readMatrix } from './inputs';
import { checkOutputs } from './outputs';
import { ProgressBar, progressMode } from './progress';
import { checkDevice, DEVICE_FLAGS, deviceOptions } from './model_file';

export const train: Command = {
  name: 'train',
  summary: 'train a unified HGAD model on feature vectors and their class labels',
  usage: ['hgad train --features F.npy --labels L.npy --out M.safetensors [options]'],
  flags: [
    { name: 'features', value: 'F.npy', required: true, help: 'training vectors, an (N, C) array of any numeric dtype (converted to float32), C >= 2' },
    { name: 'labels', value: 'L.npy', required: true, help: 'class ids, an (N,) integer array with values in [0, K)' },
    { name: 'cond', value: 'C.npy', help: 'conditions (N, P), e.g. positional encodings: trains a conditional flow with P condition channels' },
    { name: 'class-names', value: 'a,b,c', help: 'K class names (default "0".."K-1" with K = max label + 1); labels must be < K' },
    { name: 'epochs', value: 'N', help: 'training epochs (default 6)' },
    { name: 'batch-size', value: 'B', help: 'vectors per iteration, >= 2 (default 256)' },
    { name: 'lr', value: 'X', help: 'learning rate, > 0 (default 1e-3)' },
    { name: 'couplings', value: 'L', help: 'coupling blocks of the flow (default 8)' },
    { name: 'clamp', value: 'A', help: 'soft clamp of the coupling log-scales, > 0 (default 1.9)' },
    { name: 'intra-centres', value: 'M', help: 'intra-class centres per class (default 10)' },
    { name: 'stage1-epochs', value: 'E', help: 'epochs with the inter-class losses only before the intra-class mixtures join (default 2)' },
    { name: 'seed', value: 'S', help: 'random seed of initialisation and shuffling (default 0)' },
    ...DEVICE_FLAGS,
    { name: 'quiet', help: 'no progress output' },
    { name: 'out', value: 'M.safetensors', required: true, help: 'where to write the model (written only when training succeeds)' },
  ],
  notes: [
    'Progress goes to stderr: one updating line on a terminal, one line per epoch otherwise. ' +
      'The summary line goes to stdout.',
  ],
  run: runTrain,
};

async function runTrain(args: ParsedArgs): Promise<number> {
  // Every option is checked before any file is read.
  const { DEFAULT_MODEL, DEFAULT_TRAIN, LIMITS } = await import('../hgad/config');
  const featuresFile = args.need('features');
  const labelsFile = args.need('labels');
  const condFile = args.string('cond');
  const outFile = args.need('out');
  const names = args.list('class-names');
  if (names && new Set(names).size !== names.length) {
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    throw new UsageError(`--class-names: class names must be distinct, ${JSON.stringify(dup)} appears twice`, 'train');
  }
  const options = {
    epochs: args.int('epochs', { min: 1, fallback: DEFAULT_TRAIN.epochs })!,
    batchSize: args.int('batch-size', { min: 2, fallback: DEFAULT_TRAIN.batchSize })!,
    lr: args.number('lr', { above: 0, fallback: DEFAULT_TRAIN.lr })!,
    stage1Epochs: args.int('stage1-epochs', { min: 0, fallback: DEFAULT_TRAIN.stage1Epochs })!,
    seed: args.int('seed', { fallback: DEFAULT_TRAIN.seed })!,
  };
  const couplings = args.int('couplings', { min: 1, fallback: DEFAULT_MODEL.couplings })!;
  const clamp = args.number('clamp', { above: 0, fallback: DEFAULT_MODEL.clamp })!;
  const intraCentres = args.int('intra-centres', { min: 1, fallback: DEFAULT_MODEL.intraCentres })!;
  const quiet = args.flag('quiet');
  const device = deviceOptions(args);
  checkOutputs([{ flag: '--out', path: outFile, kind: 'file' }], [
    { what: '--features', path: featuresFile },
    { what: '--labels', path: labelsFile },
    condFile === undefined ? undefined : { what: '--cond', path: condFile },
  ]);
  await checkDevice(device);

  const features = await readMatrix(featuresFile, 'features', 2);
  const N = features.rows;
  const labels = await readLabels(labelsFile, 'labels', N, `row of ${featuresFile}`);
  let maxLabel = -1;
  for (let i = 0; i < N; ++i) {
    if (labels[i] < 0) throw new CliError(`${labelsFile}: labels must be class ids >= 0, found ${labels[i]} at index ${i}`);
    maxLabel = Math.max(maxLabel, labels[i]);
  }
  if (!names && maxLabel >= LIMITS.classes) {
    const at = labels.indexOf(maxLabel);
    throw new CliError(
      `${labelsFile}: label ${maxLabel} at index ${at} would make ${maxLabel + 1} classes; hgad supports at most ${LIMITS.classes} ` +
        '(labels are class ids 0..K-1: renumber them, or name the classes with --class-names)',
    );
  }
  const K = names ? names.length : maxLabel + 1;
  if (names && maxLabel >= K) {
    const at = labels.findIndex((v) => v >= K);
    throw new CliError(`${labelsFile}: label ${labels[at]} at index ${at} is out of range for the ${K} --class-names (ids 0..${K - 1})`);
  }
  const classNames = names ?? Array.from({ length: K }, (_, k) => String(k));
  let cond: Float32Array | undefined;
  let P = 0;
  if (condFile !== undefined) {
    const c = await readMatrix(condFile, 'conditions');
    if (c.rows !== N) throw new CliError(`${condFile}: expected ${N} conditions (one per row of ${featuresFile}), found ${c.rows}`);
    cond = c.data;
    P = c.cols;
  }
  const { HGAD } = await import('../hgad');
  const model = HGAD.create({ levels: [{ channels: features.cols, condChannels: P }], classNames, couplings, clamp, intraCentres }, options.seed, device);
  const progress = new ProgressBar(process.stderr, progressMode(process.stderr, quiet));
  const started = Date.now();
  let summary;
  try {
    summary = await model.fit([{ features: features.data, labels, cond: cond ?? null }], { ...options, onProgress: (p) => progress.update(p) });
  } finally {
    progress.finish();
  }
  for (const w of summary.warnings) err(`hgad: warning: ${w}\n`);
  await model.save(outFile);
  const seconds = (Date.now() - started) / 1000;
  const loss = summary.finalLosses[0]?.loss;
  out(
    `trained ${K} class${K === 1 ? '' : 'es'} on ${N} vectors (C=${features.cols}${P > 0 ? `, P=${P}` : ''}) in ${seconds.toFixed(1)} s; ` +
      `final loss ${loss !== undefined && Number.isFinite(loss) ? loss.toFixed(3) : String(loss)}; wrote ${outFile}\n`,
  );
  return 0;
}
