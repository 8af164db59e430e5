// hgad score: anomaly scores (higher = more anomalous) of feature vectors
// under a trained model, in chunks, written atomically as a float32 .npy.
import type { LevelScores } from '../hgad/model';
import { ParsedArgs } from './args';
import { Command, err, out } from './command';
import { CliError, UsageError } from './errors';
import { readLabels, readMatrix } from './inputs';
import { checkOutputs } from './outputs';
import { checkDevice, DEVICE_FLAGS, deviceOptions, loadModel, MODEL_FLAG, resolveClass, singleLevel } from './model_file';

export const SCORE_KINDS = ['calibrated', 'fusion', 'logp', 'neg-entropy'] as const;
export type ScoreKind = (typeof SCORE_KINDS)[number];
const DEFAULT_BATCH = 65536;

export const score: Command = {
  name: 'score',
  summary: 'score feature vectors with a trained model (higher = more anomalous)',
  usage: [
    'hgad score --model M.safetensors --features F.npy --class K --out S.npy [options]',
    'hgad score --model M.safetensors --features F.npy --labels L.npy --out S.npy [options]',
  ],
  flags: [
    MODEL_FLAG,
    { name: 'features', value: 'F.npy', required: true, help: 'vectors to score, an (N, C) array with the C of the model' },
    { name: 'class', value: 'K', help: 'score every vector as this class: a class name of the model (names first), "#N" for the class id N, or a plain id when no class bears that name' },
    { name: 'labels', value: 'L.npy', help: 'score each vector as its own class: an (N,) array of class ids' },
    { name: 'cond', value: 'C.npy', help: 'conditions (N, P), required by (and only by) conditional models' },
    {
      name: 'kind',
      value: 'KIND',
      help:
        'calibrated (default; per-class standardised -logp, comparable across classes and batches), ' +
        'fusion (the reference\'s logp x entropy fusion, relative to the whole input), logp (-logp) or neg-entropy (-negEntropy)',
    },
    { name: 'batch-size', value: 'B', help: `vectors per scoring chunk (default ${DEFAULT_BATCH}); fusion is still computed over all N vectors` },
    ...DEVICE_FLAGS,
    { name: 'out', value: 'S.npy', required: true, help: 'where to write the float32 (N,) scores (written only when scoring succeeds)' },
  ],
  notes: ['Exactly one of --class and --labels is required.'],
  run: runScore,
};

