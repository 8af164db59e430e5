// Model and training configuration of HGAD, with the reference's defaults and
// the validation every public entry point runs first.
import { expectedRange, expectedType, isPositiveInteger } from '../errors';
import { scheduleTable } from '../optim/schedule';
// the kinds' names only: the configuration loads no kernel
import { KIND_DESCRIPTIONS, MODEL_KINDS, ModelKind } from '../nn/heads/kinds';

export interface LevelConfig {
  /** C: feature dimension of this level. */
  channels: number;
  /** P: dimension of the condition (e.g. a positional encoding); 0 = unconditional. */
  condChannels: number;
}

export interface ModelConfig {
  levels: LevelConfig[];
  /** K names, one per class id 0..K-1. */
  classNames: string[];
  /** Coupling blocks per flow (the reference: 12 for its paper results; 8 in the FMNIST protocol). */
  couplings: number;
  /** Soft clamp of the coupling log-scales (reference 1.9). */
  clamp: number;
  /** M: intra-class centres per class, the main centre included (reference 10). */
  intraCentres: number;
  /** Subnet hidden width; default 2*(ceil(C/2) + P). */
  hidden?: number;
  /**
   * The model kind, which names the head after each flow (lib/nn/heads):
   * 'hgad' (default), the hierarchical Gaussian mixture; 'flow', the
   * single-Gaussian conditional flow (CFLOW-style) with the same flows,
   * training loop and scoring.
   */
  kind?: ModelKind;
  /** For a model trained on images: the feature extractor it was trained with (scoring must use the same). */
  features?: FeatureOrigin;
  /** For a model trained without labels: its classes are these clusters of the training images. */
  pseudoLabels?: PseudoLabels;
  /** For a model trained on a feature source: the schedule it ran (informative; see TrainedSchedule). */
  training?: TrainingRecord;
}

/**
 * The clusters of a label-free model (class k is cluster k): an image is
 * pooled into one vector (each level's mean over its positions, divided by
 * its Euclidean norm, levels concatenated: D = the sum of the levels'
 * channels) and belongs to the nearest centroid.
 */
export interface PseudoLabels {
  pooling: 'level-mean-l2';
  /** (K, D) row-major */
  centroids: number[];
  /** K given, or chosen by the silhouette (see lib/hgad/kmeans.ts) */
  chosenBy: 'given' | 'silhouette';
}

function validatePseudoLabels(p: unknown, levels: LevelConfig[], K: number): PseudoLabels {
  const name = 'config.pseudoLabels';
  if (typeof p !== 'object' || p === null) throw expectedType('an object {pooling, centroids, chosenBy}', name, p);
  const { pooling, centroids, chosenBy } = p as PseudoLabels;
  if (pooling !== 'level-mean-l2') throw expectedRange('"level-mean-l2"', `${name}.pooling`, pooling);
  if (chosenBy !== 'given' && chosenBy !== 'silhouette') throw expectedRange('"given" or "silhouette"', `${name}.chosenBy`, chosenBy);
  const D = levels.reduce((s, l) => s + l.channels, 0);
  if (!Array.isArray(centroids) || centroids.length !== K * D || !centroids.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw expectedType(`${K * D} finite numbers (${K} classes x ${D} pooled channels)`, `${name}.centroids`, Array.isArray(centroids) ? `${centroids.length} values` : centroids);
  }
  return { pooling, centroids: [...centroids], chosenBy };
}

/** The schedule a model was trained with: meta-epochs, positions per image, ... (numbers, or per-level arrays of numbers). */
export type TrainingRecord = Record<string, number | number[]>;

function validateTrainingRecord(t: unknown): TrainingRecord {
  const name = 'config.training';
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw expectedType('a training record object', name, t);
  const out: TrainingRecord = {};
  for (const [k, v] of Object.entries(t)) {
    const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
    if (ok(v)) out[k] = v as number;
    else if (Array.isArray(v) && v.length <= LIMITS.levels && v.every(ok)) out[k] = [...(v as number[])];
    else throw expectedType('a finite number or an array of them', `${name}.${k}`, v);
  }
  return out;
}

/** The backbone and preprocessing that turned images into a model's feature vectors. */
export interface FeatureOrigin {
  backbone: {
    /** sha256 of the ONNX file, hex (what identifies it) */
    sha256: string;
    /** its file name when trained (informative) */
    file: string;
    /** the outputs taken as levels (pyramid: the one output) */
    outputs: string[];
    /** the one output run at scales 1, 1/2, 1/4 */
    pyramid: boolean;
  };
  /** one name per model level (pyramid: output@scale) */
  levels: string[];
  preprocessing: { imageSize: number; crop: number; mean: number[]; std: number[] };
}

