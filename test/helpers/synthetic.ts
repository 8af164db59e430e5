// K classes of Gaussians in C dimensions with different means (class k's
// mean is `separation` along channel k), anomalies shifted by `shift`.
import { Random } from '../../lib/random';

export const SYNTHETIC_C = 6;
export const SYNTHETIC_K = 3;

export function syntheticClasses(seed: number, perClass: number, shift = 0, separation = 2): { features: Float32Array; labels: Int32Array } {
  const C = SYNTHETIC_C;
  const K = SYNTHETIC_K;
  const rng = new Random(seed);
  const features = new Float32Array(K * perClass * C);
  const labels = new Int32Array(K * perClass);
  for (let k = 0; k < K; ++k) {
    for (let i = 0; i < perClass; ++i) {
      const n = k * perClass + i;
      labels[n] = k;
      for (let c = 0; c < C; ++c) features[n * C + c] = rng.normal() * 0.5 + (c === k ? separation : 0) + shift;
    }
  }
  return { features, labels };
}
