// Loading a model file for the CLI, and resolving --class (an id or a name).
import type { DeviceOptions, HGAD } from '../hgad';
import { lookupClass, shownClasses } from '../hgad/class_lookup';
import type { FlagSpec, ParsedArgs } from './args';
import { CliError, UsageError } from './errors';
import { checkInputExists } from './inputs';

/** --model of the commands that read a model trained on feature vectors. */
export const MODEL_FLAG: FlagSpec = { name: 'model', value: 'M.safetensors', required: true, help: 'a model written by hgad train' };

/** --model of the commands that score images: a model from hgad fit, which records its backbone and preprocessing. */
export const IMAGE_MODEL_FLAG: FlagSpec = { name: 'model', value: 'M.safetensors', required: true, help: 'a model trained on images (hgad fit)' };

/** How the image commands (predict, test) turn maps into image scores and which backbone they run. */
export const IMAGE_SCORING_FLAGS: FlagSpec[] = [
  { name: 'top-k', value: 'K', help: 'image score = mean of the K highest pixels of its map (default 1: the maximum)' },
  { name: 'sigma', value: 'S', help: 'Gaussian smoothing of the maps (default 4, as the reference)' },
  { name: 'backbone', value: 'F.onnx', help: 'the backbone the model was trained with (default the shipped demo backbone)' },
];

/** --rule of the image commands: how they score without a class (lib/cli/class_free_flag.ts reads it). */
export const RULE_FLAG: FlagSpec = {
  name: 'rule',
  value: 'RULE',
  help: 'class-free scoring: inferred (the class with the highest mean posterior, scored as that class) or marginal (the mixture over every class, with its own calibration; the default when the model holds it)',
};

/** The --device and --precision flags of the commands that compute. */
export const DEVICE_FLAGS: FlagSpec[] = [
  { name: 'device', value: 'D', help: 'cpu (default), cuda (fails when no usable GPU) or auto (the GPU when there is one)' },
  { name: 'precision', value: 'P', help: 'GEMM precision on a GPU: fp32 (default) or tf32 (tensor cores; see docs/gpu.md for its error)' },
];

/** The device options named by --device and --precision; a CliError when CUDA was asked for and cannot be used. */
export function deviceOptions(args: ParsedArgs): DeviceOptions {
  return {
    device: args.choice('device', ['cpu', 'cuda', 'auto'] as const, 'cpu'),
    precision: args.choice('precision', ['fp32', 'tf32'] as const, 'fp32'),
  };
}

/** Checks the device request before any work (cuda without a GPU fails here, naming the reason). */
export async function checkDevice(options: DeviceOptions): Promise<void> {
  if (options.device !== 'cuda') return;
  const { cudaBackend } = await import('../backend/devices');
  try {
    cudaBackend();
  } catch (e) {
    throw new CliError(`--device cuda: ${(e as Error).message}; use --device cpu or --device auto`);
  }
}

export async function loadModel(file: string, options?: DeviceOptions): Promise<HGAD> {
  await checkInputExists(file);
  const { HGAD } = await import('../hgad');
  return HGAD.load(file, options);
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
 * The class id named by `value`: a class name of the model first, "#N" the
 * class id N, a plain number an id only when no class bears that name (see
 * lib/hgad/class_lookup.ts).
 */
export function resolveClass(value: string, classNames: readonly string[], command: string): number {
  const r = lookupClass(classNames, value);
  if (r.id !== undefined) return r.id;
  const K = classNames.length;
  if (r.error === 'id out of range') {
    throw new UsageError(`--class ${value}: class id out of range, the model has ${K} class${K === 1 ? '' : 'es'} (ids 0..${K - 1}: ${shownClasses(classNames)})`, command);
  }
  throw new UsageError(`--class ${JSON.stringify(value)}: no class of that name; the model's classes are ${shownClasses(classNames)} (or name one by id: "#0")`, command);
}
