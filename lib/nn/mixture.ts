// HGAD's hierarchical Gaussian mixture in latent space, for one feature level:
// inter-class centres mu (K, C) with weights phi_inter (K), and per class M
// intra-class centres mu_k (detached) + mu_delta (K, M-1, C) with weights
// phi_intra (K, M). The losses and the scores come from the fused native head
// (native/ops/mixture_head.h); this file composes its inputs and its
// gradient rule.
import { FloatArray, native } from '../binding';
import { record } from '../autograd/tape';
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

function logSoftmaxRows(x: FloatArray, rows: number, cols: number, dtype: DType): FloatArray {
  const out = allocFloat(rows * cols, dtype);
  native.logSoftmaxRows(rows, cols, x, out);
  return out;
}

/** Gradient of log_softmax over rows from that of its output, assigned. */
function logSoftmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dtype: DType): FloatArray {
  const dx = allocFloat(rows * cols, dtype);
  native.logSoftmaxRowsBackward(rows, cols, y, dy, dx);
  return dx;
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
        throw new RangeError(`Expected shape [${shape.join(', ')}] for ${name} but received [${t.shape.join(', ')}]`);
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

  /** (K*M, C): cent[k, 0] = mu_k, cent[k, m] = mu_k + delta_{k, m-1} */
  centres(): FloatArray {
    const { C, K, M } = this;
    const cent = allocFloat(K * M * C, this.mu.dtype);
    for (let k = 0; k < K; ++k) {
      const muRow = this.mu.data.subarray(k * C, (k + 1) * C);
      cent.set(muRow, k * M * C);
      for (let m = 1; m < M; ++m) {
        const off = (k * M + m) * C;
        const d = (k * (M - 1) + m - 1) * C;
        for (let c = 0; c < C; ++c) cent[off + c] = muRow[c] + this.muDelta.data[d + c];
      }
    }
    return cent;
  }

  /**
   * The training loss, mean over the batch:
   *   stage 1: lambda1 L_g - lambda2 L_mi + L_e
   *   stage 2: lambda1 L_g - lambda2 L_mi + L_g_intra + L_z + L_e
   * z: (N, C)  logdet: (N)  labels: (N)  Y: (N, K) smoothed one-hot  ->  loss (1) and the terms' means
   */
  loss(z: Tensor, logdet: Tensor, labels: Int32Array, Y: FloatArray, stage: 1 | 2, weights: LossWeights): { loss: Tensor; terms: MixtureLossTerms } {
    const { C, K, M } = this;
    const N = z.shape[0];
    const dtype = z.dtype;
    const cent = this.centres();
    const lpi = logSoftmaxRows(this.phiInter.data, 1, K, dtype);
    const lpa = logSoftmaxRows(this.phiIntra.data, K, M, dtype);
    const terms = { Lg: allocFloat(N, dtype), Le: allocFloat(N, dtype), Lmi: allocFloat(N, dtype), Lgi: allocFloat(N, dtype), logp: allocFloat(N, dtype) };
    const intra = stage === 2;
    native.mixtureHeadForward(N, C, K, M, z.data, logdet.data, labels, Y, cent, lpi, lpa, terms.Lg, terms.Le, terms.Lmi,
      intra ? terms.Lgi : null, intra ? terms.logp : null);
    const mean = (a: FloatArray) => {
      let s = 0;
      for (let i = 0; i < N; ++i) s += a[i];
      return s / N;
    };
    let Lz = 0;
    if (intra) for (let n = 0; n < N; ++n) Lz += softplus(-terms.logp[n]);
    Lz /= N;
    const out: MixtureLossTerms = { L_g: mean(terms.Lg), L_e: mean(terms.Le), L_mi: mean(terms.Lmi) };
    let total = weights.lambda1 * out.L_g - weights.lambda2 * out.L_mi + out.L_e;
    if (intra) {
      out.L_g_intra = mean(terms.Lgi);
      out.L_z = Lz;
      total += out.L_g_intra + out.L_z;
    }
    const loss = Tensor.from([total], [1], dtype);
    record({
      name: 'mixtureLoss',
      inputs: [z, logdet, this.mu, this.muDelta, this.phiInter, this.phiIntra],
      outputs: [loss],
      backward: ([dLoss]) => {
        const s = dLoss![0] / N;
        const dz = allocFloat(N * C, dtype);
        const dlogdet = allocFloat(N, dtype);
        const dcent = allocFloat(K * M * C, dtype);
        const dlpi = allocFloat(K, dtype);
        const dlpa = allocFloat(K * M, dtype);
        native.mixtureHeadBackward(N, C, K, M, z.data, logdet.data, labels, Y, cent, lpi, lpa,
          s * weights.lambda1, s, -s * weights.lambda2, intra ? s : 0, intra ? s : 0, dz, dlogdet, dcent, dlpi, dlpa);
        const dmu = allocFloat(K * C, dtype);
        const dDelta = allocFloat(K * (M - 1) * C, dtype);
        for (let k = 0; k < K; ++k) {
          dmu.set(dcent.subarray(k * M * C, k * M * C + C), k * C);
          dDelta.set(dcent.subarray(k * M * C + C, (k + 1) * M * C), k * (M - 1) * C);
        }
        return [
          dz,
          dlogdet,
          dmu,
          intra ? dDelta : null,
          logSoftmaxBackward(lpi, dlpi, 1, K, dtype),
          intra ? logSoftmaxBackward(lpa, dlpa, K, M, dtype) : null,
        ];
      },
    });
    return { loss, terms: out };
  }

  /**
   * Scores as the reference's validate(): for each sample, logp (N): the
   * log-likelihood under its class's intra-class mixture (Gaussian constant
   * and logdet included) divided by C; negEntropy (N): minus the entropy of
   * softmax(-0.5 ||z - mu_k||^2) over the inter-class centres.
   */
  score(z: Tensor, logdet: Tensor, classes: Int32Array): { logp: FloatArray; negEntropy: FloatArray } {
    const { C, K, M } = this;
    const N = z.shape[0];
    const dtype = z.dtype;
    const lpi = logSoftmaxRows(this.phiInter.data, 1, K, dtype);
    const lpa = logSoftmaxRows(this.phiIntra.data, K, M, dtype);
    const logp = allocFloat(N, dtype);
    const negEntropy = allocFloat(N, dtype);
    native.mixtureHeadForward(N, C, K, M, z.data, logdet.data, classes, null, this.centres(), lpi, lpa, null, negEntropy, null, null, logp);
    for (let n = 0; n < N; ++n) negEntropy[n] = -negEntropy[n];
    return { logp, negEntropy };
  }

  to(dtype: DType): GaussianMixture {
    return new GaussianMixture({ channels: this.C, classes: this.K, intraCentres: this.M },
      this.mu.clone(dtype), this.muDelta.clone(dtype), this.phiInter.clone(dtype), this.phiIntra.clone(dtype));
  }
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}
