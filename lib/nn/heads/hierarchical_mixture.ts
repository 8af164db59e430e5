// The head of model kind 'hgad': HGAD's hierarchical Gaussian mixture in
// latent space, for one feature level: inter-class centres mu (K, C) with
// weights phi_inter (K), and per class M intra-class centres mu_k (detached)
// + mu_delta (K, M-1, C) with weights phi_intra (K, M). The losses and the
// scores come from the fused native head (native/ops/mixture_head.h) through
// the mixtureLoss op of lib/autograd (its gradient rule is there); this file
// holds the parameters.
import type { FloatArray } from '../../backend/host';
import { mixtureLoss } from '../../autograd/ops';
import type { Backend, IntStorage, Storage } from '../../backend/types';
import { Random } from '../../random';
import { allocFloat, DType, Tensor } from '../../tensor';
import { expectedRange, expectedType, received } from '../../errors';
import type { Head, HeadKind, HeadShape, LossWeights, MixtureLossTerms } from './head';

export type { LossWeights, MixtureLossTerms } from './head';
/** C channels, K classes, M intra-class centres per class (the main centre included). */
export type MixtureConfig = HeadShape;

/** Label-smoothed one-hot rows as the reference's onehot(): (1 - s) * onehot + s / K.  -> (N, K) */
export function smoothedOneHot(labels: Int32Array, K: number, smoothing: number, dtype: DType): FloatArray {
  const Y = allocFloat(labels.length * K, dtype, smoothing / K);
  for (let n = 0; n < labels.length; ++n) {
    if (!(labels[n] >= 0 && labels[n] < K)) throw expectedRange(`class ids in [0, ${K})`, 'labels', received(`${labels[n]} at index ${n}`));
    Y[n * K + labels[n]] += 1 - smoothing;
  }
  return Y;
}

export class GaussianMixture implements Head {
  readonly C: number;
  readonly K: number;
  readonly M: number;
  readonly hasEntropy = true;

  constructor(
    config: MixtureConfig,
    /** (K, C) */ public mu: Tensor,
    /** (K, M-1, C) */ public muDelta: Tensor,
    /** (K) */ public phiInter: Tensor,
    /** (K, M) */ public phiIntra: Tensor,
  ) {
    this.C = config.channels;
    this.K = config.classes;
    this.M = config.intraCentres;
    const expect: [string, Tensor, number[]][] = [
      ['mu', mu, [this.K, this.C]],
      ['muDelta', muDelta, [this.K, this.M - 1, this.C]],
      ['phiInter', phiInter, [this.K]],
      ['phiIntra', phiIntra, [this.K, this.M]],
    ];
    for (const [name, t, shape] of expect) {
      if (!(t instanceof Tensor)) throw expectedType('a Tensor', name, t);
      if (t.shape.join(',') !== shape.join(',')) {
        throw expectedRange(`shape [${shape.join(', ')}]`, name, received(`[${t.shape.join(', ')}]`));
      }
      t.requiresGrad = true;
    }
  }

  /**
   * The reference initialisation: mu from scaled identity blocks
   * (5/sqrt(2*floor(C/K)) on the diagonal of each K-wide block of columns), deltas
   * standard normal, zero mixture logits.
   */
  static create(config: MixtureConfig, rng: Random, dtype: DType = 'float32'): GaussianMixture {
    const { channels: C, classes: K, intraCentres: M } = config;
    const mu = Tensor.zeros([K, C], dtype);
    const blocks = Math.floor(C / K);
    const initScale = 5 / Math.sqrt(Math.floor((2 * C) / K));
    for (let b = 0; b < blocks; ++b) for (let k = 0; k < K; ++k) mu.data[k * C + b * K + k] = initScale;
    const muDelta = Tensor.empty([K, M - 1, C], dtype);
    for (let i = 0; i < muDelta.size; ++i) muDelta.data[i] = rng.normal();
    return new GaussianMixture(config, mu, muDelta, Tensor.zeros([K], dtype), Tensor.zeros([K, M], dtype));
  }

  parameters(): Tensor[] {
    return [this.mu, this.muDelta, this.phiInter, this.phiIntra];
  }

