// FrEIA's AllInOneBlock (commit 4e0c6ab, as HGAD pins it) for vectors:
//   x1 = x[:, :ceil(C/2)], x2 = the rest
//   a  = subnet([x1 | cond])            Linear(C1+P, H) -> ReLU -> Linear(H, 2*C2)
//   x2' = x2 * exp(clamp*tanh(0.1 a_s)) + 0.1 a_t
//   y  = ([x1 | x2'] * scale + offset) R^T,  scale = 0.1 * softplus_{0.5}(globalScale)
//   logdet = sum(clamp*tanh(0.1 a_s)) + sum(log scale)
// with R a fixed Haar-random rotation. inverse() undoes it and returns minus
// the log-determinant.
import { affineFold, affineFoldInverse, coupling, linear, packColumns } from '../autograd/ops';
import { noGrad } from '../autograd/tape';
import type { Backend } from '../backend/types';
import { Random } from '../random';
import { DType, Tensor } from '../tensor';
import { haarRotation, linearInit } from './init';

export interface CouplingBlockConfig {
  /** C: channels of the flowing vector. */
  channels: number;
  /** P: channels of the condition (0 = unconditional). */
  condChannels: number;
  /** clamp of the soft clamping clamp*tanh(.) of the log-scale. */
  clamp: number;
  /** H: hidden width of the subnet; default 2*(ceil(C/2) + P) as the reference. */
  hidden?: number;
}

/** 2*log(exp(0.5*10*1) - 1): FrEIA's SOFTPLUS pre-activation that makes the global scale exactly 1. */
export const GLOBAL_SCALE_INIT = 2 * Math.log(Math.exp(5) - 1);

/**
 * Reusable buffers for the intermediates of blocks run outside the tape (one
 * set per name, shared by the blocks of a flow, which run one at a time).
 */
export class Scratch {
  private buffers = new Map<string, Tensor>();

  get(name: string, shape: number[], dtype: DType, backend: Backend): Tensor {
    const t = this.buffers.get(name);
    if (t && t.dtype === dtype && t.backend === backend && t.shape.join(',') === shape.join(',')) return t;
    if (t) t.backend.release(t.storage);
    const fresh = backend.persistent(() => Tensor.empty(shape, dtype, backend));
    this.buffers.set(name, fresh);
    return fresh;
  }

  /** Frees the buffers (device memory at once). */
  clear(): void {
    for (const t of this.buffers.values()) t.backend.release(t.storage);
    this.buffers.clear();
  }
}

export type BlockParamName = 'globalScale' | 'globalOffset' | 'w1' | 'b1' | 'w2' | 'b2';
export const BLOCK_PARAM_NAMES: BlockParamName[] = ['globalScale', 'globalOffset', 'w1', 'b1', 'w2', 'b2'];

export class CouplingBlock {
  readonly C: number;
  readonly P: number;
  readonly C1: number;
  readonly C2: number;
  readonly H: number;
  readonly clamp: number;
  /** R: (C, C), fixed. */
  wPerm: Tensor;
  /** (C) */
  globalScale: Tensor;
  /** (C) */
  globalOffset: Tensor;
  /** (H, C1 + P) */
  w1: Tensor;
  /** (H) */
  b1: Tensor;
  /** (2*C2, H) */
  w2: Tensor;
  /** (2*C2) */
  b2: Tensor;

  constructor(config: CouplingBlockConfig, tensors: Record<'wPerm' | BlockParamName, Tensor>) {
    this.C = config.channels;
    this.P = config.condChannels;
    this.C1 = Math.ceil(this.C / 2);
    this.C2 = this.C - this.C1;
    this.H = config.hidden ?? 2 * (this.C1 + this.P);
    this.clamp = config.clamp;
    const expect: Record<string, number[]> = {
      wPerm: [this.C, this.C],
      globalScale: [this.C],
      globalOffset: [this.C],
      w1: [this.H, this.C1 + this.P],
      b1: [this.H],
      w2: [2 * this.C2, this.H],
      b2: [2 * this.C2],
    };
    for (const [name, shape] of Object.entries(expect)) {
      const t = tensors[name as keyof typeof tensors];
      if (!(t instanceof Tensor) || t.shape.join(',') !== shape.join(',')) {
        throw new RangeError(
          `Expected a tensor of shape [${shape.join(', ')}] for ${name} but received ${t instanceof Tensor ? `shape [${t.shape.join(', ')}]` : String(t)}`,
        );
      }
    }
    this.wPerm = tensors.wPerm;
    this.globalScale = tensors.globalScale;
    this.globalOffset = tensors.globalOffset;
    this.w1 = tensors.w1;
    this.b1 = tensors.b1;
    this.w2 = tensors.w2;
    this.b2 = tensors.b2;
    for (const name of BLOCK_PARAM_NAMES) this[name].requiresGrad = true;
  }

