// Fused affine coupling kernels; the math is stated in native/ops/coupling.h.
// Rows are independent, so each thread takes a contiguous block of rows and
// makes one pass over x, a and y. tanh and exp are the cost here, so the float
// path uses the vectorisable expFast/tanhFast (fast_math.h) in loops compiled
// for AVX2 as well as the baseline (target_clones picks one at load time); the
// double path, used for gradient checks, keeps std::tanh and std::exp.
#include "coupling.h"

#include <cmath>
#include <vector>

#include "fast_math.h"
#include "threadpool.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HGAD_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HGAD_VECTOR_CLONES
#endif

namespace hgad {
namespace {
constexpr int64_t kRowGrain = 64;

HGAD_ALWAYS_INLINE float tanhOf(float v) { return tanhFast(v); }
inline double tanhOf(double v) { return std::tanh(v); }
HGAD_ALWAYS_INLINE float expOf(float v) { return expFast(v); }
inline double expOf(double v) { return std::exp(v); }

// s = clamp * tanh(0.1 a_s) for one row, into s; returns sum(s).
template <typename T>
HGAD_VECTOR_CLONES T logScales(int64_t C2, const T* __restrict as, T clamp, T* __restrict s) {
  for (int64_t j = 0; j < C2; ++j) s[j] = clamp * tanhOf(T(0.1) * as[j]);
  T sum = 0;
  for (int64_t j = 0; j < C2; ++j) sum += s[j];
  return sum;
}

// y2 = x2 * exp(s) + 0.1 a_t; returns sum(s). s is scratch of length C2.
template <typename T>
HGAD_VECTOR_CLONES T forwardRow(int64_t C2, const T* __restrict x2, const T* __restrict as,
                                const T* __restrict at, T clamp, T* __restrict y2, T* __restrict s) {
  const T sum = logScales(C2, as, clamp, s);
  for (int64_t j = 0; j < C2; ++j) y2[j] = x2[j] * expOf(s[j]) + T(0.1) * at[j];
  return sum;
}

// x2 = (y2 - 0.1 a_t) * exp(-s); returns sum(s).
template <typename T>
HGAD_VECTOR_CLONES T inverseRow(int64_t C2, const T* __restrict y2, const T* __restrict as,
                                const T* __restrict at, T clamp, T* __restrict x2, T* __restrict s) {
  const T sum = logScales(C2, as, clamp, s);
  for (int64_t j = 0; j < C2; ++j) x2[j] = (y2[j] - T(0.1) * at[j]) * expOf(-s[j]);
  return sum;
}

template <typename T>
HGAD_VECTOR_CLONES void couplingBackwardRow(int64_t C2, const T* __restrict x2, const T* __restrict as,
                                            T clamp, const T* __restrict dy2, T dl, T* __restrict dx2,
                                            T* __restrict das, T* __restrict dat) {
  for (int64_t j = 0; j < C2; ++j) {
    const T th = tanhOf(T(0.1) * as[j]);
    const T e = expOf(clamp * th);
    const T g = dy2[j];
    dx2[j] = g * e;
    const T ds = g * x2[j] * e + dl;
    das[j] = ds * clamp * T(0.1) * (T(1) - th * th);
    dat[j] = T(0.1) * g;
  }
}

// The row loop forward and inverse share: the first C1 channels copied, the
// other C2 through row(C2, in2, a_s, a_t, out2, scratch), which returns sum(s),
// and logdetOut = logdetIn + sign * logdetConst + sign * sum(s).
template <typename T, typename Row>
void couplingRows(int64_t N, int64_t C, const T* in, const T* a, const T* logdetIn, const T* logdetConst,
                  T sign, T* out, T* logdetOut, Row row) {
  const int64_t C1 = (C + 1) / 2, C2 = C - C1;
  parallelFor(N, kRowGrain, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch(static_cast<size_t>(C2));
    for (int64_t n = begin; n < end; ++n) {
      const T* ir = in + n * C;
      const T* as = a + n * 2 * C2;
      T* orow = out + n * C;
      for (int64_t j = 0; j < C1; ++j) orow[j] = ir[j];
      const T sum = row(C2, ir + C1, as, as + C2, orow + C1, scratch.data());
      logdetOut[n] = (logdetIn ? logdetIn[n] : T(0)) + sign * logdetConst[0] + sign * sum;
    }
  });
}

}  // namespace

template <typename T>
void couplingForward(int64_t N, int64_t C, const T* x, const T* a, T clamp, const T* logdetIn,
                     const T* logdetConst, T* y, T* logdetOut) {
  couplingRows<T>(N, C, x, a, logdetIn, logdetConst, T(1), y, logdetOut,
                  [clamp](int64_t C2, const T* x2, const T* as, const T* at, T* y2, T* s) {
                    return forwardRow<T>(C2, x2, as, at, clamp, y2, s);
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
      couplingBackwardRow<T>(C2, xr + C1, as, clamp, dyr + C1, dl, dxr + C1, das, dat);
    }
  });
}

template <typename T>
void couplingInverse(int64_t N, int64_t C, const T* y, const T* a, T clamp, const T* logdetIn,
                     const T* logdetConst, T* x, T* logdetOut) {
  couplingRows<T>(N, C, y, a, logdetIn, logdetConst, T(-1), x, logdetOut,
                  [clamp](int64_t C2, const T* y2, const T* as, const T* at, T* x2, T* s) {
                    return inverseRow<T>(C2, y2, as, at, clamp, x2, s);
                  });
}

#define HGAD_INSTANTIATE(T)                                                                   \
  template void couplingForward<T>(int64_t, int64_t, const T*, const T*, T, const T*, const T*, T*, \
                                   T*);                                                       \
  template void couplingBackward<T>(int64_t, int64_t, const T*, const T*, T, const T*,       \
                                    const T*, T*, T*);                                        \
  template void couplingInverse<T>(int64_t, int64_t, const T*, const T*, T, const T*, const T*, T*, \
                                   T*);
HGAD_INSTANTIATE(float)
HGAD_INSTANTIATE(double)
#undef HGAD_INSTANTIATE

}  // namespace hgad
