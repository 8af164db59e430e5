// Images of one class to anomaly maps and scores with an image-trained model:
// decode and preprocess as in training (the model's recorded preprocessing),
// run the recorded backbone (refused when it is another), score every
// position and build the maps (native ops) in the model's worker thread: the
// caller's thread only waits on Promises.
import { expectedRange, expectedType, FormatError, isPositiveInteger } from '../errors';
import type { HGAD } from '../hgad';
import { classIdOf } from '../hgad/class_lookup';
import { Backbone, demoBackbonePath } from '../images/backbone';
import { checkFeatureOrigin, FeatureExtractor, modelPreprocessing } from '../images/feature_extractor';
import { loadImage, Preprocessing } from '../images/preprocess';
import { checkClassFreeRule } from '../hgad/class_free';
import type { ClassFreeRule } from '../hgad/types';
import { classFreeMapCalibration } from '../hgad/class_free_maps';
import { mapCalibration, concatPositionScores, FeatureMap, ImageMaps, MapKind, PositionScores } from '../hgad/score_maps';

export interface ScoreImagesOptions {
  /** the class the images are of: a class name of the model, "#id", or an id (see lib/hgad/class_lookup.ts); undefined: class-free (each image's class inferred) */
  class?: string | number;
  /** the class-free rule (without class): 'inferred' or 'marginal' (default when the model holds its calibration; see lib/hgad/class_free.ts) */
  classFree?: ClassFreeRule;
  /** which map (default 'calibrated', batch-independent) */
  kind?: MapKind;
  /** Gaussian smoothing of the maps (default 4) */
  sigma?: number;
  /** image score = mean of the topK highest pixels (default 1, the maximum) */
  topK?: number;
  /** the ONNX backbone file (default the shipped demo backbone); must be the one the model was trained with */
  backbone?: string;
  /** images per backbone run (default 8) */
  batchSize?: number;
  /** the model's file name, for error messages */
  modelFile?: string;
}

export interface ImageScores extends ImageMaps {
  /** side of the square maps (the model's crop) */
  height: number;
  width: number;
  /** the class given, or null when scored class-free (positions.classFree then holds each image's inferred class) */
  classId: number | null;
  /** per level, the per-position scores behind the maps */
  positions: PositionScores;
}

/** The class id of `cls` (a class name first, "#N" an id, a number string an id only when no class bears that name; see lib/hgad/class_lookup.ts). */
export function resolveClassId(model: HGAD, cls: string | number): number {
  return classIdOf(model.config.classNames, cls);
}

/** Opens the backbone a model was trained with (checked by its sha256) and returns it with the model's preprocessing. */
export async function openModelBackbone(model: HGAD, file: string | undefined, modelFile: string): Promise<{ backbone: Backbone; preprocessing: Preprocessing }> {
  const features = model.config.features;
  if (!features) throw new FormatError(modelFile, 'the model was trained on feature vectors, not on images: it records no backbone to score images with');
  const preprocessing = modelPreprocessing(model.config, modelFile);
  const backbone = await Backbone.open(file ?? demoBackbonePath(), { levels: features.backbone.pyramid ? undefined : features.backbone.outputs, pyramid: features.backbone.pyramid });
  try {
    checkFeatureOrigin(model.config, modelFile, backbone, preprocessing);
  } catch (e) {
    await backbone.close();
    throw e;
  }
  return { backbone, preprocessing };
}

/**
 * Position scores of image files of one class (classId undefined: class-free,
 * by `rule`): batches through the backbone, each batch scored by the model's
 * worker (the event loop stays free).
 */
export async function scoreImagePositions(
  model: HGAD,
  backbone: FeatureExtractor,
  preprocessing: Preprocessing,
  files: readonly string[],
  classId: number | undefined,
  batchSize = 8,
  rule?: ClassFreeRule,
): Promise<PositionScores> {
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string')) throw expectedType('a non-empty array of image paths', 'images', files);
  if (!isPositiveInteger(batchSize)) throw expectedRange('a positive integer', 'batchSize', batchSize);
  const S = preprocessing.crop;
  const parts: PositionScores[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const batch = files.slice(start, start + batchSize);
    const B = batch.length;
    const pixels = new Float32Array(B * 3 * S * S);
    for (let b = 0; b < B; ++b) await loadImage(batch[b], preprocessing, pixels.subarray(b * 3 * S * S, (b + 1) * 3 * S * S));
    parts.push(await scorePixelBatch(model, backbone, pixels, B, S, classId, rule));
  }
  return concatPositionScores(parts);
}

/**
 * Position scores of one batch of preprocessed images: one backbone run, one
 * scoring pass in the model's worker.
 * pixels: (B, 3, S, S) as loadImage writes them
 */
export async function scorePixelBatch(
  model: HGAD,
  backbone: Pick<FeatureExtractor, 'run'>,
  pixels: Float32Array,
  B: number,
  S: number,
  classId: number | undefined,
  rule?: ClassFreeRule,
): Promise<PositionScores> {
  const levels: FeatureMap[] = await backbone.run(pixels, B, S);
  // without a class id: class-free, by `rule` (the model's default when undefined)
  return model.scoreFeatureMaps(levels, B, classId, rule === undefined ? undefined : { classFree: rule });
}

/** Maps (crop x crop) and image scores of image files of one class; see ScoreImagesOptions. */
export async function scoreImages(model: HGAD, files: readonly string[], options: ScoreImagesOptions): Promise<ImageScores> {
  if (options === null || typeof options !== 'object') throw expectedType('an options object {class, ...}', 'options', options);
  const classId = options.class === undefined ? null : resolveClassId(model, options.class);
  const modelFile = options.modelFile ?? 'the model';
  const kind = options.kind ?? 'calibrated';
  const calibrations = model.core.levels.map((l) => l.calibration);
  const rule = classId === null ? checkClassFreeRule(options.classFree, model.core) : undefined;
  const calibration = classId === null ? null : mapCalibration(calibrations, classId, kind);
  const { backbone, preprocessing } = await openModelBackbone(model, options.backbone, modelFile);
  let positions: PositionScores;
  try {
    positions = await scoreImagePositions(model, backbone, preprocessing, files, classId ?? undefined, options.batchSize ?? 8, rule);
  } finally {
    await backbone.close();
  }
  const S = preprocessing.crop;
  const mapCal = positions.classFree ? classFreeMapCalibration(calibrations, positions.classFree, kind, positions.logp) : calibration;
  const maps = await model.imageMaps(positions, mapCal, { height: S, width: S, kind, sigma: options.sigma, topK: options.topK });
  return { ...maps, height: S, width: S, classId, positions };
}
