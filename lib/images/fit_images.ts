// From a folder of images (MVTec AD layout) to a trained unified model:
// index and check the data set, extract the backbone's feature maps once into
// the on-disk cache (or find them there), then train every level with the
// reference's loop in a worker thread that opens the cache itself. Every
// option is checked before any image is read; nothing is written but the
// cache (atomically); the model is returned, saving it is the caller's.
import * as os from 'os';
import * as path from 'path';
import { expectedRange, expectedType, isPositiveInteger } from '../errors';
import type { DeviceOptions, HGAD } from '../hgad';
import { DEFAULT_MODEL, MODEL_KINDS, ModelKind, validateModelConfig } from '../hgad/config';
import type { TrainSummary } from '../hgad/trainer';
import { SourceTrainConfig, validateSourceTrainConfig } from '../hgad/train_options';
import type { TrainProgress } from '../hgad/types';
import type { FitEstimate } from '../hgad/fit_estimate';
import { PresetName, withPreset } from '../hgad/presets';
import { Backbone, demoBackbonePath } from './backbone';
import { importFeatureMaps } from '../data/import_feature_maps';
import { DatasetIndex, indexDataset } from './dataset';
import { extractFeatures, ExtractProgress } from './extract';
import { inspectDataset, SkippedImage } from './inspect';
import { featureOrigin } from './feature_extractor';
import { checkPseudoLabelOptions, clusterSource, PseudoLabelOptions } from '../hgad/pseudo_labels';
import { CacheFeatureSource } from '../data/feature_cache';
import type { FeatureSourceSpec } from '../data/feature_source';
import { checkPreprocessing, IMAGENET_MEAN, IMAGENET_STD, Preprocessing } from './preprocess';

/** Default side of the resized images (and of the crop): 5,376 positions per image with the demo backbone. */
export const DEFAULT_IMAGE_SIZE = 256;
/** Coupling blocks per flow on images (the reference's; the vector API's default is 8). */
export const DEFAULT_IMAGE_COUPLINGS = 12;
/** P of the positional conditions (the reference's). */
export const DEFAULT_COND_CHANNELS = 256;

export type FitImagesProgress = ExtractProgress | ({ phase: 'train' } & TrainProgress);

/** What image and feature-map training share: the model's shape and where its features are cached. */
export interface ModelAndCacheOptions extends Partial<SourceTrainConfig>, DeviceOptions {
  /** P of each level's positional conditions (default 256, a multiple of 4) */
  condChannels?: number;
  couplings?: number;
  clamp?: number;
  intraCentres?: number;
  /** where feature caches live (default $XDG_CACHE_HOME/hgad/features or ~/.cache/hgad/features) */
  cacheDir?: string;
  /** storage type of the cache (default float16) */
  cacheDtype?: 'float16' | 'float32';
  /** extract (or copy) the features again even when the cache holds them, replacing the cached folder */
  rebuildCache?: boolean;
  /** one line per broken cache found (and rebuilt) or stale temporary folders removed (default: process.emitWarning) */
  onWarning?: (message: string) => void;
  /** 'reference' (default: every position, the reference's schedule) or 'fast' (see docs/training.md); explicit options win */
  preset?: PresetName;
  /** with preview, dryRun or timeBudget: the estimate (vectors, FLOPs, ETA), before training starts */
  onPreview?: (e: FitEstimate) => void;
}

