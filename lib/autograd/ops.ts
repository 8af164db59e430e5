// The differentiable ops: each calls native kernels forward and states its
// gradient rule once, here. Shapes use the fixed letters
// N (rows), I (in), O (out), C (channels), P (condition).
import { FloatArray, native } from '../binding';
import { allocFloat, sizeOf, Tensor } from '../tensor';
import { isGradEnabled, record } from './tape';

function output(shape: number[], like: Tensor, fill?: number): Tensor {
  return new Tensor(allocFloat(sizeOf(shape), like.dtype, fill), shape);
}

/**
 * Where an op writes its result: into `into` when given (a reused buffer; the
 * caller guarantees it is dead otherwise and that no gradient is recorded), or
 * into a fresh tensor.
 */
function target(shape: number[], like: Tensor, into?: Tensor): Tensor {
  if (!into) return output(shape, like);
  if (into.dtype !== like.dtype || into.shape.join(',') !== shape.join(',')) {
    throw new RangeError(`Expected an output buffer of shape [${shape.join(', ')}] (${like.dtype}) but received [${into.shape.join(', ')}] (${into.dtype})`);
  }
  if (isGradEnabled() && like.requiresGrad) throw new Error('a reused output buffer cannot be recorded on the tape');
  return into;
}

function sameDType(name: string, ...ts: (Tensor | null)[]): void {
  const first = ts.find((t) => t !== null);
  for (const t of ts) {
    if (t && first && t.dtype !== first.dtype) {
      throw new TypeError(`${name}: Expected every tensor to be ${first.dtype} but received ${t.dtype}`);
    }
  }
}

/** y = relu?(x W^T + b).  x: (N, I)  W: (O, I)  b: (O)  ->  y: (N, O) */
export function linear(x: Tensor, W: Tensor, b: Tensor | null, relu = false, into?: Tensor): Tensor {
  sameDType('linear', x, W, b);
  const [N, I] = x.shape;
  const O = W.shape[0];
  if (W.shape[1] !== I) throw new RangeError(`linear: Expected W with ${I} columns but received shape [${W.shape}]`);
  const y = target([N, O], x, into);
  native.gemm(false, true, N, O, I, x.data, I, W.data, I, 0, y.data, O, b ? b.data : null, relu);
  record({
    name: 'linear',
    inputs: [x, W, b],
    outputs: [y],
    backward: ([dyIn]) => {
      const dy = dyIn!;
      if (relu) native.reluBackward(y.data, dy);
      let dx: FloatArray | null = null;
      let dW: FloatArray | null = null;
      let db: FloatArray | null = null;
      if (W.requiresGrad) {
        dW = allocFloat(O * I, x.dtype);
        native.gemm(true, false, O, I, N, dy, O, x.data, I, 0, dW, I, null, false);
      }
      if (b && b.requiresGrad) {
        db = allocFloat(O, x.dtype);
        native.columnSum(N, O, dy, 0, db);
      }
      if (x.requiresGrad) {
        dx = allocFloat(N * I, x.dtype);
        native.gemm(false, false, N, I, O, dy, O, W.data, I, 0, dx, I, null, false);
      }
      return [dx, dW, db];
    },
  });
  return y;
}

