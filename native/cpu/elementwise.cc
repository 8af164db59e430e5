// Memory-bound helpers: each makes one pass over its operands, split into
// contiguous chunks across the thread pool. Reductions over rows keep one
// partial per chunk and add them in chunk order, so results do not depend on
// timing (only on the thread count).
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "log_sum_exp.h"
#include "threadpool.h"

namespace hgad {
namespace {
constexpr int64_t kGrain = 1 << 14;
constexpr int64_t kRowGrain = 64;
}  // namespace

template <typename T> void axpy(int64_t n, T alpha, const T* x, T* y) {
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] += alpha * x[i];
  });
}

template <typename T> void scale(int64_t n, T alpha, const T* x, T* out) {
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = alpha * x[i];
  });
}

template <typename T> void reluBackward(int64_t n, const T* h, T* dh) {
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dh[i] = h[i] > T(0) ? dh[i] : T(0);
  });
}

template <typename T> void columnSum(int64_t N, int64_t M, const T* X, T beta, T* v) {
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threadCount(), N / kRowGrain));
  std::vector<T> partial(static_cast<size_t>(chunks * M), T(0));
  parallelTasks(chunks, [&](int64_t c) {
    T* p = partial.data() + c * M;
    for (int64_t n = N * c / chunks; n < N * (c + 1) / chunks; ++n) {
      const T* row = X + n * M;
      for (int64_t m = 0; m < M; ++m) p[m] += row[m];
    }
  });
  for (int64_t m = 0; m < M; ++m) {
    T acc = beta == T(0) ? T(0) : beta * v[m];
    for (int64_t c = 0; c < chunks; ++c) acc += partial[c * M + m];
    v[m] = acc;
  }
}

template <typename T> void rowSum(int64_t N, int64_t M, const T* X, T* r) {
  parallelFor(N, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      T acc = 0;
      for (int64_t m = 0; m < M; ++m) acc += X[n * M + m];
      r[n] = acc;
    }
  });
}

template <typename T> void logSoftmaxRows(int64_t N, int64_t M, const T* X, T* Y) {
  parallelFor(N, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      T lse = logSumExp(M, X + n * M);
      for (int64_t m = 0; m < M; ++m) Y[n * M + m] = X[n * M + m] - lse;
    }
  });
}

template <typename T> void logSoftmaxRowsBackward(int64_t N, int64_t M, const T* Y, const T* dY, T* dX) {
  parallelFor(N, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      T total = 0;
      for (int64_t m = 0; m < M; ++m) total += dY[n * M + m];
      for (int64_t m = 0; m < M; ++m) dX[n * M + m] = dY[n * M + m] - std::exp(Y[n * M + m]) * total;
    }
  });
}

template <typename T>
void packColumns(int64_t N, const T* X, int64_t ldx, int64_t c0, int64_t W0, const T* Z, int64_t P, T* out) {
  const int64_t W = W0 + P;
  parallelFor(N, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      std::copy(X + n * ldx + c0, X + n * ldx + c0 + W0, out + n * W);
      if (P > 0) std::copy(Z + n * P, Z + n * P + P, out + n * W + W0);
    }
  });
}

template <typename T>
void unpackColumnsBackward(int64_t N, const T* dOut, int64_t W0, int64_t P, T* dX, int64_t ldx, int64_t c0, T* dZ) {
  const int64_t W = W0 + P;
  parallelFor(N, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* src = dOut + n * W;
      T* dst = dX + n * ldx + c0;
      for (int64_t j = 0; j < W0; ++j) dst[j] += src[j];
      if (dZ && P > 0) std::copy(src + W0, src + W, dZ + n * P);
    }
  });
}

template <typename T> int64_t firstNonFinite(int64_t n, const T* x) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return -1;
}

#define HGAD_INSTANTIATE(T)                                                                      \
  template void axpy<T>(int64_t, T, const T*, T*);                                               \
  template void scale<T>(int64_t, T, const T*, T*);                                              \
  template void reluBackward<T>(int64_t, const T*, T*);                                          \
  template void columnSum<T>(int64_t, int64_t, const T*, T, T*);                                 \
  template void rowSum<T>(int64_t, int64_t, const T*, T*);                                       \
  template void logSoftmaxRows<T>(int64_t, int64_t, const T*, T*);                               \
  template void logSoftmaxRowsBackward<T>(int64_t, int64_t, const T*, const T*, T*);             \
  template void packColumns<T>(int64_t, const T*, int64_t, int64_t, int64_t, const T*, int64_t, T*); \
  template void unpackColumnsBackward<T>(int64_t, const T*, int64_t, int64_t, T*, int64_t, int64_t, T*); \
  template int64_t firstNonFinite<T>(int64_t, const T*);
HGAD_INSTANTIATE(float)
HGAD_INSTANTIATE(double)
#undef HGAD_INSTANTIATE

}  // namespace hgad