  groups(): { centres: Tensor[]; weights: Tensor[] } {
    return { centres: [this.mu, this.muDelta], weights: [this.phiInter, this.phiIntra] };
  }

  tensors(): Record<string, Tensor> {
    return { mu: this.mu, muDelta: this.muDelta, phiInter: this.phiInter, phiIntra: this.phiIntra };
  }

  /** The distances to the K*M centres: 2 C K M. */
  forwardFlops(): number {
    return 2 * this.C * this.K * this.M;
  }

  get backend(): Backend {
    return this.mu.backend;
  }

  /** (K*M, C) on the mixture's backend: cent[k, 0] = mu_k, cent[k, m] = mu_k + delta_{k, m-1} */
  centresStorage(): Storage {
    const { C, K, M } = this;
    const be = this.backend;
    const cent = be.alloc(K * M * C, this.mu.dtype);
    be.centresCompose(K, M, C, this.mu.storage, this.muDelta.storage, cent);
    return cent;
  }

  /** The centres as a host array (K*M, C); on a device the temporary buffer is freed at once. */
  centres(): FloatArray {
    const be = this.backend;
    // On the CPU toHost is the buffer itself, which must not go back to a pool.
    if (be.device === 'cpu') return be.toHost(this.centresStorage());
    const { result, arena } = be.arena(() => be.toHost(this.centresStorage()));
    arena.dispose();
    return result;
  }

  private logPriors(): { lpi: Storage; lpa: Storage } {
    const { K, M } = this;
    const be = this.backend;
    const lpi = be.alloc(K, this.mu.dtype);
    const lpa = be.alloc(K * M, this.mu.dtype);
    be.logSoftmaxRows(1, K, this.phiInter.storage, lpi);
    be.logSoftmaxRows(K, M, this.phiIntra.storage, lpa);
    return { lpi, lpa };
  }

  /**
   * The training loss, mean over the batch:
   *   stage 1: lambda1 L_g - lambda2 L_mi + L_e
   *   stage 2: lambda1 L_g - lambda2 L_mi + L_g_intra + L_z + L_e
   * z: (N, C)  logdet: (N)  labels: (N)  Y: (N, K) smoothed one-hot, all on
   * the mixture's backend  ->  loss (1) and the terms' means (reading them
   * waits for the device).
   */
  loss(z: Tensor, logdet: Tensor, labels: IntStorage, Y: Storage, stage: 1 | 2, weights: LossWeights): { loss: Tensor; terms: MixtureLossTerms } {
    const M = this.M;
    const N = z.shape[0];
    const intra = stage === 2;
    // The total from the means of the terms, in the order PyTorch's reference adds them.
    const { sums, loss } = mixtureLoss(z, logdet, this.mu, this.muDelta, this.phiInter, this.phiIntra, M, labels, Y, intra, weights, (sum) => {
      let total = weights.lambda1 * (sum[0] / N) - weights.lambda2 * (sum[2] / N) + sum[1] / N;
      if (intra) total += sum[3] / N + sum[4] / N;
      return total;
    });
    const out: MixtureLossTerms = { L_g: sums[0] / N, L_e: sums[1] / N, L_mi: sums[2] / N };
    if (intra) {
      out.L_g_intra = sums[3] / N;
      out.L_z = sums[4] / N;
    }
    return { loss, terms: out };
  }

  /**
   * Scores as the reference's validate(), on the mixture's backend (not
   * waiting): for each sample, logp (N): the log-likelihood under its class's
   * intra-class mixture (Gaussian constant and logdet included) divided by C;
   * negEntropy (N): minus the entropy of softmax(-0.5 ||z - mu_k||^2) over
   * the inter-class centres.
   */
  scoreStorage(z: Tensor, logdet: Tensor, classes: IntStorage): { logp: Storage; negEntropy: Storage } {
    const { C, K, M } = this;
    const N = z.shape[0];
    const dtype = z.dtype;
    const be = this.backend;
    const { lpi, lpa } = this.logPriors();
    const logp = be.alloc(N, dtype);
    const entropy = be.alloc(N, dtype);
    be.mixtureHeadForward(N, C, K, M, z.storage, logdet.storage, classes, null, this.centresStorage(), lpi, lpa, null, entropy, null, null, logp);
    be.scale(-1, entropy, entropy);
    return { logp, negEntropy: entropy };
  }

