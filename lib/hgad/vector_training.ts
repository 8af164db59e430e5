// fit on vectors: the reference's training loop (trainer.ts) with every vector
// a 1x1 image, over the caller's arrays (no copy).
import { MemoryFeatureSource } from '../data/feature_source';
import { LevelConfig, TrainConfig } from './config';
import type { HgadModel } from './model';
import { trainFromSource } from './trainer';
import { FitProgress, LevelData, StepLosses } from './types';

function sameLabels(a: Int32Array, b: Int32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; ++i) if (a[i] !== b[i]) return false;
  return true;
}

/** The levels `levels` of `data` as a source of 1x1 images. */
function vectorSource(configs: LevelConfig[], data: LevelData[], levels: number[]): MemoryFeatureSource {
  return new MemoryFeatureSource({
    kind: 'memory',
    levels: levels.map((l) => ({ channels: configs[l].channels, height: 1, width: 1, condChannels: configs[l].condChannels })),
    labels: data[levels[0]].labels,
    data: levels.map((l) => data[l].features),
    cond: levels.map((l) => (configs[l].condChannels > 0 ? data[l].cond! : null)),
  });
}

/**
 * Trains every level on its (already checked) vectors; returns each level's
 * last losses. When every level holds the same vectors' labels, one batch of
 * ids trains level after level with one Adam; levels of different sizes train
 * one after another (levels share no parameter, so this differs from the
 * joint loop only in which vectors form a batch).
 */
export function fitVectors(model: HgadModel, data: LevelData[], sizes: number[], opts: TrainConfig,
  onProgress?: (p: FitProgress) => void): StepLosses[] {
  const L = model.levels.length;
  const joint = sizes.every((n, l) => n === sizes[0] && sameLabels(data[l].labels, data[0].labels));
  const groups = joint ? [data.map((_, l) => l)] : data.map((_, l) => [l]);
  const finalLosses: StepLosses[] = new Array(L);
  for (const levels of groups) {
    const part = levels.length === L ? model : new (model.constructor as typeof HgadModel)(
      { ...model.config, levels: levels.map((l) => model.config.levels[l]) }, levels.map((l) => model.levels[l]));
    const N = sizes[levels[0]];
    const summary = trainFromSource(part, vectorSource(model.config.levels, data, levels), {
      metaEpochs: opts.epochs, subEpochs: opts.subEpochs, imagesPerBatch: Math.min(opts.batchSize, N), lr: opts.lr,
      warmEpochs: opts.warmEpochs, stage1Epochs: opts.stage1Epochs, centreLrRatio: opts.centreLrRatio,
      lambda1: opts.lambda1, lambda2: opts.lambda2, labelSmoothing: opts.labelSmoothing, seed: opts.seed,
    }, onProgress && ((p) => onProgress({ ...p, level: levels[p.level], levels: L })));
    levels.forEach((l, i) => {
      finalLosses[l] = summary.finalLosses[i];
    });
  }
  return finalLosses;
}