async function runScore(args: ParsedArgs): Promise<number> {
  const modelFile = args.need('model');
  const featuresFile = args.need('features');
  const outFile = args.need('out');
  const classArg = args.string('class');
  const labelsFile = args.string('labels');
  const condFile = args.string('cond');
  const kind = args.choice('kind', SCORE_KINDS, 'calibrated');
  const batchSize = args.int('batch-size', { min: 1, fallback: DEFAULT_BATCH })!;
  const device = deviceOptions(args);
  if ((classArg === undefined) === (labelsFile === undefined)) {
    throw new UsageError(classArg === undefined ? 'one of --class or --labels is required' : '--class and --labels cannot be used together', 'score');
  }
  checkOutputs([{ flag: '--out', path: outFile, kind: 'file' }], [
    { what: '--model', path: modelFile },
    { what: '--features', path: featuresFile },
    labelsFile === undefined ? undefined : { what: '--labels', path: labelsFile },
    condFile === undefined ? undefined : { what: '--cond', path: condFile },
  ]);
  await checkDevice(device);

  const model = await loadModel(modelFile, device);
  const info = model.info();
  const { channels: C, condChannels: P } = singleLevel(model, modelFile);
  const classes = classArg !== undefined ? resolveClass(classArg, info.classNames, 'score') : undefined;
  if (kind === 'calibrated' && !info.calibrated) {
    throw new CliError(`${modelFile}: the model holds no calibration; use --kind logp, fusion or neg-entropy`);
  }
  if (kind === 'calibrated' && classes !== undefined && info.uncalibratedClasses.includes(info.classNames[classes])) {
    const n = info.trainingCounts![classes];
    throw new CliError(
      `${modelFile}: class ${JSON.stringify(info.classNames[classes])} was trained on ${n} vector${n === 1 ? '' : 's'}, too few to calibrate; ` +
        'use --kind logp, fusion or neg-entropy, or retrain with more vectors of that class',
    );
  }

  const features = await readMatrix(featuresFile, 'features');
  if (features.cols !== C) {
    throw new CliError(`${featuresFile}: features have ${features.cols} channels (shape (${features.rows}, ${features.cols})) but the model expects C=${C}`);
  }
  const N = features.rows;
  let labels: Int32Array | undefined;
  if (labelsFile !== undefined) {
    labels = await readLabels(labelsFile, 'labels', N, `row of ${featuresFile}`);
    const K = info.classNames.length;
    const bad = labels.findIndex((v) => v < 0 || v >= K);
    if (bad >= 0) throw new CliError(`${labelsFile}: label ${labels[bad]} at index ${bad} is not a class id of the model (0..${K - 1})`);
    const weak = kind === 'calibrated' ? labels.findIndex((v) => info.uncalibratedClasses.includes(info.classNames[v])) : -1;
    if (weak >= 0) {
      const name = info.classNames[labels[weak]];
      throw new CliError(
        `${labelsFile}: label ${labels[weak]} at index ${weak} is class ${JSON.stringify(name)}, trained on ${info.trainingCounts![labels[weak]]} vector(s), too few to calibrate; ` +
          'use --kind logp, fusion or neg-entropy, or retrain with more vectors of that class',
      );
    }
  }
  let cond: Float32Array | undefined;
  if (P > 0 && condFile === undefined) throw new CliError(`${modelFile}: the model is conditional (P=${P}); pass the conditions with --cond`);
  if (P === 0 && condFile !== undefined) throw new UsageError(`--cond: the model is unconditional (P=0) and takes no conditions`, 'score');
  if (condFile !== undefined) {
    const c = await readMatrix(condFile, 'conditions');
    if (c.rows !== N) throw new CliError(`${condFile}: expected ${N} conditions (one per row of ${featuresFile}), found ${c.rows}`);
    if (c.cols !== P) throw new CliError(`${condFile}: conditions have ${c.cols} channels but the model expects P=${P}`);
    cond = c.data;
  }

  const started = Date.now();
  const logp = new Float32Array(N);
  const negEntropy = new Float32Array(N);
  const calibrated = kind === 'calibrated' ? new Float32Array(N) : null;
  for (let start = 0; start < N; start += batchSize) {
    const n = Math.min(batchSize, N - start);
    const whole = n === N;
    // slice(), not subarray(): posting a view to the worker would copy its whole buffer.
    const x = whole ? features.data : features.data.slice(start * C, (start + n) * C);
    const c = cond === undefined ? null : whole ? cond : cond.slice(start * P, (start + n) * P);
    const cls = labels === undefined ? classes! : whole ? labels : labels.slice(start, start + n);
    const s = await model.score([{ features: x, cond: c }], cls);
    logp.set(s.levels[0].logp, start);
    negEntropy.set(s.levels[0].negEntropy, start);
    if (calibrated) {
      if (!s.calibrated) throw new CliError(`${modelFile}: the model returned no calibrated scores`);
      calibrated.set(s.calibrated, start);
    }
  }
  let scores: Float32Array;
  if (kind === 'calibrated') scores = calibrated!;
  else if (kind === 'logp') scores = logp.map((v) => -v);
  else if (kind === 'neg-entropy') scores = negEntropy.map((v) => -v);
  else {
    const { referenceFusion } = await import('../hgad/model');
    const levels: LevelScores[] = [{ logp, negEntropy }];
    scores = referenceFusion(levels);
  }
  let nonFinite = 0;
  for (let i = 0; i < N; ++i) if (!Number.isFinite(scores[i])) nonFinite++;
  if (nonFinite > 0) err(`hgad: warning: ${nonFinite} of ${N} scores are not finite (features far outside the training range?)\n`);

  const { writeNpyAsync } = await import('../io/npy');
  await writeNpyAsync(outFile, { dtype: 'float32', shape: [N], data: scores });
  const target = labels !== undefined ? `their labels from ${labelsFile}` : `class ${classes} (${JSON.stringify(info.classNames[classes!])})`;
  out(`scored ${N} vectors as ${target}, kind ${kind}, in ${((Date.now() - started) / 1000).toFixed(1)} s; wrote ${outFile}\n`);
  return 0;
}
