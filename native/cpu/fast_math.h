// Branch-free float exp and tanh that the compiler vectorises (std::exp and
// std::tanh are library calls and keep the coupling loops scalar). exp is the
// Cephes expf scheme: x = k ln2 + r with |r| <= ln2/2 and a degree-6
// polynomial for e^r, accurate to about 2 ulp over [-87, 88]. tanh(v) =
// 1 - 2 / (e^{2v} + 1), whose absolute error stays within a few 1e-8: what the
// coupling needs, since s = clamp * tanh(.) enters exp(s) and the
// log-determinant as an absolute quantity. The loops using them vectorise
// only with -fno-trapping-math (set for the whole library: it changes no
// result, only what the compiler may assume about floating-point traps).
#pragma once
#include <algorithm>
#include <cstdint>

#if defined(__GNUC__)
#define HGAD_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define HGAD_ALWAYS_INLINE inline
#endif

namespace hgad {

HGAD_ALWAYS_INLINE float expFast(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // round(x / ln2) by the 1.5 * 2^23 trick, which stays branch-free
  const float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - kf * 0.693359375f) - kf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(kf) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

HGAD_ALWAYS_INLINE float tanhFast(float v) {
  v = std::min(std::max(v, -9.0f), 9.0f);
  return 1.0f - 2.0f / (expFast(2.0f * v) + 1.0f);
}

}  // namespace hgad