function validateFeatureOrigin(f: unknown, levels: number): FeatureOrigin {
  const name = 'config.features';
  if (typeof f !== 'object' || f === null) throw expectedType('a feature origin object {backbone, levels, preprocessing}', name, f);
  const { backbone: b, levels: names, preprocessing: p } = f as FeatureOrigin;
  if (typeof b !== 'object' || b === null || typeof b.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(b.sha256)) {
    throw expectedType('a backbone with a hex sha256', `${name}.backbone`, b);
  }
  const strings = (a: unknown) => Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string');
  if (typeof b.file !== 'string' || !strings(b.outputs) || typeof b.pyramid !== 'boolean') {
    throw expectedType('a backbone {sha256, file, outputs, pyramid}', `${name}.backbone`, b);
  }
  if (!strings(names) || names.length !== levels) throw expectedType(`${levels} level names`, `${name}.levels`, names);
  const triple = (a: unknown) => Array.isArray(a) && a.length === 3 && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (typeof p !== 'object' || p === null || !isPositiveInteger(p.imageSize) || !isPositiveInteger(p.crop) || !triple(p.mean) || !triple(p.std)) {
    throw expectedType('a preprocessing {imageSize, crop, mean, std}', `${name}.preprocessing`, p);
  }
  return {
    backbone: { sha256: b.sha256, file: b.file, outputs: [...b.outputs], pyramid: b.pyramid },
    levels: [...names],
    preprocessing: { imageSize: p.imageSize, crop: p.crop, mean: [...p.mean], std: [...p.std] },
  };
}

export type { ModelKind };
export { MODEL_KINDS };

/** The registered kinds for help texts: 'hgad (default: ...) or flow (...)'. */
export function modelKindsHelp(): string {
  return MODEL_KINDS.map((k, i) => `${k} (${i === 0 ? 'default: ' : ''}${KIND_DESCRIPTIONS[k]})`).join(' or ');
}

export interface TrainConfig {
  /** Meta-epochs of the reference's loop (the cosine schedule counts these). */
  epochs: number;
  /** Passes over the data per epoch (the reference's sub_epochs; 1). */
  subEpochs: number;
  batchSize: number;
  lr: number;
  /** Epochs trained with the inter-class losses only before the intra-class mixtures join (reference 2). */
  stage1Epochs: number;
  /** Linear warm-up epochs of the learning rate (reference 2). */
  warmEpochs: number;
  lambda1: number;
  lambda2: number;
  labelSmoothing: number;
  /** Learning rate of the class centres relative to the rest (1: what the reference trains with). */
  centreLrRatio: number;
  seed: number;
}

/**
 * Upper bounds of a configuration. Far above any real model, they turn a
 * corrupt or mistaken value (a label of 2^31 - 1 read as K = 2^31, couplings
 * 2^32 in a model file) into one clear error instead of an allocation that
 * exhausts memory or aborts the process.
 */
export const LIMITS = {
  classes: 100_000,
  channels: 65_536,
  condChannels: 65_536,
  couplings: 1_024,
  intraCentres: 1_024,
  hidden: 1_048_576,
  levels: 64,
} as const;

function capped(v: number, max: number, name: string): number {
  if (v > max) throw expectedRange(`an integer <= ${max}`, name, v);
  return v;
}

export const DEFAULT_MODEL: Omit<ModelConfig, 'levels' | 'classNames'> = {
  couplings: 8,
  clamp: 1.9,
  intraCentres: 10,
};

export const DEFAULT_TRAIN: TrainConfig = {
  epochs: 6,
  subEpochs: 1,
  batchSize: 256,
  lr: 1e-3,
  stage1Epochs: 2,
  warmEpochs: 2,
  lambda1: 1,
  lambda2: 100,
  labelSmoothing: 0.02,
  centreLrRatio: 1,
  seed: 0,
};

function modelKind(v: unknown): ModelKind {
  if (!MODEL_KINDS.includes(v as ModelKind)) throw expectedRange(`one of ${MODEL_KINDS.join(', ')}`, 'config.kind', v);
  return v as ModelKind;
}

function positiveInt(v: unknown, name: string): number {
  if (!isPositiveInteger(v)) throw expectedRange('a positive integer', name, v);
  return v;
}

function finiteNumber(v: unknown, name: string, min = -Infinity, strict = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (strict && v === min)) {
    throw expectedRange(`a finite number ${strict ? '>' : '>='} ${min}`, name, v);
  }
  return v;
}

