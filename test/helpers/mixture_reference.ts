// A plain float64 TypeScript statement of the fused mixture head's forward
// math (native/ops/mixture_head.h), written from the header, not the kernel.
// z: (N, C)  logdet: (N)  labels: (N)  Y: (N, K)  cent: (K*M, C)  lpi: (K)  lpa: (K*M)

function lse(v: number[]): number {
  const mx = Math.max(...v);
  if (!Number.isFinite(mx)) return mx;
  return mx + Math.log(v.reduce((s, x) => s + Math.exp(x - mx), 0));
}

export interface MixtureReference {
  Lg: Float64Array;
  Le: Float64Array;
  Lmi: Float64Array;
  Lgi: Float64Array;
  logp: Float64Array;
}

export function mixtureHeadReference(
  N: number, C: number, K: number, M: number,
  z: ArrayLike<number>, logdet: ArrayLike<number>, labels: ArrayLike<number>, Y: ArrayLike<number>,
  cent: ArrayLike<number>, lpi: ArrayLike<number>, lpa: ArrayLike<number>,
): MixtureReference {
  const out = {
    Lg: new Float64Array(N), Le: new Float64Array(N), Lmi: new Float64Array(N), Lgi: new Float64Array(N), logp: new Float64Array(N),
  };
  const dist = (n: number, row: number) => {
    let s = 0;
    for (let c = 0; c < C; ++c) s += (z[n * C + c] - cent[row * C + c]) ** 2;
    return s;
  };
  for (let n = 0; n < N; ++n) {
    const d = Array.from({ length: K }, (_, k) => dist(n, k * M));
    const withPrior = d.map((dk, k) => -0.5 * dk + lpi[k]);
    const plain = d.map((dk) => -0.5 * dk);
    const lseR = lse(withPrior);
    const lseQ = lse(plain);
    out.Lg[n] = (-lseR - logdet[n]) / C;
    out.Le[n] = -plain.reduce((s, p) => s + Math.exp(p - lseQ) * (p - lseQ), 0);
    out.Lmi[n] = withPrior.reduce((s, w, k) => s + Y[n * K + k] * (w - lseR - lpi[k]), 0);
    const y = labels[n];
    const intra = Array.from({ length: M }, (_, m) => -0.5 * dist(n, y * M + m) + lpa[y * M + m]);
    const lseI = lse(intra);
    out.Lgi[n] = (-lseI - logdet[n]) / C;
    out.logp[n] = (C * Math.log(1 / Math.sqrt(2 * Math.PI)) + lseI + logdet[n]) / C;
  }
  return out;
}
