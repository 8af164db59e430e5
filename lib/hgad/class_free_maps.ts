// Images scored without a class id (see lib/hgad/class_free.ts): the
// per-position scores of a batch with each image's inferred class (and, for
// a label-free model, its cluster), and the map normalisers that go with the
// rule: each image's inferred class's, or the marginal's.
import { checkClassFreeRule, scoreClassFree } from './class_free';
import type { HgadModel } from './model';
import type { Calibration, ClassFree, ClassFreeRule, Scores } from './types';
import { assignClusters } from './pseudo_labels';
import { isCalibratedKind, MapKind } from './map_kind';
import { classCalibration, FeatureMap, levelInputs, MapCalibration } from './score_maps';

/** What class-free scoring of images inferred: per image, plus the nearest cluster of a label-free model. */
export interface ImageClassFree extends ClassFree {
  /** (B) the nearest centroid of the pooled features (label-free models only) */
  clusters?: Int32Array;
}

/** Scores B images' feature maps class-free (in the scoring worker). */
export function scoreImagesClassFree(model: HgadModel, levels: FeatureMap[], images: number, rule?: ClassFreeRule): { scores: Scores; classFree: ImageClassFree } {
  const chosen = checkClassFreeRule(rule, model);
  const inputs = levelInputs(model.config, levels, images);
  const scores = scoreClassFree(model, inputs, levels.map((lv) => lv.height * lv.width), images, chosen);
  const classFree: ImageClassFree = { ...scores.classFree };
  if (model.config.pseudoLabels) classFree.clusters = assignClusters(model.config.pseudoLabels, levels, images);
  return { scores, classFree };
}

/**
 * The map normalisers of images scored class-free (null for the set-relative
 * kinds): the marginal's (per position for 'calibrated'), or per image those
 * of its inferred class, B*h*w values per level.
 */
export function classFreeMapCalibration(calibrations: (Calibration | null)[], classFree: ClassFree, kind: MapKind, sizes: { h: number; w: number }[]): MapCalibration[] | null {
  if (!isCalibratedKind(kind)) return null;
  const perPosition = kind === 'calibrated';
  if (classFree.rule === 'marginal') {
    return classCalibration(calibrations.map((c) => c?.marginal ?? null), 0, perPosition);
  }
  const B = classFree.classes.length;
  const K = Math.max(...classFree.classes) + 1;
  const perClass = Array.from({ length: K }, (_, k) => classCalibration(calibrations, k, perPosition));
  return sizes.map(({ h, w }, l) => {
    const area = h * w;
    const mean = new Float64Array(B * area);
    const std = new Float64Array(B * area);
    for (let b = 0; b < B; ++b) {
      const c = perClass[classFree.classes[b]][l];
      for (let p = 0; p < area; ++p) {
        mean[b * area + p] = c.mean.length === 1 ? c.mean[0] : c.mean[p];
        std[b * area + p] = c.std.length === 1 ? c.std[0] : c.std[p];
      }
    }
    return { mean, std };
  });
}