  /**
   * Class-free scores on the mixture's backend (not waiting), from one pass
   * of the head per class k: logp[k] (N) as scoreStorage with every sample
   * taken as class k, and mi[k] (N) = log p(y = k | z) - log pi_k, the
   * inter-class posterior less its log-prior (add lpi_k to get the posterior);
   * negEntropy (N) as scoreStorage. labels[k] (N) must hold k and Y[k] (N, K)
   * the one-hot rows of k, staged by the caller.
   */
  classFreeStorage(z: Tensor, logdet: Tensor, labels: IntStorage[], Y: Storage[]): { logp: Storage[]; mi: Storage[]; negEntropy: Storage } {
    const { C, K, M } = this;
    const N = z.shape[0];
    const be = this.backend;
    const { lpi, lpa } = this.logPriors();
    const cent = this.centresStorage();
    const entropy = be.alloc(N, z.dtype);
    const logp: Storage[] = [];
    const mi: Storage[] = [];
    for (let k = 0; k < K; ++k) {
      logp.push(be.alloc(N, z.dtype));
      mi.push(be.alloc(N, z.dtype));
      be.mixtureHeadForward(N, C, K, M, z.storage, logdet.storage, labels[k], Y[k], cent, lpi, lpa, null, k === 0 ? entropy : null, mi[k], null, logp[k]);
    }
    be.scale(-1, entropy, entropy);
    return { logp, mi, negEntropy: entropy };
  }

  /** log_softmax(phi_inter) (K) on the host: the inter-class log-priors log pi_k. */
  logPriorsHost(): Float64Array {
    const phi = this.phiInter.toHost();
    let mx = -Infinity;
    for (const v of phi) mx = Math.max(mx, v);
    let s = 0;
    for (const v of phi) s += Math.exp(v - mx);
    const lse = mx + Math.log(s);
    return Float64Array.from(phi, (v) => v - lse);
  }

  /** scoreStorage() with the results as host arrays (waits); on a device its buffers are freed at once. */
  score(z: Tensor, logdet: Tensor, classes: IntStorage): { logp: FloatArray; negEntropy: FloatArray } {
    const be = this.backend;
    if (be.device === 'cpu') {
      const s = this.scoreStorage(z, logdet, classes);
      return { logp: be.toHost(s.logp), negEntropy: be.toHost(s.negEntropy) };
    }
    const { result, arena } = be.arena(() => {
      const s = this.scoreStorage(z, logdet, classes);
      return { logp: be.toHost(s.logp), negEntropy: be.toHost(s.negEntropy) };
    });
    arena.dispose();
    return result;
  }

  to(dtype: DType): GaussianMixture {
    return new GaussianMixture({ channels: this.C, classes: this.K, intraCentres: this.M },
      this.mu.clone(dtype), this.muDelta.clone(dtype), this.phiInter.clone(dtype), this.phiIntra.clone(dtype));
  }

  /** A copy of this mixture with its tensors on another backend (parameters detached). */
  onBackend(backend: Backend): GaussianMixture {
    const f = (t: Tensor) => (t.backend === backend ? t.clone() : t.to(backend));
    return new GaussianMixture({ channels: this.C, classes: this.K, intraCentres: this.M },
      f(this.mu), f(this.muDelta), f(this.phiInter), f(this.phiIntra));
  }
}

/** The model kind 'hgad' (the default). */
export const hierarchicalMixtureKind: HeadKind = {
  name: 'hgad',
  create: (shape, rng, backend) => {
    const head = GaussianMixture.create(shape, rng);
    return backend === head.backend ? head : head.onBackend(backend);
  },
  tensorShapes: ({ channels: C, classes: K, intraCentres: M }) => ({ mu: [K, C], muDelta: [K, M - 1, C], phiInter: [K], phiIntra: [K, M] }),
  fromTensors: (shape, t) => new GaussianMixture(shape, t.mu, t.muDelta, t.phiInter, t.phiIntra),
};
