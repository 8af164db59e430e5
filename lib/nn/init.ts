// Initialisations of the reference: PyTorch's default Linear initialisation
// and FrEIA's Haar-random rotation from SO(C).
import { haarOrthogonal } from '../autograd/ops';
import { Random } from '../random';

/** PyTorch nn.Linear default: weight and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function linearInit(rng: Random, out: Float64Array | Float32Array, fanIn: number): void {
  const bound = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < out.length; ++i) out[i] = (2 * rng.uniform() - 1) * bound;
}

/**
 * A Haar-distributed rotation (orthogonal, determinant +1), row-major (C, C):
 * QR of a Gaussian matrix with R's diagonal made positive gives Haar on O(C);
 * negating one column maps the reflections onto SO(C) with the Haar measure.
 * The QR is the native blocked Householder of native/ops/orthogonal.h (C =
 * 1000 in a fraction of a second, where Gram-Schmidt in JavaScript took 6 s);
 * the Gaussian matrix is drawn as before (column by column), and QR with a
 * positive diagonal is unique, so a seed gives the rotation it always gave,
 * up to rounding.
 */
export function haarRotation(rng: Random, C: number): Float64Array {
  const a = new Float64Array(C * C); // column-major: column k at a[k*C ...]
  for (let i = 0; i < C * C; ++i) a[i] = rng.normal();
  return haarOrthogonal(C, a);
}
