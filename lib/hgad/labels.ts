// The class ids of precomputed feature maps (fit --feature-maps --labels):
// checked in one pass before anything is built from them, so that a stray
// huge id is a one-line error rather than a class list of that length.
import { expectedRange } from '../errors';
import { LIMITS } from './config';

/**
 * The class names of `labels`: `names` when given (every label must be an id
 * into it), else "0".."K-1" with K = the largest label + 1 (at most
 * LIMITS.classes). Negative labels are refused. `name` is the labels' file.
 */
export function labelClassNames(labels: Int32Array, name: string, names?: readonly string[]): string[] {
  const K = names ? names.length : LIMITS.classes;
  let max = -1;
  for (let i = 0; i < labels.length; ++i) {
    const k = labels[i];
    if (k < 0 || k >= K) {
      const what = names
        ? `class ids in [0, ${K}) (one per name of --class-names)`
        : `class ids in [0, ${K}) (at most ${K} classes; class ids are 0, 1, 2, ...)`;
      throw expectedRange(what, `${name}[${i}]`, k);
    }
    if (k > max) max = k;
  }
  if (names) return [...names];
  return Array.from({ length: max + 1 }, (_, k) => String(k));
}
