// The differentiable ops: each calls native kernels forward and states its
// gradient rule once, here. Shapes use the fixed letters
// N (rows), I (in), O (out), C (channels), P (condition).
import { cpu } from '../backend/cpu';
import { IntStorage, Storage } from '../backend/types';
import { expectedRange, expectedType, received } from '../errors';
import { sizeOf, Tensor } from '../tensor';
import { isGradEnabled, record } from './tape';

function output(shape: number[], like: Tensor, fill?: number): Tensor {
  return new Tensor(like.backend.alloc(sizeOf(shape), like.dtype, fill), shape);
}

/**
 * Where an op writes its result: into `into` when given (a reused buffer; the
 * caller guarantees it is dead otherwise and that no gradient is recorded), or
 * into a fresh tensor.
 */
function target(shape: number[], like: Tensor, into?: Tensor): Tensor {
  if (!into) return output(shape, like);
  if (into.dtype !== like.dtype || into.backend !== like.backend || into.shape.join(',') !== shape.join(',')) {
    throw expectedRange(`an output buffer of shape [${shape.join(', ')}] (${like.dtype})`, 'into', received(`[${into.shape.join(', ')}] (${into.dtype})`));
  }
  if (isGradEnabled() && like.requiresGrad) throw new Error('a reused output buffer cannot be recorded on the tape');
  return into;
}

function sameDType(name: string, ...ts: (Tensor | null)[]): void {
  const first = ts.find((t) => t !== null);
  for (const t of ts) {
    if (t && first && t.dtype !== first.dtype) {
      throw expectedType(`every tensor to be ${first.dtype}`, name, received(t.dtype));
    }
    if (t && first && t.backend !== first.backend) {
      const same = t.backend.label === first.backend.label;
      throw expectedType(`every tensor on ${first.backend.label}`, name, received(`one on ${t.backend.label}` +
        (same ? ' of another backend instance (each model has its own stream); move it with .to(backend)' : '')));
    }
  }
}

/** y = relu?(x W^T + b).  x: (N, I)  W: (O, I)  b: (O)  ->  y: (N, O) */
export function linear(x: Tensor, W: Tensor, b: Tensor | null, relu = false, into?: Tensor): Tensor {
  sameDType('linear', x, W, b);
  const be = x.backend;
  const [N, I] = x.shape;
  const O = W.shape[0];
  if (W.shape[1] !== I) throw expectedRange(`W with ${I} columns`, 'linear', received(`shape [${W.shape}]`));
  const y = target([N, O], x, into);
  be.gemm(false, true, N, O, I, x.storage, I, W.storage, I, 0, y.storage, O, b ? b.storage : null, relu);
  record({
    name: 'linear',
    inputs: [x, W, b],
    outputs: [y],
    backward: ([dyIn]) => {
      const dy = dyIn!;
      if (relu) be.reluBackward(y.storage, dy);
      let dx: Storage | null = null;
      let dW: Storage | null = null;
      let db: Storage | null = null;
      if (W.requiresGrad) {
        dW = be.alloc(O * I, x.dtype);
        be.gemm(true, false, O, I, N, dy, O, x.storage, I, 0, dW, I, null, false);
      }
      if (b && b.requiresGrad) {
        db = be.alloc(O, x.dtype);
        be.columnSum(N, O, dy, 0, db);
      }
      if (x.requiresGrad) {
        dx = be.alloc(N * I, x.dtype);
        be.gemm(false, false, N, I, O, dy, O, W.storage, I, 0, dx, I, null, false);
      }
      return [dx, dW, db];
    },
  });
  return y;
}