export interface FitImagesOptions extends ModelAndCacheOptions {
  /** 'hgad' (default) or 'flow': the single-Gaussian conditional flow, through the same code */
  kind?: ModelKind;
  /** ROOT of a data set in the MVTec AD layout, or an index made by indexDataset */
  data: string | DatasetIndex;
  /** class folders to train on (default: every class folder of ROOT) */
  classes?: string[];
  /** ONNX backbone (default: the shipped demo backbone) */
  backbone?: string;
  /** the backbone outputs used as levels (default: every output; pyramid: the first) */
  levels?: string[];
  /** run one output at scales 1, 1/2, 1/4 (the reference's pyramid extractor) */
  pyramid?: boolean;
  /** shorter side after resizing (default 256) */
  imageSize?: number;
  /** side of the centre crop (default imageSize) */
  crop?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  /** images per backbone run during extraction (default 8) */
  extractBatchSize?: number;
  /** leave unreadable training images, and unreadable test images or masks, out (listed in the result) instead of failing */
  skipUnreadable?: boolean;
  /** accept images of different sizes or modes within a class */
  allowMixed?: boolean;
  onProgress?: (p: FitImagesProgress) => void;
  /**
   * Train without labels: the class folders are ignored, the training images
   * are clustered (see lib/images/pseudo_labels.ts) and the clusters are the
   * model's classes (cluster-0, ...). true: K chosen by the silhouette.
   */
  pseudoLabels?: true | PseudoLabelOptions;
}

export interface FitImagesResult {
  model: HGAD;
  summary: TrainSummary;
  index: DatasetIndex;
  cache: { dir: string; reused: boolean };
  /** training images left out (only with skipUnreadable) */
  skipped: SkippedImage[];
  /** test images whose image or mask cannot be read (only with skipUnreadable; fit does not use them) */
  skippedTest: SkippedImage[];
  /** with pseudoLabels: each training image's cluster (in the feature cache's order, images), K and the silhouettes tried */
  clusters?: { K: number; chosenBy: 'given' | 'silhouette'; silhouettes: number[]; assignment: Int32Array; images: string[] };
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'hgad', 'features');
}

const IMAGE_KEYS = new Set([
  'kind', 'data', 'classes', 'backbone', 'levels', 'pyramid', 'imageSize', 'crop', 'mean', 'std', 'condChannels', 'couplings', 'clamp',
  'intraCentres', 'cacheDir', 'cacheDtype', 'extractBatchSize', 'skipUnreadable', 'allowMixed', 'onProgress', 'device', 'precision',
  'featureMaps', 'labels', 'classNames', 'rebuildCache', 'onWarning', 'pseudoLabels', 'preset', 'onPreview',
]);

function splitOptions(o: ModelAndCacheOptions): Partial<SourceTrainConfig> {
  const train: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!IMAGE_KEYS.has(k) && v !== undefined) train[k] = v;
  if (o.onPreview !== undefined && typeof o.onPreview !== 'function') throw expectedType('a function', 'options.onPreview', o.onPreview);
  return withPreset(o.preset, train as Partial<SourceTrainConfig>);
}

/** rebuildCache and onWarning, checked. */
function cacheOptions(o: ModelAndCacheOptions): { rebuild: boolean; onWarning?: (message: string) => void } {
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') throw expectedType('a function', 'options.onWarning', o.onWarning);
  return { rebuild: optionalBoolean(o.rebuildCache, 'options.rebuildCache'), onWarning: o.onWarning };
}

function optionalBoolean(v: unknown, name: string): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw expectedType('a boolean', name, v);
  return v === true;
}

