// The model kinds: one head per kind, registered here by name. A model's
// config names its kind ('hgad' when absent); everything else asks the head.
import type { HeadKind } from './head';
import { hierarchicalMixtureKind } from './hierarchical_mixture';
import { singleGaussianKind } from './single_gaussian';

export type { Head, HeadKind, HeadShape, LossWeights, MixtureLossTerms } from './head';
export { GaussianMixture, smoothedOneHot } from './hierarchical_mixture';
export { SingleGaussian } from './single_gaussian';

const KINDS = { hgad: hierarchicalMixtureKind, flow: singleGaussianKind } as const;

export type ModelKind = keyof typeof KINDS;
/** The registered kinds, the default first. */
export const MODEL_KINDS = Object.keys(KINDS) as readonly ModelKind[];

/** The kind registered under a name ('hgad' when undefined). */
export function headKind(kind: ModelKind | undefined): HeadKind {
  return KINDS[kind ?? 'hgad'];
}
