// The head of model kind 'flow': one standard normal N(0, I) in latent space
// for every class (the single-Gaussian conditional flow, CFLOW-style). Loss
// mean(0.5 |z|^2 - logdet) / C, score its negation less the Gaussian constant
// per dimension. No parameters: the flows alone learn. It runs on the fused
// native head (native/ops/mixture_head.h) with one class, one centre at 0 and
// zero log-priors, which is exactly the standard normal, on any backend.
import type { FloatArray } from '../../backend/host';
import { standardNormalLoss } from '../../autograd/ops';
import type { Backend, Storage } from '../../backend/types';
import { expectedRange, expectedType } from '../../errors';
import type { DType, Tensor } from '../../tensor';
import type { Head, HeadKind, HeadShape, MixtureLossTerms } from './head';

/** log(2 pi) / 2: the Gaussian constant per dimension. */
const HALF_LOG_2PI = 0.9189385332046727;

export class SingleGaussian implements Head {
  readonly C: number;
  readonly K: number;
  readonly hasEntropy = false;

  constructor(shape: HeadShape, readonly backend: Backend) {
    if (shape === null || typeof shape !== 'object') throw expectedType('a head shape object', 'shape', shape);
    if (!Number.isInteger(shape.channels) || shape.channels < 1) throw expectedRange('an integer >= 1', 'shape.channels', shape.channels);
    if (!Number.isInteger(shape.classes) || shape.classes < 1) throw expectedRange('an integer >= 1', 'shape.classes', shape.classes);
    this.C = shape.channels;
    this.K = shape.classes;
  }

  parameters(): Tensor[] {
    return [];
  }

  groups(): { centres: Tensor[]; weights: Tensor[] } {
    return { centres: [], weights: [] };
  }

  tensors(): Record<string, Tensor> {
    return {};
  }

  /** |z|^2: C multiply-adds. */
  forwardFlops(): number {
    return 2 * this.C;
  }

  private standardNormal(dtype: DType) {
    const be = this.backend;
    return { cent: be.alloc(this.C, dtype, 0), lpi: be.alloc(1, dtype, 0), lpa: be.alloc(1, dtype, 0) };
  }

  loss(z: Tensor, logdet: Tensor): { loss: Tensor; terms: MixtureLossTerms } {
    const { cent, lpi, lpa } = this.standardNormal(z.dtype);
    const { loss, value } = standardNormalLoss(z, logdet, cent, lpi, lpa);
    return { loss, terms: { L_g: value, L_e: 0, L_mi: 0 } };
  }

  /** logp = -L_g - log(2 pi) / 2; negEntropy = 0 (one distribution, no classes). */
  scoreStorage(z: Tensor, logdet: Tensor): { logp: Storage; negEntropy: Storage } {
    const [N, C] = z.shape;
    const dtype = z.dtype;
    const be = this.backend;
    const { cent, lpi, lpa } = this.standardNormal(dtype);
    const Lg = be.alloc(N, dtype);
    be.mixtureHeadForward(N, C, 1, 1, z.storage, logdet.storage, null, null, cent, lpi, lpa, Lg, null, null, null, null);
    const logp = be.alloc(N, dtype, -HALF_LOG_2PI);
    be.axpy(-1, Lg, logp);
    return { logp, negEntropy: be.alloc(N, dtype, 0) };
  }

  /** One distribution for every class: the class ids are not read. */
  score(z: Tensor, logdet: Tensor): { logp: FloatArray; negEntropy: FloatArray } {
    const be = this.backend;
    const read = () => {
      const s = this.scoreStorage(z, logdet);
      return { logp: be.toHost(s.logp), negEntropy: be.toHost(s.negEntropy) };
    };
    if (be.device === 'cpu') return read();
    const { result, arena } = be.arena(read);
    arena.dispose();
    return result;
  }

  /** No classes: every logp[k] is the one logp, every mi[k] is 0. */
  classFreeStorage(z: Tensor, logdet: Tensor): { logp: Storage[]; mi: Storage[]; negEntropy: Storage } {
    const s = this.scoreStorage(z, logdet);
    const zero = this.backend.alloc(z.shape[0], z.dtype, 0);
    return { logp: Array.from({ length: this.K }, () => s.logp), mi: Array.from({ length: this.K }, () => zero), negEntropy: s.negEntropy };
  }

  /** Uniform: log(1 / K) for every class. */
  logPriorsHost(): Float64Array {
    return new Float64Array(this.K).fill(-Math.log(this.K));
  }

  to(): SingleGaussian {
    return new SingleGaussian({ channels: this.C, classes: this.K, intraCentres: 1 }, this.backend);
  }

  onBackend(backend: Backend): SingleGaussian {
    return new SingleGaussian({ channels: this.C, classes: this.K, intraCentres: 1 }, backend);
  }
}

/**
 * The model kind 'flow'. Its files hold no head tensors; files written when
 * this kind kept unused class parameters (mu, muDelta, phiInter, phiIntra)
 * still load, those tensors read past.
 */
export const singleGaussianKind: HeadKind = {
  name: 'flow',
  create: (shape, _rng, backend) => new SingleGaussian(shape, backend),
  tensorShapes: () => ({}),
  ignoredTensors: ['mu', 'muDelta', 'phiInter', 'phiIntra'],
  fromTensors: (shape, _tensors, backend) => new SingleGaussian(shape, backend),
};
