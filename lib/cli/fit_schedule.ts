// hgad fit's flags for the cost of training: presets, position sampling, the
// calibration's images, the preview (always printed before training; --dry-run stops there) and a time
// budget.
import { ParsedArgs, FlagSpec } from './args';
import { UsageError } from './errors';
import { describeEstimate, FitEstimate } from '../hgad/fit_estimate';
import { parsePositions } from '../hgad/position_sampling';
import { PRESET_NAMES, PresetName } from '../hgad/presets';

export const SCHEDULE_FLAGS: FlagSpec[] = [
  { name: 'preset', value: 'P', help: 'reference (default: every position of every image, the reference\'s schedule) or fast (position sampling, see docs/training.md\'s accuracy-against-cost table); explicit flags win' },
  { name: 'positions-per-image', value: 'N', help: 'train each step on N positions of each image per level (a count, or a fraction such as 1/16), stratified over passes' },
  { name: 'calibration-images', value: 'N', help: 'calibrate on at most N training images of each class (every position of each; default: every image)' },
  { name: 'time-budget', value: 'T', help: 'time for training and its calibration (45m, 1.5h, 90s, or seconds): the passes, warm-up, cosine and stage 1 are cut to fit, from a timing of the first steps' },
  { name: 'dry-run', help: 'print the preview (vectors, FLOPs, ETA from a timing of the first steps) and stop: nothing is trained or written' },
];

/** "45m", "1.5h", "90s", "120" (seconds) -> seconds. */
export function parseDuration(raw: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$/.exec(raw);
  const v = m ? Number(m[1]) * ({ s: 1, m: 60, min: 60, h: 3600 } as Record<string, number>)[m[2] ?? 's'] : NaN;
  if (!(v > 0)) throw new UsageError(`--${flag}: expected a duration such as 45m, 1.5h, 90s or a number of seconds, got ${raw}`, 'fit');
  return v;
}

/** The preset, sampling, budget and preview options of the flags. */
export function scheduleOptions(args: ParsedArgs) {
  const preset = args.choice('preset', PRESET_NAMES, 'reference') as PresetName;
  const positions = args.string('positions-per-image');
  let sampling = {};
  if (positions !== undefined) {
    try {
      sampling = parsePositions(positions, '--positions-per-image');
    } catch (e) {
      throw new UsageError((e as Error).message, 'fit');
    }
  }
  const budget = args.string('time-budget');
  const calibrationImages = args.int('calibration-images', { min: 1 });
  return {
    preset,
    ...sampling,
    ...(calibrationImages === undefined ? {} : { calibrationImages }),
    ...(budget === undefined ? {} : { timeBudget: parseDuration(budget, 'time-budget') }),
    dryRun: args.flag('dry-run') || undefined,
    preview: true,
  };
}

/** The preview as printed: "preview: V vectors (...), F TFLOP; about T on this machine ...". */
export function previewLine(e: FitEstimate): string {
  return `preview: ${describeEstimate(e)}\n`;
}
