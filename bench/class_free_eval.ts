// The class-free and label-free rows of the defect benchmark: one trained
// model evaluated without class ids (rules 'inferred' and 'marginal'), how
// often the inferred class is the true one (normal and defective test images
// apart), and the adjusted Rand index of a label-free model's training
// clusters against the true classes.
import { HGAD } from '../lib/hgad';
import type { ClassFreeRule } from '../lib/hgad/types';
import { adjustedRandIndex } from '../lib/hgad/kmeans';
import type { Backbone } from '../lib/images/backbone';
import type { DatasetIndex } from '../lib/images/dataset';
import type { FitImagesResult } from '../lib/images/fit_images';
import type { Preprocessing } from '../lib/images/preprocess';
import { evaluateImages } from '../lib/localise/evaluate';
import type { MapKind } from '../lib/hgad/map_kind';
import type { LocalisationMetrics } from '../lib/metrics/localisation';
import { meanOverClasses } from '../lib/metrics/summary';

export const rates = (m: LocalisationMetrics) => ({ image_auroc: m.imageAuroc, pixel_auroc: m.pixelAuroc, aupro: m.aupro });

export interface ClassFreeRow {
  mean: ReturnType<typeof rates>;
  per_class: Record<string, ReturnType<typeof rates>>;
  /** share of test images whose inferred class is their true class (labelled models), or whose inferred class is the majority cluster of their true class (label-free) */
  inference?: { normal: number; defective: number };
}

/**
 * Evaluates a model class-free by `rule`. truthOf maps a test image's true
 * class name to the model class that counts as right (the class itself for a
 * labelled model; for a label-free one, the cluster most of that class's
 * training images fell into).
 */
export async function evaluateClassFree(
  model: HGAD,
  index: DatasetIndex,
  backbone: Backbone,
  preprocessing: Preprocessing,
  kind: MapKind,
  rule: ClassFreeRule,
  truthOf: (cls: string) => number,
): Promise<ClassFreeRow> {
  const hits = { normal: [0, 0], defective: [0, 0] };
  const perClass = await evaluateImages(model, index, backbone, preprocessing, { kind, classFree: rule }, (r) => {
    const want = truthOf(r.name);
    r.images.forEach((im, i) => {
      const h = im.defect === 'good' ? hits.normal : hits.defective;
      h[1] += 1;
      if (r.classFree!.classes[i] === want) h[0] += 1;
    });
  });
  const per_class: Record<string, ReturnType<typeof rates>> = {};
  for (const [cls, m] of Object.entries(perClass)) per_class[cls] = rates(m);
  return { mean: rates(meanOverClasses(perClass)), per_class, inference: { normal: hits.normal[0] / hits.normal[1], defective: hits.defective[0] / hits.defective[1] } };
}

/** For a label-free fit: the ARI of its training clusters against the true classes, and each true class's majority cluster. */
export function clusterAgreement(fitted: FitImagesResult): { ari: number; K: number; majority: Record<string, number>; silhouettes: number[] } {
  const c = fitted.clusters!;
  const byPath = new Map(fitted.index.train.map((t) => [t.path, t.classId]));
  const truth = c.images.map((p) => byPath.get(p)!);
  const majority: Record<string, number> = {};
  fitted.index.classNames.forEach((name, k) => {
    const counts = new Array<number>(c.K).fill(0);
    truth.forEach((t, i) => {
      if (t === k) counts[c.assignment[i]] += 1;
    });
    majority[name] = counts.indexOf(Math.max(...counts));
  });
  return { ari: adjustedRandIndex(truth, c.assignment), K: c.K, majority, silhouettes: c.silhouettes };
}
