// Fused affine coupling kernels; the math is stated in native/ops/coupling.h.
// Rows are independent, so each thread takes a contiguous block of rows and
// makes one pass over x, a and y. tanh/exp are the cost here (memory-bound
// otherwise), so the loops are kept simple enough for the compiler to
// vectorise the arithmetic around them.
#include "coupling.h"

#include <cmath>

#include "threadpool.h"

namespace hgad {
namespace {
constexpr int64_t kRowGrain = 64;
}

template <typename T>
void couplingForward(int64_t N, int64_t C, const T* x, const T* a, T clamp, const T* logdetIn,
                     T logdetConst, T* y, T* logdetOut) {
  const int64_t C1 = (C + 1) / 2, C2 = C - C1;
  parallelFor(N, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T* xr = x + n * C;
      const T* as = a + n * 2 * C2;
      const T* at = as + C2;
      T* yr = y + n * C;
      for (int64_t j = 0; j < C1; ++j) yr[j] = xr[j];
      T sum = 0;
      for (int64_t j = 0; j < C2; ++j) {
        T s = clamp * std::tanh(T(0.1) * as[j]);
        sum += s;
        yr[C1 + j] = xr[C1 + j] * std::exp(s) + T(0.1) * at[j];
      }
      logdetOut[n] = (logdetIn ? logdetIn[n] : T(0)) + logdetConst + sum;
    }
  });
}

template <typename T>
void couplingBackward(int64_t N, int64_t C, const T* x, const T* a, T clamp, const T* dy,
                      const T* dlogdet, T* dx, T* da) {
  const int64_t C1 = (C + 1) / 2, C2 = C - C1;
  parallelFor(N, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T* xr = x + n * C;
      const T* as = a + n * 2 * C2;
      const T* dyr = dy + n * C;
      T* dxr = dx + n * C;
      T* das = da + n * 2 * C2;
      T* dat = das + C2;
      const T dl = dlogdet ? dlogdet[n] : T(0);
      for (int64_t j = 0; j < C1; ++j) dxr[j] = dyr[j];
      for (int64_t j = 0; j < C2; ++j) {
        T th = std::tanh(T(0.1) * as[j]);
        T e = std::exp(clamp * th);
        T g = dyr[C1 + j];
        dxr[C1 + j] = g * e;
        T ds = g * xr[C1 + j] * e + dl;
        das[j] = ds * clamp * T(0.1) * (T(1) - th * th);
        dat[j] = T(0.1) * g;
      }
    }
  });
}

template <typename T>
void couplingInverse(int64_t N, int64_t C, const T* y, const T* a, T clamp, const T* logdetIn,
                     T logdetConst, T* x, T* logdetOut) {
  const int64_t C1 = (C + 1) / 2, C2 = C - C1;
  parallelFor(N, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T* yr = y + n * C;
      const T* as = a + n * 2 * C2;
      const T* at = as + C2;
      T* xr = x + n * C;
      for (int64_t j = 0; j < C1; ++j) xr[j] = yr[j];
      T sum = 0;
      for (int64_t j = 0; j < C2; ++j) {
        T s = clamp * std::tanh(T(0.1) * as[j]);
        sum += s;
        xr[C1 + j] = (yr[C1 + j] - T(0.1) * at[j]) * std::exp(-s);
      }
      logdetOut[n] = (logdetIn ? logdetIn[n] : T(0)) - logdetConst - sum;
    }
  });
}

#define HGAD_INSTANTIATE(T)                                                                   \
  template void couplingForward<T>(int64_t, int64_t, const T*, const T*, T, const T*, T, T*, \
                                   T*);                                                       \
  template void couplingBackward<T>(int64_t, int64_t, const T*, const T*, T, const T*,       \
                                    const T*, T*, T*);                                        \
  template void couplingInverse<T>(int64_t, int64_t, const T*, const T*, T, const T*, T, T*, \
                                   T*);
HGAD_INSTANTIATE(float)
HGAD_INSTANTIATE(double)
#undef HGAD_INSTANTIATE

}  // namespace hgad
