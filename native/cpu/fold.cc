// CPU reference of the parameter folding (native/ops/fold.h): math in double,
// each result rounded to T once; single-threaded (C^2 and K M C elements,
// once per step).
#include "fold.h"

#include <cmath>
#include <vector>

namespace hgad {
namespace {

double globalScale(double x) { return 0.5 * x > 20.0 ? 0.1 * x : 0.2 * std::log1p(std::exp(0.5 * x)); }
double globalScaleDerivative(double x) { return 0.5 * x > 20.0 ? 0.1 : 0.1 / (1.0 + std::exp(-0.5 * x)); }

}  // namespace

template <typename T>
void affineFold(int64_t C, const T* R, const T* g, const T* offset, T* W, T* b, T* logdetConst,
                bool inverse) {
  std::vector<double> scale(static_cast<size_t>(C));
  double logSum = 0.0;
  for (int64_t j = 0; j < C; ++j) {
    scale[j] = globalScale(g[j]);
    logSum += std::log(scale[j]);
  }
  if (!inverse) {
    for (int64_t i = 0; i < C; ++i) {
      double acc = 0.0;
      for (int64_t j = 0; j < C; ++j) {
        W[i * C + j] = static_cast<T>(static_cast<double>(R[i * C + j]) * scale[j]);
        acc += static_cast<double>(R[i * C + j]) * offset[j];
      }
      b[i] = static_cast<T>(acc);
    }
  } else {
    for (int64_t j = 0; j < C; ++j) b[j] = static_cast<T>(-static_cast<double>(offset[j]) / scale[j]);
    for (int64_t i = 0; i < C; ++i)
      for (int64_t j = 0; j < C; ++j) W[i * C + j] = static_cast<T>(static_cast<double>(R[i * C + j]) / scale[j]);
  }
  logdetConst[0] = static_cast<T>(logSum);
}

template <typename T>
void affineFoldBackward(int64_t C, const T* R, const T* g, const T* dW, const T* db,
                        const T* dConst, T* dg, T* dOffset) {
  const double dc = dConst ? static_cast<double>(dConst[0]) : 0.0;
  for (int64_t j = 0; j < C; ++j) {
    double ds = 0.0, dOff = 0.0;
    for (int64_t i = 0; i < C; ++i) {
      ds += static_cast<double>(dW[i * C + j]) * R[i * C + j];
      dOff += static_cast<double>(R[i * C + j]) * db[i];
    }
    const double d = globalScaleDerivative(g[j]);
    dg[j] = static_cast<T>(ds * d + (dc * d) / globalScale(g[j]));
    dOffset[j] = static_cast<T>(dOff);
  }
}

template <typename T>
void centresCompose(int64_t K, int64_t M, int64_t C, const T* mu, const T* muDelta, T* cent) {
  for (int64_t k = 0; k < K; ++k) {
    const T* muRow = mu + k * C;
    for (int64_t c = 0; c < C; ++c) cent[k * M * C + c] = muRow[c];
    for (int64_t m = 1; m < M; ++m) {
      const T* delta = muDelta + (k * (M - 1) + m - 1) * C;
      T* row = cent + (k * M + m) * C;
      for (int64_t c = 0; c < C; ++c) row[c] = static_cast<T>(static_cast<double>(muRow[c]) + delta[c]);
    }
  }
}

template <typename T>
void centresComposeBackward(int64_t K, int64_t M, int64_t C, const T* dcent, T* dmu, T* dDelta) {
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t c = 0; c < C; ++c) dmu[k * C + c] = dcent[k * M * C + c];
    if (!dDelta) continue;
    for (int64_t i = 0; i < (M - 1) * C; ++i) dDelta[k * (M - 1) * C + i] = dcent[k * M * C + C + i];
  }
}

#define HGAD_INSTANTIATE_FOLD(T)                                                                 \
  template void affineFold<T>(int64_t, const T*, const T*, const T*, T*, T*, T*, bool);          \
  template void affineFoldBackward<T>(int64_t, const T*, const T*, const T*, const T*, const T*, \
                                      T*, T*);                                                   \
  template void centresCompose<T>(int64_t, int64_t, int64_t, const T*, const T*, T*);            \
  template void centresComposeBackward<T>(int64_t, int64_t, int64_t, const T*, T*, T*);
HGAD_INSTANTIATE_FOLD(float)
HGAD_INSTANTIATE_FOLD(double)
#undef HGAD_INSTANTIATE_FOLD

}  // namespace hgad
