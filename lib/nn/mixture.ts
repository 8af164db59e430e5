// HGAD's hierarchical Gaussian mixture in latent space, for one feature level:
// inter-class centres mu (K, C) with weights phi_inter (K), and per class M
// intra-class centres mu_k (detached) + mu_delta (K, M-1, C) with weights
// phi_intra (K, M). The losses and the scores come from the fused native head
// (native/ops/mixture_head.h) through the mixtureLoss op of lib/autograd
// (its gradient rule is there); this file holds the parameters.
import type { FloatArray } from '../backend/host';
import { mixtureLoss, standardNormalLoss } from '../autograd/ops';
import type { Backend, IntStorage, Storage } from '../backend/types';
import { Random } from '../random';
import { allocFloat, DType, Tensor } from '../tensor';
import { expectedRange, expectedType, received } from '../errors';

export interface MixtureConfig {
  /** C */
  channels: number;
  /** K */
  classes: number;
  /** M: intra-class centres per class (the main centre included) */
  intraCentres: number;
  /**
   * The single-Gaussian flow (CFLOW-style) instead of the hierarchical
   * mixture: every class scored and trained against N(0, I), loss
   * mean(0.5 |z|^2 - logdet) / C. The class parameters stay (unused), so that
   * both kinds share one model layout, file format and code path.
   */
  single?: boolean;
}

export interface LossWeights {
  lambda1: number;
  lambda2: number;
}

export interface MixtureLossTerms {
  L_g: number;
  L_e: number;
  L_mi: number;
  L_g_intra?: number;
  L_z?: number;
}

/** Label-smoothed one-hot rows as the reference's onehot(): (1 - s) * onehot + s / K.  -> (N, K) */
export function smoothedOneHot(labels: Int32Array, K: number, smoothing: number, dtype: DType): FloatArray {
  const Y = allocFloat(labels.length * K, dtype, smoothing / K);
  for (let n = 0; n < labels.length; ++n) {
    if (!(labels[n] >= 0 && labels[n] < K)) throw expectedRange(`class ids in [0, ${K})`, 'labels', received(`${labels[n]} at index ${n}`));
    Y[n * K + labels[n]] += 1 - smoothing;
  }
  return Y;
}

export class GaussianMixture {
  readonly C: number;
  readonly K: number;
  readonly M: number;
  readonly single: boolean;

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
    this.single = config.single === true;
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
    if (this.single) return this.singleLoss(z, logdet);
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
    if (this.single) return this.singleScore(z, logdet);
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
   * the one-hot rows of k, staged by the caller. The single-Gaussian flow
   * has no classes: every logp[k] is its logp and every mi[k] is 0.
   */
  classFreeStorage(z: Tensor, logdet: Tensor, labels: IntStorage[], Y: Storage[]): { logp: Storage[]; mi: Storage[]; negEntropy: Storage } {
    const { C, K, M } = this;
    const N = z.shape[0];
    const be = this.backend;
    if (this.single) {
      const s = this.singleScore(z, logdet);
      const zero = be.alloc(N, z.dtype, 0);
      return { logp: Array.from({ length: K }, () => s.logp), mi: Array.from({ length: K }, () => zero), negEntropy: s.negEntropy };
    }
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

  /**
   * The fused head with one class, one centre at 0 and zero log-priors is the
   * standard normal: L_g = (0.5 |z|^2 - logdet) / C per sample, on any backend.
   */
  private standardNormal(dtype: DType) {
    const be = this.backend;
    return { cent: be.alloc(this.C, dtype, 0), lpi: be.alloc(1, dtype, 0), lpa: be.alloc(1, dtype, 0) };
  }

  private singleLoss(z: Tensor, logdet: Tensor): { loss: Tensor; terms: MixtureLossTerms } {
    const { cent, lpi, lpa } = this.standardNormal(z.dtype);
    const { loss, value } = standardNormalLoss(z, logdet, cent, lpi, lpa);
    return { loss, terms: { L_g: value, L_e: 0, L_mi: 0 } };
  }

  /** logp = -L_g - log(2 pi) / 2 (the Gaussian constant per dimension); negEntropy = 0 (one distribution, no classes). */
  private singleScore(z: Tensor, logdet: Tensor): { logp: Storage; negEntropy: Storage } {
    const [N, C] = z.shape;
    const dtype = z.dtype;
    const be = this.backend;
    const { cent, lpi, lpa } = this.standardNormal(dtype);
    const Lg = be.alloc(N, dtype);
    be.mixtureHeadForward(N, C, 1, 1, z.storage, logdet.storage, null, null, cent, lpi, lpa, Lg, null, null, null, null);
    const logp = be.alloc(N, dtype, -0.9189385332046727);
    be.axpy(-1, Lg, logp);
    return { logp, negEntropy: be.alloc(N, dtype, 0) };
  }

  to(dtype: DType): GaussianMixture {
    return new GaussianMixture({ channels: this.C, classes: this.K, intraCentres: this.M, single: this.single },
      this.mu.clone(dtype), this.muDelta.clone(dtype), this.phiInter.clone(dtype), this.phiIntra.clone(dtype));
  }

  /** A copy of this mixture with its tensors on another backend (parameters detached). */
  onBackend(backend: Backend): GaussianMixture {
    const f = (t: Tensor) => (t.backend === backend ? t.clone() : t.to(backend));
    return new GaussianMixture({ channels: this.C, classes: this.K, intraCentres: this.M, single: this.single },
      f(this.mu), f(this.muDelta), f(this.phiInter), f(this.phiIntra));
  }
}