/** out = [x[:, c0:c0+W0] | z].  x: (N, C)  z: (N, P) or null  ->  (N, W0 + P) */
export function packColumns(x: Tensor, c0: number, W0: number, z: Tensor | null, into?: Tensor): Tensor {
  sameDType('packColumns', x, z);
  const be = x.backend;
  const [N, C] = x.shape;
  const P = z ? z.shape[1] : 0;
  const out = target([N, W0 + P], x, into);
  be.packColumns(N, x.storage, C, c0, W0, z ? z.storage : null, P, out.storage);
  record({
    name: 'packColumns',
    inputs: [x, z],
    outputs: [out],
    backward: ([dOut]) => {
      const dx = x.requiresGrad ? be.alloc(N * C, x.dtype, 0) : null;
      const dz = z && z.requiresGrad ? be.alloc(N * P, x.dtype) : null;
      if (dx || dz) be.unpackColumnsBackward(N, dOut!, W0, P, dx ?? be.alloc(N * C, x.dtype, 0), C, c0, dz);
      return [dx, dz];
    },
  });
  return out;
}

/**
 * Fused affine coupling (see native/ops/coupling.h).
 * x: (N, C)  a: (N, 2*floor(C/2))  logdetIn: (N) or null  logdetConst: (1)  ->  [y (N, C), logdet (N)]
 */
export function coupling(x: Tensor, a: Tensor, clamp: number, logdetIn: Tensor | null, logdetConst: Tensor, into?: Tensor): [Tensor, Tensor] {
  sameDType('coupling', x, a, logdetIn, logdetConst);
  const be = x.backend;
  const [N, C] = x.shape;
  const y = target([N, C], x, into);
  const logdet = output([N], x);
  be.couplingForward(N, C, x.storage, a.storage, clamp, logdetIn ? logdetIn.storage : null, logdetConst.storage, y.storage, logdet.storage);
  record({
    name: 'coupling',
    inputs: [x, a, logdetIn, logdetConst],
    outputs: [y, logdet],
    backward: ([dyIn, dld]) => {
      const dy = dyIn ?? be.alloc(N * C, x.dtype, 0);
      const dx = be.alloc(N * C, x.dtype);
      const da = be.alloc(a.size, x.dtype);
      be.couplingBackward(N, C, x.storage, a.storage, clamp, dy, dld, dx, da);
      let dConst: Storage | null = null;
      if (logdetConst.requiresGrad && dld) {
        dConst = be.alloc(1, x.dtype);
        be.rowSum(1, N, dld, dConst);
      }
      const dIn = logdetIn && logdetIn.requiresGrad && dld ? dld : null;
      return [dx, da, dIn, dConst];
    },
  });
  return [y, logdet];
}

/**
 * The global affine of a block folded with its fixed rotation R (C, C):
 * W = R diag(scale), b = R offset and logdetConst = sum_j log scale_j with
 * scale = globalScale(g), so that y = (v * scale + offset) R^T = v W^T + b.
 * g, offset: (C)  ->  W (C, C), b (C), logdetConst (1)
 */
export function affineFold(g: Tensor, offset: Tensor, R: Tensor): { W: Tensor; b: Tensor; logdetConst: Tensor } {
  const fold = foldTensors(g, offset, R, false);
  const be = g.backend;
  const C = g.size;
  record({
    name: 'affineFold',
    inputs: [g, offset],
    outputs: [fold.W, fold.b, fold.logdetConst],
    backward: ([dW, db, dConst]) => {
      const dWs = dW ?? be.alloc(C * C, g.dtype, 0);
      const dbs = db ?? be.alloc(C, g.dtype, 0);
      const dg = be.alloc(C, g.dtype);
      const dOffset = be.alloc(C, g.dtype);
      be.affineFoldBackward(C, R.storage, g.storage, dWs, dbs, dConst, dg, dOffset);
      return [g.requiresGrad ? dg : null, offset.requiresGrad ? dOffset : null];
    },
  });
  return fold;
}

/** The inverse fold (never recorded): W = R diag(1/scale), b = -offset/scale, logdetConst = sum log scale; then v = y W + b. */
export function affineFoldInverse(g: Tensor, offset: Tensor, R: Tensor): { W: Tensor; b: Tensor; logdetConst: Tensor } {
  return foldTensors(g, offset, R, true);
}

