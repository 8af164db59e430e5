// CPU reference of the batch assembly and loss sums (native/ops/batch.h).
#include "batch.h"

#include <cmath>
#include <cstring>

namespace hgad {

template <typename T>
void gatherRows(int64_t n, int64_t C, const T* src, int64_t srcRows, const int32_t* idx, T* dst) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = idx[i];
    if (r < 0 || r >= srcRows) {
      for (int64_t c = 0; c < C; ++c) dst[i * C + c] = T(0);
    } else if (C > 0) {
      std::memcpy(dst + i * C, src + r * C, static_cast<size_t>(C) * sizeof(T));
    }
  }
}

template <typename T>
void oneHot(int64_t N, int64_t K, const int32_t* labels, double smoothing, T* Y) {
  const T base = static_cast<T>(smoothing / static_cast<double>(K));
  const T hit = static_cast<T>(static_cast<double>(base) + (1.0 - smoothing));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) Y[n * K + k] = base;
    if (labels[n] >= 0 && labels[n] < K) Y[n * K + labels[n]] = hit;
  }
}

template <typename T>
void lossSums(int64_t N, const T* Lg, const T* Le, const T* Lmi, const T* Lgi, const T* logp,
              double* out) {
  const T* terms[4] = {Lg, Le, Lmi, Lgi};
  for (int t = 0; t < 4; ++t) {
    double s = 0.0;
    if (terms[t])
      for (int64_t n = 0; n < N; ++n) s += terms[t][n];
    out[t] = s;
  }
  double s = 0.0;
  if (logp)
    for (int64_t n = 0; n < N; ++n) {
      const double x = -static_cast<double>(logp[n]);
      s += x > 0.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    }
  out[4] = s;
}

template void gatherRows<float>(int64_t, int64_t, const float*, int64_t, const int32_t*, float*);
template void gatherRows<double>(int64_t, int64_t, const double*, int64_t, const int32_t*, double*);
template void gatherRows<int32_t>(int64_t, int64_t, const int32_t*, int64_t, const int32_t*, int32_t*);
template void oneHot<float>(int64_t, int64_t, const int32_t*, double, float*);
template void oneHot<double>(int64_t, int64_t, const int32_t*, double, double*);
template void lossSums<float>(int64_t, const float*, const float*, const float*, const float*, const float*, double*);
template void lossSums<double>(int64_t, const double*, const double*, const double*, const double*, const double*, double*);

}  // namespace hgad
