// Central finite differences in float64 against the tape's gradients.
import type { ExecutionContext } from 'ava';
import { FloatArray } from '../../lib/binding';
import { sum } from '../../lib/autograd/ops';
import { mulConst } from './test_ops';
import { noGrad, record } from '../../lib/autograd/tape';
import { Tensor } from '../../lib/tensor';
import { assertClose } from './numeric';

export const FD_STEP = 1e-6;
export const FD_ATOL = 1e-6;
export const FD_RTOL = 1e-5;

/** d objective / d values[i] for every i, by (f(v + h) - f(v - h)) / 2h; values are restored. */
export function finiteDifference(values: FloatArray, objective: () => number, h = FD_STEP): Float64Array {
  const out = new Float64Array(values.length);
  noGrad(() => {
    for (let i = 0; i < values.length; ++i) {
      const v = values[i];
      values[i] = v + h;
      const up = objective();
      values[i] = v - h;
      const down = objective();
      values[i] = v;
      out[i] = (up - down) / (2 * h);
    }
  });
  return out;
}

/** Compares a tensor's accumulated gradient with finite differences of the objective over its values. */
export function checkGradient(t: ExecutionContext, label: string, param: Tensor, objective: () => number, atol = FD_ATOL, rtol = FD_RTOL): void {
  t.truthy(param.grad, `${label}: no gradient was accumulated`);
  if (!param.grad) return;
  t.is(param.grad.length, param.size, `${label}: gradient length`);
  const fd = finiteDifference(param.data, objective);
  assertClose(t, `${label} gradient vs finite differences`, param.grad, fd, atol, rtol);
  t.true(fd.some((v) => Math.abs(v) > 1e-8), `${label}: the objective does not depend on it (a vacuous check)`);
}

/** sum(x * w): a scalar in which every element of x matters. */
export function weightedSum(x: Tensor, w: FloatArray): Tensor {
  return sum(mulConst(x, w));
}

/** a + b for two (1)-tensors, recorded on the tape (test-only composition). */
export function addScalars(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.from([a.data[0] + b.data[0]], [1], a.dtype);
  record({
    name: 'addScalars',
    inputs: [a, b],
    outputs: [out],
    backward: ([d]) => [Float64Array.from(d as FloatArray) as FloatArray, Float64Array.from(d as FloatArray) as FloatArray],
  });
  return out;
}
