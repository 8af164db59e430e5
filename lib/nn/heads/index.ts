// The model kinds: one head per kind, registered here by the name kinds.ts
// gives it. A model's config names its kind ('hgad' when absent); everything
// else asks the head.
import type { HeadKind } from './head';
import type { ModelKind } from './kinds';
import { hierarchicalMixtureKind } from './hierarchical_mixture';
import { singleGaussianKind } from './single_gaussian';

export type { Head, HeadKind, HeadShape, LossWeights, MixtureLossTerms } from './head';
export { GaussianMixture, smoothedOneHot } from './hierarchical_mixture';
export { SingleGaussian } from './single_gaussian';

export { KIND_DESCRIPTIONS, MODEL_KINDS } from './kinds';
export type { ModelKind } from './kinds';

const KINDS: Record<ModelKind, HeadKind> = { hgad: hierarchicalMixtureKind, flow: singleGaussianKind };

/** The kind registered under a name ('hgad' when undefined). */
export function headKind(kind: ModelKind | undefined): HeadKind {
  return KINDS[kind ?? 'hgad'];
}