export function validateModelConfig(input: unknown): ModelConfig {
  if (typeof input !== 'object' || input === null) throw expectedType('a model configuration object', 'config', input);
  const c = { ...DEFAULT_MODEL, ...(input as Partial<ModelConfig>) };
  if (!Array.isArray(c.levels) || c.levels.length === 0) throw expectedType('a non-empty array of levels', 'config.levels', c.levels);
  capped(c.levels.length, LIMITS.levels, 'the number of config.levels');
  const levels = c.levels.map((l, i) => {
    if (typeof l !== 'object' || l === null) throw expectedType('a level object', `config.levels[${i}]`, l);
    const channels = capped(positiveInt(l.channels, `config.levels[${i}].channels`), LIMITS.channels, `config.levels[${i}].channels`);
    if (channels < 2) throw expectedRange('an integer >= 2', `config.levels[${i}].channels`, channels);
    const cond = l.condChannels ?? 0;
    if (!Number.isInteger(cond) || cond < 0) throw expectedRange('an integer >= 0', `config.levels[${i}].condChannels`, cond);
    capped(cond, LIMITS.condChannels, `config.levels[${i}].condChannels`);
    return { channels, condChannels: cond };
  });
  if (!Array.isArray(c.classNames) || c.classNames.length === 0) {
    throw expectedType('a non-empty array of class names', 'config.classNames', c.classNames);
  }
  if (c.classNames.length > LIMITS.classes) {
    throw expectedRange(`at most ${LIMITS.classes} class names`, 'config.classNames', c.classNames);
  }
  c.classNames.forEach((n, i) => {
    if (typeof n !== 'string' || n.length === 0) throw expectedType('a non-empty string', `config.classNames[${i}]`, n);
  });
  if (new Set(c.classNames).size !== c.classNames.length) throw expectedRange('distinct class names', 'config.classNames', c.classNames);
  const intraCentres = capped(positiveInt(c.intraCentres, 'config.intraCentres'), LIMITS.intraCentres, 'config.intraCentres');
  return {
    levels,
    classNames: [...c.classNames],
    couplings: capped(positiveInt(c.couplings, 'config.couplings'), LIMITS.couplings, 'config.couplings'),
    clamp: finiteNumber(c.clamp, 'config.clamp', 0, true),
    intraCentres,
    hidden: c.hidden === undefined ? undefined : capped(positiveInt(c.hidden, 'config.hidden'), LIMITS.hidden, 'config.hidden'),
    ...(c.kind === undefined || c.kind === 'hgad' ? {} : { kind: modelKind(c.kind) }),
    ...(c.features === undefined ? {} : { features: validateFeatureOrigin(c.features, levels.length) }),
    ...(c.pseudoLabels === undefined ? {} : { pseudoLabels: validatePseudoLabels(c.pseudoLabels, levels, c.classNames.length) }),
    ...(c.training === undefined ? {} : { training: validateTrainingRecord(c.training) }),
  };
}

export function validateTrainConfig(input: unknown): TrainConfig {
  // null reads as "no options", as undefined does.
  if (input === null) input = undefined;
  if (input !== undefined && (typeof input !== 'object' || Array.isArray(input))) throw expectedType('an options object', 'options', input);
  const c = { ...DEFAULT_TRAIN, ...(input as Partial<TrainConfig> | undefined) };
  const seed = c.seed;
  if (!Number.isInteger(seed)) throw expectedType('an integer', 'options.seed', seed);
  const labelSmoothing = finiteNumber(c.labelSmoothing, 'options.labelSmoothing', 0);
  if (labelSmoothing >= 1) throw expectedRange('a number in [0, 1)', 'options.labelSmoothing', labelSmoothing);
  const stage1Epochs = c.stage1Epochs;
  if (!Number.isInteger(stage1Epochs) || stage1Epochs < 0) throw expectedRange('an integer >= 0', 'options.stage1Epochs', stage1Epochs);
  const warmEpochs = c.warmEpochs;
  if (!Number.isInteger(warmEpochs) || warmEpochs < 0) throw expectedRange('an integer >= 0', 'options.warmEpochs', warmEpochs);
  const batchSize = positiveInt(c.batchSize, 'options.batchSize');
  if (batchSize < 2) throw expectedRange('an integer >= 2', 'options.batchSize', batchSize);
  return {
    epochs: positiveInt(c.epochs, 'options.epochs'),
    subEpochs: positiveInt(c.subEpochs, 'options.subEpochs'),
    batchSize,
    lr: finiteNumber(c.lr, 'options.lr', 0, true),
    stage1Epochs,
    warmEpochs,
    lambda1: finiteNumber(c.lambda1, 'options.lambda1', 0),
    lambda2: finiteNumber(c.lambda2, 'options.lambda2', 0),
    labelSmoothing,
    centreLrRatio: finiteNumber(c.centreLrRatio, 'options.centreLrRatio', 0, true),
    seed,
  };
}

/**
 * The learning rate of every iteration for plain epochs: the reference
 * schedule (linear warm-up from lr/10 to the cosine value, then cosine per
 * epoch down to lr * 1e-3). The warm-up is shortened to leave at least one
 * epoch after it: the reference's target, the cosine value at the end of the
 * warm-up, would otherwise be the floor lr * 1e-3, and the "warm-up" would
 * decay (only runs of at most warmEpochs epochs differ from the reference).
 */
export function trainingSchedule(opts: TrainConfig, itersPerEpoch: number): Float64Array {
  return scheduleTable({
    lr: opts.lr,
    lrDecayRate: 0.1,
    warmEpochs: Math.min(opts.warmEpochs, opts.epochs - 1),
    cosine: true,
    epochs: opts.epochs,
    subEpochs: 1,
    itersPerSubEpoch: itersPerEpoch,
  });
}