  /** A freshly initialised block, as the reference initialises it. */
  static create(config: CouplingBlockConfig, rng: Random, dtype: DType = 'float32'): CouplingBlock {
    const C = config.channels;
    const C1 = Math.ceil(C / 2);
    const C2 = C - C1;
    const P = config.condChannels;
    const H = config.hidden ?? 2 * (C1 + P);
    const make = (shape: number[], fill: (a: Float64Array) => void) => {
      const a = new Float64Array(shape.reduce((x, y) => x * y, 1));
      fill(a);
      return Tensor.from(a, shape, dtype);
    };
    return new CouplingBlock(config, {
      wPerm: Tensor.from(haarRotation(rng, C), [C, C], dtype),
      globalScale: make([C], (a) => a.fill(GLOBAL_SCALE_INIT)),
      globalOffset: make([C], (a) => a.fill(0)),
      w1: make([H, C1 + P], (a) => linearInit(rng, a, C1 + P)),
      b1: make([H], (a) => linearInit(rng, a, C1 + P)),
      w2: make([2 * C2, H], (a) => linearInit(rng, a, H)),
      b2: make([2 * C2], (a) => linearInit(rng, a, H)),
    });
  }

  parameters(): Tensor[] {
    return BLOCK_PARAM_NAMES.map((n) => this[n]);
  }

  /**
   * x: (N, C)  cond: (N, P) or null  logdetIn: (N) or null  ->  [y (N, C), logdetIn + block logdet (N)]
   * With `scratch` (only outside the tape) the intermediates go to reused buffers.
   */
  forward(x: Tensor, cond: Tensor | null, logdetIn: Tensor | null, scratch?: Scratch): [Tensor, Tensor] {
    const N = x.shape[0];
    const dt = x.dtype;
    const be = x.backend;
    const h0 = packColumns(x, 0, this.C1, cond, scratch?.get('h0', [N, this.C1 + this.P], dt, be));
    const h1 = linear(h0, this.w1, this.b1, true, scratch?.get('h1', [N, this.H], dt, be));
    const a = linear(h1, this.w2, this.b2, false, scratch?.get('a', [N, 2 * this.C2], dt, be));
    const fold = affineFold(this.globalScale, this.globalOffset, this.wPerm);
    const [v, logdet] = coupling(x, a, this.clamp, logdetIn, fold.logdetConst, scratch?.get('v', [N, this.C], dt, be));
    return [linear(v, fold.W, fold.b), logdet];
  }

  /** y: (N, C)  ->  [x (N, C), logdetIn - block logdet (N)]; never recorded on the tape. */
  inverse(y: Tensor, cond: Tensor | null, logdetIn: Tensor | null, scratch?: Scratch): [Tensor, Tensor] {
    return noGrad(() => {
      const { C } = this;
      const N = y.shape[0];
      const dt = y.dtype;
      const be = y.backend;
      // v = (y R - offset) / scale, folded into one GEMM: v = y (R diag(1/scale)) - offset/scale
      const fold = affineFoldInverse(this.globalScale, this.globalOffset, this.wPerm);
      const v = scratch?.get('v', [N, C], dt, be) ?? Tensor.empty([N, C], dt, be);
      be.gemm(false, false, N, C, C, y.storage, C, fold.W.storage, C, 0, v.storage, C, fold.b.storage, false);
      const h0 = packColumns(v, 0, this.C1, cond, scratch?.get('h0', [N, this.C1 + this.P], dt, be));
      const h1 = linear(h0, this.w1, this.b1, true, scratch?.get('h1', [N, this.H], dt, be));
      const a = linear(h1, this.w2, this.b2, false, scratch?.get('a', [N, 2 * this.C2], dt, be));
      const x = Tensor.empty([N, C], dt, be);
      const logdet = Tensor.empty([N], dt, be);
      be.couplingInverse(N, C, v.storage, a.storage, this.clamp, logdetIn ? logdetIn.storage : null, fold.logdetConst.storage, x.storage, logdet.storage);
      return [x, logdet];
    });
  }

  /** A copy of this block in another float type (parameters detached). */
  to(dtype: DType): CouplingBlock {
    return this.map((t) => t.clone(dtype));
  }

  /** A copy of this block with its tensors on another backend (parameters detached). */
  onBackend(backend: Backend): CouplingBlock {
    return this.map((t) => (t.backend === backend ? t.clone() : t.to(backend)));
  }

  private map(f: (t: Tensor) => Tensor): CouplingBlock {
    const cfg = { channels: this.C, condChannels: this.P, clamp: this.clamp, hidden: this.H };
    return new CouplingBlock(cfg, {
      wPerm: f(this.wPerm),
      globalScale: f(this.globalScale),
      globalOffset: f(this.globalOffset),
      w1: f(this.w1),
      b1: f(this.b1),
      w2: f(this.w2),
      b2: f(this.b2),
    });
  }
}
