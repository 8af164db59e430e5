// Test-only differentiable ops: compositions the gradient checks use to
// build scalar objectives, and the global scale in TypeScript for checking
// the native fold. They run on host tensors only.
import { record } from '../../lib/autograd/tape';
import { FloatArray, isDeviceArray, Storage } from '../../lib/backend/types';
import { allocFloat, Tensor } from '../../lib/tensor';

/** FrEIA's SOFTPLUS global scale: 0.1 * softplus_{beta=0.5}(g), with PyTorch's threshold 20 on beta*g. */
export function globalScale(g: number): number {
  return 0.5 * g > 20 ? 0.1 * g : 0.2 * Math.log1p(Math.exp(0.5 * g));
}

/** d globalScale / d g */
export function globalScaleDerivative(g: number): number {
  return 0.5 * g > 20 ? 0.1 : 0.1 / (1 + Math.exp(-0.5 * g));
}

/** The host array of a gradient. */
function hostGrad(name: string, s: Storage | null): FloatArray {
  if (isDeviceArray(s)) throw new TypeError(`${name} runs on the CPU only; the gradient is on ${s.backend.label}`);
  return s!;
}

function output(shape: number[], like: Tensor): Tensor {
  return new Tensor(like.backend.alloc(shape.reduce((a, b) => a * b, 1), like.dtype), shape);
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
      for (let j = 0; j < g.size; ++j) dg[j] = (hostGrad('globalScaleLogdet', dOut)[0] * globalScaleDerivative(g.data[j])) / globalScale(g.data[j]);
      return [dg];
    },
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
      const dh = hostGrad('mulConst', d);
      for (let i = 0; i < a.size; ++i) da[i] = dh[i] * b[i];
      return [da];
    },
  });
  return out;
}

