// The image commands' runs (predict, test): the calibrations a score kind
// needs, the staged maps folder a flag asks for, and a run over an open model
// and backbone that discards the staged folder when it fails and always
// closes both.
import type { HGAD } from '../hgad';
import type { Calibration } from '../hgad/types';
import { isCalibratedKind, MapKind } from '../hgad/map_kind';
import { StagedFolder } from '../localise/outputs';
import { CliError } from './errors';

/** The calibration of each level; a CliError when `kind` needs them and the model holds none. */
export function levelCalibrations(model: HGAD, kind: MapKind, modelFile: string): (Calibration | null)[] {
  const calibrations = model.core.levels.map((l) => l.calibration);
  if (isCalibratedKind(kind) && calibrations.some((c) => !c)) throw new CliError(`${modelFile}: the model holds no calibration; use --score fused or logp`);
  return calibrations;
}

/** The staged folder for `dir` (null when the flag was not given); a CliError naming the flag when it cannot be written. */
export function openStaged(dir: string | undefined, flag: string): StagedFolder | null {
  if (dir === undefined) return null;
  try {
    return StagedFolder.open(dir, flag);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** Runs `body`; on failure the staged folder is discarded (nothing half-written), and the backbone and model are closed either way. */
export async function runImageCommand<T>(
  staged: StagedFolder | null,
  backbone: { close(): Promise<void> },
  model: { close(): void },
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (e) {
    staged?.discard();
    throw e;
  } finally {
    await backbone.close();
    model.close();
  }
}
