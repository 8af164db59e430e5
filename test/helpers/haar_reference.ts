// The Haar rotation as it was built before the native Householder QR:
// modified Gram-Schmidt (twice) on the same Gaussian matrix, then the first
// column negated when the determinant is -1. The native construction must
// give the same rotation for the same seed, up to rounding.
import { Random } from '../../lib/random';

export function gramSchmidtRotation(rng: Random, C: number): Float64Array {
  const q = new Float64Array(C * C); // column-major: column k at q[k*C ...]
  for (let i = 0; i < C * C; ++i) q[i] = rng.normal();
  for (let pass = 0; pass < 2; ++pass) {
    for (let k = 0; k < C; ++k) {
      const ck = k * C;
      for (let p = 0; p < k; ++p) {
        const cp = p * C;
        let dot = 0;
        for (let i = 0; i < C; ++i) dot += q[cp + i] * q[ck + i];
        for (let i = 0; i < C; ++i) q[ck + i] -= dot * q[cp + i];
      }
      let norm = 0;
      for (let i = 0; i < C; ++i) norm += q[ck + i] * q[ck + i];
      norm = Math.sqrt(norm);
      for (let i = 0; i < C; ++i) q[ck + i] /= norm;
    }
  }
  const out = new Float64Array(C * C);
  for (let i = 0; i < C; ++i) for (let k = 0; k < C; ++k) out[i * C + k] = q[k * C + i];
  if (determinantSign(out, C) < 0) for (let i = 0; i < C; ++i) out[i * C] = -out[i * C];
  return out;
}

/** Sign of det(A) by LU with partial pivoting. A: (C, C) row-major (not modified). */
export function determinantSign(A: ArrayLike<number>, C: number): number {
  const lu = Float64Array.from(A as ArrayLike<number>);
  let sign = 1;
  for (let k = 0; k < C; ++k) {
    let p = k;
    for (let i = k + 1; i < C; ++i) if (Math.abs(lu[i * C + k]) > Math.abs(lu[p * C + k])) p = i;
    if (lu[p * C + k] === 0) return 0;
    if (p !== k) {
      sign = -sign;
      for (let j = 0; j < C; ++j) {
        const t = lu[k * C + j];
        lu[k * C + j] = lu[p * C + j];
        lu[p * C + j] = t;
      }
    }
    if (lu[k * C + k] < 0) sign = -sign;
    for (let i = k + 1; i < C; ++i) {
      const f = lu[i * C + k] / lu[k * C + k];
      for (let j = k + 1; j < C; ++j) lu[i * C + j] -= f * lu[k * C + j];
    }
  }
  return sign;
}