/** Indexes, extracts (or reuses the cache) and trains; see FitImagesOptions. */
export async function fitImages(options: FitImagesOptions): Promise<FitImagesResult> {
  if (options === null || typeof options !== 'object') throw expectedType('an options object', 'options', options);
  const o = options;
  if (typeof o.data !== 'string' && (typeof o.data !== 'object' || o.data === null || !Array.isArray(o.data.train))) {
    throw expectedType('a data set folder or a DatasetIndex', 'options.data', o.data);
  }
  const imageSize = o.imageSize ?? DEFAULT_IMAGE_SIZE;
  const prep: Preprocessing = checkPreprocessing(
    { imageSize, crop: o.crop ?? imageSize, mean: o.mean ?? IMAGENET_MEAN, std: o.std ?? IMAGENET_STD },
    'options',
  );
  const kind = o.kind ?? 'hgad';
  if (!MODEL_KINDS.includes(kind)) throw expectedRange(`one of ${MODEL_KINDS.join(', ')}`, 'options.kind', kind);
  const P = o.condChannels ?? DEFAULT_COND_CHANNELS;
  if (!Number.isInteger(P) || P < 0 || P % 4 !== 0) throw expectedRange('an integer >= 0, a multiple of 4 (the 2-D positional encoding)', 'options.condChannels', P);
  const modelShape = {
    couplings: o.couplings ?? DEFAULT_IMAGE_COUPLINGS,
    clamp: o.clamp ?? DEFAULT_MODEL.clamp,
    intraCentres: o.intraCentres ?? DEFAULT_MODEL.intraCentres,
  };
  validateModelConfig({ levels: [{ channels: 2, condChannels: P }], classNames: ['check'], ...modelShape });
  const train = splitOptions(o);
  // Checked again against the number of readable images once the data set is indexed.
  validateSourceTrainConfig({ ...train, batches: undefined, dropLast: false }, 1);
  const skipUnreadable = optionalBoolean(o.skipUnreadable, 'options.skipUnreadable');
  const allowMixed = optionalBoolean(o.allowMixed, 'options.allowMixed');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expectedType('a function', 'options.onProgress', o.onProgress);
  if (o.extractBatchSize !== undefined && !isPositiveInteger(o.extractBatchSize)) throw expectedRange('a positive integer', 'options.extractBatchSize', o.extractBatchSize);
  if (o.cacheDtype !== undefined && o.cacheDtype !== 'float16' && o.cacheDtype !== 'float32') throw expectedRange('"float16" or "float32"', 'options.cacheDtype', o.cacheDtype);
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === '')) throw expectedType('a folder path', 'options.cacheDir', o.cacheDir);
  const cache = cacheOptions(o);
  const pseudo = o.pseudoLabels === undefined ? null : checkPseudoLabelOptions(o.pseudoLabels);
  const { HGAD, resolvePlacement } = await import('../hgad');
  // The model's device is resolved now, so that asking for an absent GPU fails before any extraction.
  resolvePlacement(o);

  const index = typeof o.data === 'string' ? await indexDataset(o.data, { classes: o.classes }) : o.data;
  const inspection = await inspectDataset(index, { skipUnreadable, allowMixed });
  validateSourceTrainConfig(train, inspection.train.length);
  const backbone = await Backbone.open(o.backbone ?? demoBackbonePath(), { levels: o.levels, pyramid: o.pyramid, device: o.device === 'cuda' ? 'auto' : o.device });
  let extracted;
  try {
    extracted = await extractFeatures({
      images: inspection.train, classNames: index.classNames, backbone, preprocessing: prep, cacheDir: o.cacheDir ?? defaultCacheDir(),
      dtype: o.cacheDtype, batchSize: o.extractBatchSize, skipUnreadable, skipped: inspection.skipped, onProgress: o.onProgress, ...cache,
    });
  } finally {
    await backbone.close();
  }
  const { meta, dir, reused } = extracted;
  const labelFree = pseudo ? labelFreeClasses(dir, pseudo, train.seed ?? 0) : null;
  const config = {
    levels: meta.levels.map((l) => ({ channels: l.channels, condChannels: P })),
    classNames: labelFree ? labelFree.classNames : [...index.classNames],
    ...modelShape,
    kind,
    features: featureOrigin(backbone, prep),
    ...(labelFree ? { pseudoLabels: labelFree.pseudoLabels } : {}),
  };
  const model = HGAD.create(config, train.seed ?? 0, o);
  const onProgress = o.onProgress;
  const source: FeatureSourceSpec = labelFree ? { kind: 'relabelled', source: { kind: 'cache', dir }, labels: labelFree.clusters.assignment } : { kind: 'cache', dir };
  const summary = await model.fitSource(source, { ...train, onPreview: o.onPreview, onProgress: onProgress && ((p) => onProgress({ phase: 'train', ...p })) });
  const clusters = labelFree
    ? { K: labelFree.clusters.K, chosenBy: labelFree.clusters.chosenBy, silhouettes: labelFree.clusters.silhouettes, assignment: labelFree.clusters.assignment, images: meta.images.map((im) => im.path) }
    : undefined;
  return { model, summary, index, cache: { dir, reused }, skipped: meta.skipped, skippedTest: inspection.skippedTest, ...(clusters ? { clusters } : {}) };
}