function foldTensors(g: Tensor, offset: Tensor, R: Tensor, inverse: boolean): { W: Tensor; b: Tensor; logdetConst: Tensor } {
  sameDType(inverse ? 'affineFoldInverse' : 'affineFold', g, offset, R);
  const C = g.size;
  const W = output([C, C], g);
  const b = output([C], g);
  const logdetConst = output([1], g);
  g.backend.affineFold(C, R.storage, g.storage, offset.storage, W.storage, b.storage, logdetConst.storage, inverse);
  return { W, b, logdetConst };
}

/**
 * Global affine then fixed rotation, folded into one GEMM:
 *   y = (v * scale + offset) R^T = v (R diag(scale))^T + R offset
 * v: (N, C)  g, offset: (C)  R: (C, C) constant  ->  y: (N, C)
 */
export function affineRotate(v: Tensor, g: Tensor, offset: Tensor, R: Tensor): Tensor {
  const { W, b } = affineFold(g, offset, R);
  return linear(v, W, b);
}

/** Sum of all elements.  -> (1) */
export function sum(x: Tensor): Tensor {
  const be = x.backend;
  const out = output([1], x);
  be.rowSum(1, x.size, x.storage, out.storage);
  record({
    name: 'sum',
    inputs: [x],
    outputs: [out],
    backward: ([d]) => [be.alloc(x.size, x.dtype, be.readScalar(d!))],
  });
  return out;
}

/**
 * The HGAD mixture head's training loss through the fused native head
 * (native/ops/mixture_head.h). The centres are composed from mu and muDelta
 * (mu detached in the intra centres), the log-priors are the log-softmax of
 * phiInter and of each row of phiIntra. The per-sample terms are summed
 * (sums: L_g, L_e, L_mi, L_g_intra, L_z, the last two 0 unless `intra`) and
 * `lossOf(sums)` gives the loss value; its gradient is
 *   d/dsum = (lambda1, 1, -lambda2, intra, intra) / N.
 * z: (N, C)  logdet: (N)  mu: (K, C)  muDelta: (K, M-1, C)  phiInter: (K)
 * phiIntra: (K, M)  labels: (N)  Y: (N, K) smoothed one-hot  ->  loss (1)
 */
