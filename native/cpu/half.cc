// binary16 <-> float32/float64 by bit manipulation (no F16C dependency, the
// same result on every CPU). The reference for the CUDA kernels of
// native/cuda/half.cu, which use the hardware conversions.
//
// half: sign (1) | exponent (5, bias 15) | mantissa (10)
//   e = 0:      subnormal, value = m * 2^-24
//   e = 31:     inf (m = 0) or NaN
//   otherwise:  (1 + m/1024) * 2^(e-15)
#include "half.h"

#include <cmath>
#include <cstring>

#include "threadpool.h"

namespace hgad {
namespace {

constexpr int64_t kGrain = 1 << 16;

// Exact: the result is representable in float (and in double).
inline float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);  // 127 - 15 = 112
  } else {
    float v = std::ldexp(static_cast<float>(man), -24);  // subnormal (or zero)
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

// Round to nearest, ties to even, on the float's bits. Doubles are first
// rounded to float: a double within half a float ulp of a half tie could round
// twice, but the cache only converts float32 backbone outputs.
inline uint16_t floatToHalfBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return sign | 0x7e00 | static_cast<uint16_t>((absx >> 13) & 0x1ff);  // NaN, quiet
  if (absx >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 rounds to inf (and inf stays inf)
  if (absx >= 0x38800000u) {                      // normal half range (>= 2^-14)
    const uint32_t mant = absx + 0xfff + ((absx >> 13) & 1);  // ties to even on bit 13
    return sign | static_cast<uint16_t>((mant - 0x38000000u) >> 13);
  }
  if (absx < 0x33000000u) return sign;  // below 2^-25: rounds to zero (2^-25 itself ties to 0)
  // Subnormal half: value / 2^-24 rounded to an integer, ties to even.
  const uint32_t e = absx >> 23;                  // 102 .. 112
  const uint32_t m = (absx & 0x7fffff) | 0x800000;  // 24-bit significand
  const uint32_t shift = 126 - e;                 // 14 .. 24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (q & 1))) ++q;
  return sign | static_cast<uint16_t>(q);
}

}  // namespace

template <typename T> void halfToFloat(int64_t n, const uint16_t* h, T* out) {
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(halfBitsToFloat(h[i]));
  });
}

template <typename T> void floatToHalf(int64_t n, const T* x, uint16_t* h) {
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) h[i] = floatToHalfBits(static_cast<float>(x[i]));
  });
}

#define HGAD_INSTANTIATE(T)                                       \
  template void halfToFloat<T>(int64_t, const uint16_t*, T*);     \
  template void floatToHalf<T>(int64_t, const T*, uint16_t*);
HGAD_INSTANTIATE(float)
HGAD_INSTANTIATE(double)
#undef HGAD_INSTANTIATE

}  // namespace hgad
