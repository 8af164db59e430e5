// Telling a diverged fit from a successful one, and saying why. A loss that
// grows by orders of magnitude (3e21 after starting near 10) has diverged even
// while it stays finite, and must not end as a saved model with degenerate
// scores. A non-finite loss at the very first iteration comes from the
// initialised flow itself (too deep, or features too large, for float32), so
// advising a lower learning rate there would send the user the wrong way.
import { ModelConfig } from './config';

/** How far above its starting level (and above 1e6 in absolute terms) a loss may climb before the fit counts as diverged. */
export const DIVERGENCE_FACTOR = 1e4;
const DIVERGENCE_FLOOR = 1e6;

/** The advice of a fit stopped by a non-finite loss or flow output; `first`: at the first step, before any update. */
export function divergenceAdvice(config: ModelConfig, first: boolean, lr: number): string {
  if (first) {
    return (
      `At the first iteration the weights are still their initialisation, so the learning rate is not the cause: ` +
      `the flow (${config.couplings} couplings, clamp ${config.clamp}) takes these features out of float32's range. ` +
      'Use fewer couplings or a smaller clamp, or standardise the features (zero mean, unit variance per channel).'
    );
  }
  return `Lower the learning rate (now ${lr.toExponential(2)}), use fewer couplings, or standardise the features.`;
}

/** Watches the losses of a fit, level by level, and stops it when they explode. */
export class DivergenceGuard {
  private start = new Map<number, number>();

  constructor(private readonly config: ModelConfig) {}

  /** `at` says where (level, epoch, iteration) for the message; throws when level l's loss has diverged. */
  observe(l: number, loss: number, at: string, lr: number): void {
    if (!Number.isFinite(loss)) return; // the training loop reports non-finite losses itself
    const first = this.start.get(l);
    if (first === undefined) {
      this.start.set(l, loss);
      return;
    }
    const limit = Math.max(DIVERGENCE_FLOOR, Math.abs(first) * DIVERGENCE_FACTOR);
    if (loss > limit) {
      throw new Error(
        `fit: training diverged at ${at}: the loss grew from ${first.toPrecision(4)} to ${loss.toExponential(2)}; the weights were not kept. ` +
          `Lower the learning rate (now ${lr.toExponential(2)}), use fewer couplings (now ${this.config.couplings}) or a smaller clamp, or standardise the features.`,
      );
    }
  }
}

/** The warning of a fit whose epochs all fall in stage 1, where the intra-class centres are not trained. */
export function stageOneOnlyWarning(epochs: number, stage1Epochs: number): string {
  return (
    `all ${epochs} epoch${epochs === 1 ? ' is' : 's are'} stage 1 (stage1Epochs = ${stage1Epochs}): the intra-class mixtures were never trained; ` +
    `use more than ${stage1Epochs} epochs or a smaller stage1Epochs`
  );
}
