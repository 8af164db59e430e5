// One image-trained model on the test split of an indexed data set, class by
// class: maps of every test image, ground-truth masks, and the localisation
// metrics, each image labelled by its folder as the reference (test/good is
// normal, any other is anomalous, even with an empty mask). `hgad test` and the defect benchmark use it; a
// callback sees each class's maps (to write them or build a report).
import type { HGAD } from '../hgad';
import type { Backbone } from '../images/backbone';
import type { DatasetIndex, TestImage } from '../images/dataset';
import { loadMask, Preprocessing } from '../images/preprocess';
import { LocalisationMetrics, localisationMetrics } from '../metrics/localisation';
import type { MapKind } from '../hgad/map_kind';
import { scoreImagePositions } from './score_images';
import { mapCalibration } from '../hgad/score_maps';
import type { ClassFreeRule } from '../hgad/types';
import { classFreeMapCalibration, type ImageClassFree } from '../hgad/class_free_maps';

export interface EvaluateOptions {
  kind: MapKind;
  sigma?: number;
  topK?: number;
  batchSize?: number;
  /** also compute the ROC and PRO curves */
  curves?: boolean;
  /** score every image without its class, by this rule (the data set's classes need not be the model's) */
  classFree?: ClassFreeRule;
}

/** What one class's evaluation produced, for callers that write maps or reports. */
export interface ClassResult {
  name: string;
  images: TestImage[];
  /** (n, S, S) */
  maps: Float32Array;
  /** (n) */
  scores: Float64Array;
  /** (n, S, S) of 0/1 */
  masks: Uint8Array;
  metrics: LocalisationMetrics;
  seconds: number;
  /** with options.classFree: each image's inferred class (and cluster) */
  classFree?: ImageClassFree;
}

export async function evaluateImages(
  model: HGAD,
  index: DatasetIndex,
  backbone: Backbone,
  preprocessing: Preprocessing,
  options: EvaluateOptions,
  onClass?: (r: ClassResult) => Promise<void> | void,
): Promise<Record<string, LocalisationMetrics>> {
  const names = model.config.classNames;
  const calibrations = model.core.levels.map((l) => l.calibration);
  const S = preprocessing.crop;
  const perClass: Record<string, LocalisationMetrics> = {};
  for (const cls of index.classNames) {
    const images = index.test.filter((t) => index.classNames[t.classId] === cls);
    if (images.length === 0) continue;
    const classId = options.classFree ? undefined : names.indexOf(cls);
    if (classId !== undefined && classId < 0) throw new RangeError(`Expected a class of the model (${names.join(', ')}) for the test class but received ${cls}`);
    const started = Date.now();
    const positions = await scoreImagePositions(model, backbone, preprocessing, images.map((t) => t.path), classId, options.batchSize ?? 8, options.classFree);
    const kind = options.kind ?? 'calibrated';
    const calibration = positions.classFree ? classFreeMapCalibration(calibrations, positions.classFree, kind, positions.logp) : mapCalibration(calibrations, classId!, kind);
    const { maps, scores } = await model.imageMaps(positions, calibration, {
      height: S, width: S, kind: options.kind, sigma: options.sigma, topK: options.topK,
    });
    const masks = new Uint8Array(images.length * S * S);
    for (let i = 0; i < images.length; ++i) {
      if (images[i].maskPath) masks.set(await loadMask(images[i].maskPath!, preprocessing), i * S * S);
    }
    const imageLabels = images.map((t) => (t.defect === 'good' ? 0 : 1));
    const metrics = localisationMetrics({ maps, masks, n: images.length, height: S, width: S, imageScores: scores, imageLabels }, { curves: options.curves });
    perClass[cls] = metrics;
    await onClass?.({ name: cls, images, maps, scores, masks, metrics, seconds: (Date.now() - started) / 1000, classFree: positions.classFree });
  }
  return perClass;
}
