// Loading a model file for the CLI, and resolving --class (an id or a name).
import type { HGAD } from '../hgad';
import { CliError, UsageError } from './errors';
import { checkInputExists } from './inputs';

export async function loadModel(file: string): Promise<HGAD> {
  await checkInputExists(file);
  const { HGAD } = await import('../hgad');
  return HGAD.load(file);
}

/** A single-level model's level config, or a CliError for models the CLI cannot feed. */
export function singleLevel(model: HGAD, file: string): { channels: number; condChannels: number } {
  const levels = model.config.levels;
  if (levels.length !== 1) {
    throw new CliError(`${file}: the model has ${levels.length} feature levels; the command line scores single-level models only (use the library API)`);
  }
  return levels[0];
}

/**
 * The class id named by `value`: a class name of the model (exact match
 * first), else a class id in [0, K).
 */
export function resolveClass(value: string, classNames: readonly string[], command: string): number {
  const byName = classNames.indexOf(value);
  if (byName >= 0) return byName;
  const K = classNames.length;
  const shown = classNames.slice(0, 12).map((n) => JSON.stringify(n)).join(', ') + (K > 12 ? ', ...' : '');
  if (/^[+-]?\d+$/.test(value.trim())) {
    const id = Number(value);
    if (id >= 0 && id < K) return id;
    throw new UsageError(`--class ${value}: class id out of range, the model has ${K} class${K === 1 ? '' : 'es'} (ids 0..${K - 1}: ${shown})`, command);
  }
  throw new UsageError(`--class ${JSON.stringify(value)}: no class of that name; the model's classes are ${shown}`, command);
}
