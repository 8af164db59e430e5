// The 2-D sine/cosine positional encoding of CFlow-AD/HGAD
// (positionalencoding2d): the first D/2 channels encode the column, the other
// D/2 the row, alternating sin and cos over frequencies 1e4^(-2i/(D/2)).
import { expectedRange, isPositiveInteger } from '../errors';

/** -> (D, H, W) row-major */
export function positionalEncoding2d(D: number, H: number, W: number): Float32Array {
  if (!isPositiveInteger(D) || D % 4 !== 0) throw expectedRange('a positive multiple of 4', 'D', D);
  if (!isPositiveInteger(H)) throw expectedRange('a positive integer', 'H', H);
  if (!isPositiveInteger(W)) throw expectedRange('a positive integer', 'W', W);
  const out = new Float32Array(D * H * W);
  const half = D / 2;
  const freqs: number[] = [];
  for (let i = 0; i < half; i += 2) freqs.push(Math.fround(Math.exp(Math.fround(i * -(Math.log(1e4) / half)))));
  freqs.forEach((f, k) => {
    for (let h = 0; h < H; ++h) {
      for (let w = 0; w < W; ++w) {
        const at = (c: number) => (c * H + h) * W + w;
        const aw = Math.fround(w * f);
        const ah = Math.fround(h * f);
        out[at(2 * k)] = Math.sin(aw);
        out[at(2 * k + 1)] = Math.cos(aw);
        out[at(half + 2 * k)] = Math.sin(ah);
        out[at(half + 2 * k + 1)] = Math.cos(ah);
      }
    }
  });
  return out;
}

/** Per-position conditions (H*W, D) for a feature map, the layout the flow consumes. */
export function positionalConditions(D: number, H: number, W: number): Float32Array {
  const p = positionalEncoding2d(D, H, W);
  const out = new Float32Array(H * W * D);
  for (let c = 0; c < D; ++c) for (let i = 0; i < H * W; ++i) out[i * D + c] = p[c * H * W + i];
  return out;
}