/** out = [x[:, c0:c0+W0] | z].  x: (N, C)  z: (N, P) or null  ->  (N, W0 + P) */
export function packColumns(x: Tensor, c0: number, W0: number, z: Tensor | null, into?: Tensor): Tensor {
  sameDType('packColumns', x, z);
  const [N, C] = x.shape;
  const P = z ? z.shape[1] : 0;
  const out = target([N, W0 + P], x, into);
  native.packColumns(N, x.data, C, c0, W0, z ? z.data : null, P, out.data);
  record({
    name: 'packColumns',
    inputs: [x, z],
    outputs: [out],
    backward: ([dOut]) => {
      const dx = x.requiresGrad ? allocFloat(N * C, x.dtype, 0) : null;
      const dz = z && z.requiresGrad ? allocFloat(N * P, x.dtype) : null;
      if (dx || dz) native.unpackColumnsBackward(N, dOut!, W0, P, dx ?? allocFloat(N * C, x.dtype, 0), C, c0, dz);
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
  const [N, C] = x.shape;
  const y = target([N, C], x, into);
  const logdet = output([N], x);
  native.couplingForward(N, C, x.data, a.data, clamp, logdetIn ? logdetIn.data : null, logdetConst.data[0], y.data, logdet.data);
  record({
    name: 'coupling',
    inputs: [x, a, logdetIn, logdetConst],
    outputs: [y, logdet],
    backward: ([dyIn, dld]) => {
      const dy = dyIn ?? allocFloat(N * C, x.dtype, 0);
      const dx = allocFloat(N * C, x.dtype);
      const da = allocFloat(a.size, x.dtype);
      native.couplingBackward(N, C, x.data, a.data, clamp, dy, dld, dx, da);
      let dConst: FloatArray | null = null;
      if (logdetConst.requiresGrad && dld) {
        dConst = allocFloat(1, x.dtype);
        native.rowSum(1, N, dld, dConst);
      }
      const dIn = logdetIn && logdetIn.requiresGrad && dld ? dld : null;
      return [dx, da, dIn, dConst];
    },
  });
  return [y, logdet];
}

/** FrEIA's SOFTPLUS global scale: 0.1 * softplus_{beta=0.5}(g), with PyTorch's threshold 20 on beta*g. */
export function globalScale(g: number): number {
  return 0.5 * g > 20 ? 0.1 * g : 0.2 * Math.log1p(Math.exp(0.5 * g));
}

/** d globalScale / d g */
export function globalScaleDerivative(g: number): number {
  return 0.5 * g > 20 ? 0.1 : 0.1 / (1 + Math.exp(-0.5 * g));
}

/** sum_j log(globalScale(g_j)): the global affine's log-determinant per vector.  g: (C) -> (1) */
export function globalScaleLogdet(g: Tensor): Tensor {
  const out = output([1], g);
  let acc = 0;
  for (let j = 0; j < g.size; ++j) acc += Math.log(globalScale(g.data[j]));
  out.data[0] = acc;
  record({
    name: 'globalScaleLogdet',
    inputs: [g],
    outputs: [out],
    backward: ([dOut]) => {
      const dg = allocFloat(g.size, g.dtype);
      for (let j = 0; j < g.size; ++j) dg[j] = (dOut![0] * globalScaleDerivative(g.data[j])) / globalScale(g.data[j]);
      return [dg];
    },
  });
  return out;
}

/**
 * Global affine then fixed rotation, folded into one GEMM:
 *   y = (v * scale + offset) R^T = v (R diag(scale))^T + R offset
 * v: (N, C)  g, offset: (C)  R: (C, C) constant  ->  y: (N, C)
 */
export function affineRotate(v: Tensor, g: Tensor, offset: Tensor, R: Tensor): Tensor {
  sameDType('affineRotate', v, g, offset, R);
  const [N, C] = v.shape;
  const scale = new Float64Array(C);
  for (let j = 0; j < C; ++j) scale[j] = globalScale(g.data[j]);
  const Wf = allocFloat(C * C, v.dtype);
  const bf = allocFloat(C, v.dtype);
  for (let i = 0; i < C; ++i) {
    let acc = 0;
    for (let j = 0; j < C; ++j) {
      Wf[i * C + j] = R.data[i * C + j] * scale[j];
      acc += R.data[i * C + j] * offset.data[j];
    }
    bf[i] = acc;
  }
  const y = output([N, C], v);
  native.gemm(false, true, N, C, C, v.data, C, Wf, C, 0, y.data, C, bf, false);
  record({
    name: 'affineRotate',
    inputs: [v, g, offset],
    outputs: [y],
    backward: ([dyIn]) => {
      const dy = dyIn!;
      let dv: FloatArray | null = null;
      let dg: FloatArray | null = null;
      let dOffset: FloatArray | null = null;
      if (g.requiresGrad || offset.requiresGrad) {
        const dWf = allocFloat(C * C, v.dtype);
        native.gemm(true, false, C, C, N, dy, C, v.data, C, 0, dWf, C, null, false);
        const dbf = allocFloat(C, v.dtype);
        native.columnSum(N, C, dy, 0, dbf);
        dg = allocFloat(C, v.dtype);
        dOffset = allocFloat(C, v.dtype);
        for (let j = 0; j < C; ++j) {
          let ds = 0;
          let dOff = 0;
          for (let i = 0; i < C; ++i) {
            ds += dWf[i * C + j] * R.data[i * C + j];
            dOff += R.data[i * C + j] * dbf[i];
          }
          dg[j] = ds * globalScaleDerivative(g.data[j]);
          dOffset[j] = dOff;
        }
      }
      if (v.requiresGrad) {
        dv = allocFloat(N * C, v.dtype);
        native.gemm(false, false, N, C, C, dy, C, Wf, C, 0, dv, C, null, false);
      }
      return [dv, g.requiresGrad ? dg : null, offset.requiresGrad ? dOffset : null];
    },
  });
  return y;
}

/** Sum of all elements.  -> (1) */
export function sum(x: Tensor): Tensor {
  const out = output([1], x);
  native.rowSum(1, x.size, x.data, out.data);
  record({
    name: 'sum',
    inputs: [x],
    outputs: [out],
    backward: ([d]) => [allocFloat(x.size, x.dtype, d![0])],
  });
  return out;
}

/** Elementwise a * b with b a constant array of the same length (e.g. a weight vector).  -> shape of a */
export function mulConst(a: Tensor, b: FloatArray): Tensor {
  const out = output([...a.shape], a);
  for (let i = 0; i < a.size; ++i) out.data[i] = a.data[i] * b[i];
  record({
    name: 'mulConst',
    inputs: [a],
    outputs: [out],
    backward: ([d]) => {
      const da = allocFloat(a.size, a.dtype);
      for (let i = 0; i < a.size; ++i) da[i] = d![i] * b[i];
      return [da];
    },
  });
  return out;
}

/** Standard-normal negative log-likelihood per dimension, without the constant: mean_n(0.5|z_n|^2 - logdet_n) / C.  z: (N, C)  logdet: (N) -> (1) */
export function gaussianNll(z: Tensor, logdet: Tensor): Tensor {
  const [N, C] = z.shape;
  const out = output([1], z);
  let acc = 0;
  for (let i = 0; i < z.size; ++i) acc += 0.5 * z.data[i] * z.data[i];
  for (let n = 0; n < N; ++n) acc -= logdet.data[n];
  out.data[0] = acc / (N * C);
  record({
    name: 'gaussianNll',
    inputs: [z, logdet],
    outputs: [out],
    backward: ([d]) => {
      const s = d![0] / (N * C);
      const dz = allocFloat(z.size, z.dtype);
      native.scale(s, z.data, dz);
      return [dz, allocFloat(N, z.dtype, -s)];
    },
  });
  return out;
}
