// Named training settings. 'reference': the reference's schedule, every
// position of every image (the default). 'fast': the cheaper setting picked
// from the accuracy-against-cost table of docs/training.md (defect benchmark):
// 1/16 of each level's positions per step, 8 meta-epochs x 2 sub-epochs,
// 1/200 of the reference's vectors (16 passes instead of 200, each 1/16),
// and the calibration on at most 64 training images per class.
import { expectedRange } from '../errors';
import type { SourceTrainConfig } from './train_options';

export type PresetName = 'reference' | 'fast';
export const PRESET_NAMES: readonly PresetName[] = ['reference', 'fast'];

export const PRESETS: Record<PresetName, Partial<SourceTrainConfig>> = {
  reference: {},
  fast: { positionFraction: 1 / 16, metaEpochs: 8, subEpochs: 2, calibrationImages: 64 },
};

/** The preset's options under the caller's own (which win). */
export function withPreset<T extends object>(preset: unknown, options: T, name = 'options.preset'): T {
  if (preset === undefined) return options;
  if (!PRESET_NAMES.includes(preset as PresetName)) throw expectedRange(`one of ${PRESET_NAMES.join(', ')}`, name, preset);
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const base = { ...PRESETS[preset as PresetName] } as Record<string, unknown>;
  // an explicit count replaces the preset's fraction and the other way round
  if ('positionsPerImage' in defined || 'positionFraction' in defined) {
    delete base.positionsPerImage;
    delete base.positionFraction;
  }
  return { ...base, ...defined } as T;
}