/** Clusters the cached training images (label-free training), reading the cache on this thread. */
function labelFreeClasses(dir: string, options: PseudoLabelOptions, seed: number) {
  const source = new CacheFeatureSource(dir);
  try {
    return clusterSource(source, options, seed);
  } finally {
    source.close();
  }
}

/**
 * The preview of fitImages(options) without the training: the features are
 * extracted (or found in the cache), the first steps timed, the weights
 * left as they were. Returns the counts and the ETA.
 */
export async function estimateFit(options: FitImagesOptions): Promise<FitEstimate> {
  if (options === null || typeof options !== 'object') throw expectedType('an options object', 'options', options);
  const { model, summary } = await fitImages({ ...options, dryRun: true });
  model.close();
  return summary.estimate!;
}

export interface FitFeatureMapsOptions extends ModelAndCacheOptions {
  /** one .npy per level, each (N, C, H, W) with the same N: feature maps from the user's own extractor */
  featureMaps: string[];
  /** 'hgad' (default) or 'flow' */
  kind?: ModelKind;
  /** (N) class id of each image */
  labels: Int32Array;
  classNames: string[];
  onProgress?: (p: { phase: 'train' } & TrainProgress) => void;
}

/**
 * Trains on precomputed feature maps: they are copied into the feature cache
 * (row layout, float16 by default, a few images at a time) and trained on as
 * image features are. The model records no backbone.
 */
export async function fitFeatureMaps(o: FitFeatureMapsOptions): Promise<{ model: HGAD; summary: TrainSummary; cache: { dir: string; reused: boolean } }> {
  if (o === null || typeof o !== 'object') throw expectedType('an options object', 'options', o);
  const P = o.condChannels ?? DEFAULT_COND_CHANNELS;
  if (!Number.isInteger(P) || P < 0 || P % 4 !== 0) throw expectedRange('an integer >= 0, a multiple of 4 (the 2-D positional encoding)', 'options.condChannels', P);
  const kind = o.kind ?? 'hgad';
  if (!MODEL_KINDS.includes(kind)) throw expectedRange(`one of ${MODEL_KINDS.join(', ')}`, 'options.kind', kind);
  const modelShape = { couplings: o.couplings ?? DEFAULT_IMAGE_COUPLINGS, clamp: o.clamp ?? DEFAULT_MODEL.clamp, intraCentres: o.intraCentres ?? DEFAULT_MODEL.intraCentres };
  validateModelConfig({ levels: [{ channels: 2, condChannels: P }], classNames: o.classNames, ...modelShape });
  const train = splitOptions(o);
  validateSourceTrainConfig(train, o.labels?.length ?? 0);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expectedType('a function', 'options.onProgress', o.onProgress);
  const cache = cacheOptions(o);
  const { HGAD, resolvePlacement } = await import('../hgad');
  // The model's device is resolved now, so that asking for an absent GPU fails before any import.
  resolvePlacement(o);
  const { dir, meta, reused } = await importFeatureMaps({ files: o.featureMaps, labels: o.labels, classNames: o.classNames, cacheDir: o.cacheDir ?? defaultCacheDir(), dtype: o.cacheDtype, ...cache });
  const model = HGAD.create({ levels: meta.levels.map((l) => ({ channels: l.channels, condChannels: P })), classNames: [...o.classNames], ...modelShape, kind }, train.seed ?? 0, o);
  const onProgress = o.onProgress;
  const summary = await model.fitSource({ kind: 'cache', dir }, { ...train, onPreview: o.onPreview, onProgress: onProgress && ((p) => onProgress({ phase: 'train', ...p })) });
  return { model, summary, cache: { dir, reused } };
}