export function mixtureLoss(z: Tensor, logdet: Tensor, mu: Tensor, muDelta: Tensor, phiInter: Tensor, phiIntra: Tensor, M: number,
  labels: IntStorage, Y: Storage, intra: boolean, weights: { lambda1: number; lambda2: number },
  lossOf: (sums: Float64Array) => number): { loss: Tensor; sums: Float64Array } {
  sameDType('mixtureLoss', z, logdet, mu, muDelta, phiInter, phiIntra);
  const be = z.backend;
  const [N, C] = z.shape;
  const K = mu.shape[0];
  const dtype = z.dtype;
  const cent = be.alloc(K * M * C, dtype);
  be.centresCompose(K, M, C, mu.storage, muDelta.storage, cent);
  const lpi = be.alloc(K, dtype);
  const lpa = be.alloc(K * M, dtype);
  be.logSoftmaxRows(1, K, phiInter.storage, lpi);
  be.logSoftmaxRows(K, M, phiIntra.storage, lpa);
  const terms = { Lg: be.alloc(N, dtype), Le: be.alloc(N, dtype), Lmi: be.alloc(N, dtype), Lgi: intra ? be.alloc(N, dtype) : null, logp: intra ? be.alloc(N, dtype) : null };
  be.mixtureHeadForward(N, C, K, M, z.storage, logdet.storage, labels, Y, cent, lpi, lpa, terms.Lg, terms.Le, terms.Lmi, terms.Lgi, terms.logp);
  const sums = be.lossSums(N, terms.Lg, terms.Le, terms.Lmi, terms.Lgi, terms.logp);
  const loss = Tensor.from([lossOf(sums)], [1], dtype, false, be);
  record({
    name: 'mixtureLoss',
    inputs: [z, logdet, mu, muDelta, phiInter, phiIntra],
    outputs: [loss],
    backward: ([dLoss]) => {
      const s = be.readScalar(dLoss!) / N;
      const dz = be.alloc(N * C, dtype);
      const dlogdet = be.alloc(N, dtype);
      const dcent = be.alloc(K * M * C, dtype);
      const dlpi = be.alloc(K, dtype);
      const dlpa = be.alloc(K * M, dtype);
      be.mixtureHeadBackward(N, C, K, M, z.storage, logdet.storage, labels, Y, cent, lpi, lpa,
        s * weights.lambda1, s, -s * weights.lambda2, intra ? s : 0, intra ? s : 0, dz, dlogdet, dcent, dlpi, dlpa);
      const dmu = be.alloc(K * C, dtype);
      const dDelta = intra ? be.alloc(K * (M - 1) * C, dtype) : null;
      be.centresComposeBackward(K, M, C, dcent, dmu, dDelta);
      const dPhiInter = be.alloc(K, dtype);
      be.logSoftmaxRowsBackward(1, K, lpi, dlpi, dPhiInter);
      let dPhiIntra: Storage | null = null;
      if (intra) {
        dPhiIntra = be.alloc(K * M, dtype);
        be.logSoftmaxRowsBackward(K, M, lpa, dlpa, dPhiIntra);
      }
      return [dz, dlogdet, dmu, dDelta, dPhiInter, dPhiIntra];
    },
  });
  return { loss, sums };
}

/**
 * The standard-normal loss per dimension, mean_n (0.5 |z_n|^2 - logdet_n) / C,
 * through the fused head with one class: cent (1, C) zeros, lpi (1) and lpa
 * (1) zero log-priors, given by the caller.
 * z: (N, C)  logdet: (N)  ->  loss (1) and its value
 */
export function standardNormalLoss(z: Tensor, logdet: Tensor, cent: Storage, lpi: Storage, lpa: Storage): { loss: Tensor; value: number } {
  sameDType('standardNormalLoss', z, logdet);
  const [N, C] = z.shape;
  const dtype = z.dtype;
  const be = z.backend;
  const Lg = be.alloc(N, dtype);
  be.mixtureHeadForward(N, C, 1, 1, z.storage, logdet.storage, null, null, cent, lpi, lpa, Lg, null, null, null, null);
  const value = be.lossSums(N, Lg, Lg, Lg, null, null)[0] / N;
  const loss = Tensor.from([value], [1], dtype, false, be);
  record({
    name: 'standardNormalLoss',
    inputs: [z, logdet],
    outputs: [loss],
    backward: ([dLoss]) => {
      const s = be.readScalar(dLoss!) / N;
      const dz = be.alloc(N * C, dtype);
      const dlogdet = be.alloc(N, dtype);
      be.mixtureHeadBackward(N, C, 1, 1, z.storage, logdet.storage, null, null, cent, lpi, lpa, s, 0, 0, 0, 0, dz, dlogdet,
        be.alloc(C, dtype), be.alloc(1, dtype), be.alloc(1, dtype));
      return [dz, dlogdet];
    },
  });
  return { loss, value };
}

/**
 * Q of the QR of a (C, C) column-major Gaussian matrix with R's diagonal made
 * positive, one column negated when det Q = -1: a Haar rotation, row-major
 * (native/ops/orthogonal.h), on the CPU in float64. Not differentiable (an
 * initialisation).
 */
export function haarOrthogonal(C: number, a: Float64Array): Float64Array {
  const q = new Float64Array(C * C);
  cpu.haarOrthogonal(C, a, q);
  return q;
}
