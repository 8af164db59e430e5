// What fitting and scoring need from a feature extractor, and what a model
// records of it. Backbone (lib/images/backbone.ts: an ONNX model, its outputs
// as levels or one output as a pyramid) is the implementation; precomputed
// feature maps (fitFeatureMaps) come with no extractor: the model records no
// origin (ModelConfig.features unset) and scores feature maps, not images.
//
// A model trained on images records the extractor it was trained with
// (ModelConfig.features); features from any other extractor, level choice or
// preprocessing would be scored against flows that never saw them, giving
// confident nonsense. checkFeatureOrigin refuses that with one clear error.
import { FormatError } from '../errors';
import type { FeatureOrigin, ModelConfig } from '../hgad/config';
import type { FeatureMap } from '../hgad/score_maps';
import type { Preprocessing } from './preprocess';

/** What a model file records of the extractor its features came from (ModelConfig.features.backbone). */
export type ExtractorRecord = FeatureOrigin['backbone'];

export interface FeatureExtractor {
  /** the file it was loaded from: names it in errors */
  readonly file: string;
  /** one name per level, in order (pyramid: output@scale) */
  readonly levelNames: string[];
  /** what a model trained on its features records (its sha256 identifies it) */
  readonly record: ExtractorRecord;
  /** pixels: (B, 3, S, S) float32, preprocessed -> one FeatureMap (B, C, h, w) per level */
  run(pixels: Float32Array, B: number, S: number): Promise<FeatureMap[]>;
  close(): Promise<void>;
}

/** The origin record of features extracted by `extractor` from images preprocessed with `p`. */
export function featureOrigin(extractor: FeatureExtractor, p: Preprocessing): FeatureOrigin {
  return {
    backbone: extractor.record,
    levels: extractor.levelNames,
    preprocessing: { imageSize: p.imageSize, crop: p.crop, mean: [...p.mean], std: [...p.std] },
  };
}

function short(sha: string): string {
  return sha.slice(0, 12);
}

/**
 * Throws a FormatError naming `modelFile` when the model was not trained on
 * features of this extractor (by its sha256), these levels and this
 * preprocessing; also when the model was trained on vectors, not images.
 */
export function checkFeatureOrigin(config: ModelConfig, modelFile: string, extractor: FeatureExtractor, p: Preprocessing): void {
  const want = config.features;
  if (!want) throw new FormatError(modelFile, 'the model was trained on feature vectors, not on images: it records no backbone to score images with');
  const have = featureOrigin(extractor, p);
  if (want.backbone.sha256 !== have.backbone.sha256) {
    throw new FormatError(
      modelFile,
      `the model was trained with the backbone ${want.backbone.file} (sha256 ${short(want.backbone.sha256)}…) but ${extractor.file} ` +
        `(sha256 ${short(have.backbone.sha256)}…) was given; score with the backbone the model was trained with`,
    );
  }
  if (want.levels.join(',') !== have.levels.join(',')) {
    throw new FormatError(modelFile, `the model was trained on the levels ${want.levels.join(', ')} of its backbone but ${have.levels.join(', ')} were given`);
  }
  const a = want.preprocessing;
  const b = have.preprocessing;
  if (a.imageSize !== b.imageSize || a.crop !== b.crop || a.mean.join(',') !== b.mean.join(',') || a.std.join(',') !== b.std.join(',')) {
    throw new FormatError(
      modelFile,
      `the model was trained on images resized to ${a.imageSize}, cropped to ${a.crop} (mean ${a.mean.join('/')}, std ${a.std.join('/')}) ` +
        `but the given preprocessing is ${b.imageSize}, ${b.crop} (mean ${b.mean.join('/')}, std ${b.std.join('/')})`,
    );
  }
}

/** The preprocessing a model was trained with (to score its images the same way). */
export function modelPreprocessing(config: ModelConfig, modelFile: string): Preprocessing {
  const f = config.features;
  if (!f) throw new FormatError(modelFile, 'the model was trained on feature vectors, not on images: it records no preprocessing');
  const { imageSize, crop, mean, std } = f.preprocessing;
  return { imageSize, crop, mean: [mean[0], mean[1], mean[2]], std: [std[0], std[1], std[2]] };
}
