// --rule of the image commands: how images are scored without their class
// (see lib/hgad/class_free.ts).
import type { HGAD } from '../hgad';
import { CLASS_FREE_RULES, defaultClassFreeRule, hasMarginalCalibration } from '../hgad/class_free';
import type { ClassFreeRule } from '../hgad/types';
import type { ParsedArgs } from './args';
import { CliError } from './errors';


/**
 * The rule named by --rule (default: marginal when the model holds its
 * calibration, else inferred); a CliError when the model cannot use it.
 */
export function classFreeRule(args: ParsedArgs, model: HGAD, file: string): ClassFreeRule {
  const rule = args.choice('rule', CLASS_FREE_RULES, defaultClassFreeRule(model.core)) as ClassFreeRule;
  if (rule === 'marginal' && !hasMarginalCalibration(model.core)) {
    throw new CliError(`${file}: class-free rule marginal is unavailable: the model holds no calibration of the marginal (a file from before class-free scoring); refit it, or use --rule inferred`);
  }
  return rule;
}
