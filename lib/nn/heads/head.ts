// A head: what a model kind puts after each level's flow. It owns the kind's
// parameters, its training loss, its per-position scores and what the
// calibration, the maps and the model file need to know of it. The trainer,
// the scorers, the map code and the file format ask the head; none of them
// tests a kind's name. One file per kind (hierarchical_mixture.ts,
// single_gaussian.ts), registered in heads/index.ts; ARCHITECTURE.md
// ("Adding a model kind") walks through adding one.
import type { FloatArray } from '../../backend/host';
import type { Backend, IntStorage, Storage } from '../../backend/types';
import type { Random } from '../../random';
import type { DType, Tensor } from '../../tensor';

/** The shape of a level's head: C latent channels, K classes, M intra-class centres per class. */
export interface HeadShape {
  channels: number;
  classes: number;
  intraCentres: number;
}

export interface LossWeights {
  lambda1: number;
  lambda2: number;
}

/** The loss terms of one step, means over the batch (terms a head does not have are 0 or absent). */
export interface MixtureLossTerms {
  L_g: number;
  L_e: number;
  L_mi: number;
  L_g_intra?: number;
  L_z?: number;
}

export interface Head {
  readonly C: number;
  /** classes of the model (a head without classes still scores every class id) */
  readonly K: number;
  /** the backend holding the head's tensors (the flow's) */
  readonly backend: Backend;
  /**
   * Whether negEntropy carries information (an inter-class posterior): the
   * reference's 'fused' map multiplies it in; a head without it maps 'fused'
   * as its logp map.
   */
  readonly hasEntropy: boolean;
  /** Every trainable tensor. */
  parameters(): Tensor[];
  /**
   * The trainable tensors by Adam group (the flows are the third group):
   * centres (lr x centreLrRatio) and mixture weights (lr x weightLrRatio).
   */
  groups(): { centres: Tensor[]; weights: Tensor[] };
  /** The tensors a model file holds for this head, by name (written as level<l>.<name>). */
  tensors(): Record<string, Tensor>;
  /**
   * The training loss, mean over the batch, and its terms. z: (N, C),
   * logdet: (N), labels: (N), Y: (N, K) smoothed one-hot rows, all on the
   * head's backend; stage 1 or 2 of the reference's loop.
   */
  loss(z: Tensor, logdet: Tensor, labels: IntStorage, Y: Storage, stage: 1 | 2, weights: LossWeights): { loss: Tensor; terms: MixtureLossTerms };
  /**
   * Per-vector scores on the head's backend (not waiting): logp (N), the
   * log-likelihood of each vector as its class, per dimension (higher = more
   * normal); negEntropy (N), minus the entropy of the inter-class posterior.
   */
  scoreStorage(z: Tensor, logdet: Tensor, classes: IntStorage): { logp: Storage; negEntropy: Storage };
  /** scoreStorage() with the results as host arrays (waits). */
  score(z: Tensor, logdet: Tensor, classes: IntStorage): { logp: FloatArray; negEntropy: FloatArray };
  /**
   * Class-free scores (not waiting): logp[k] (N) as scoreStorage with every
   * vector taken as class k; mi[k] (N) = log p(y = k | z) - log pi_k;
   * negEntropy (N). labels[k] holds k and Y[k] the one-hot rows of k.
   */
  classFreeStorage(z: Tensor, logdet: Tensor, labels: IntStorage[], Y: Storage[]): { logp: Storage[]; mi: Storage[]; negEntropy: Storage };
  /** The inter-class log-priors log pi_k (K) on the host. */
  logPriorsHost(): Float64Array;
  /** Multiply-adds x 2 of the head's forward pass per vector (the cost preview's count). */
  forwardFlops(): number;
  /** A copy with its tensors in another dtype. */
  to(dtype: DType): Head;
  /** A copy with its tensors on another backend (parameters detached). */
  onBackend(backend: Backend): Head;
}

/** A model kind: its name, what it is, and how its head is made and read back. */
export interface HeadKind {
  /** its name in ./kinds.ts (where its one-line description is) */
  readonly name: string;
  /** A freshly initialised head (the reference's initialisation) on the level flow's backend. */
  create(shape: HeadShape, rng: Random, backend: Backend): Head;
  /** The tensors a model file must hold for this head, by name, with their shapes. */
  tensorShapes(shape: HeadShape): Record<string, number[]>;
  /**
   * Names a file may hold that this kind reads past (files written by
   * earlier versions); anything else the shapes do not name is an error.
   */
  readonly ignoredTensors?: readonly string[];
  /** The head from a file's tensors (already checked against tensorShapes), on their backend. */
  fromTensors(shape: HeadShape, tensors: Record<string, Tensor>, backend: Backend): Head;
}
