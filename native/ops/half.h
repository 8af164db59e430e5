// IEEE 754 binary16 ("half", float16) conversions, used by the feature cache
// (stored as float16, trained on as float32).
//   halfToFloat: out[i] = the value of the binary16 bit pattern h[i]  (exact: every half is a float)
//   floatToHalf: h[i] = x[i] rounded to the nearest binary16, ties to even;
//                overflow to +-inf, NaN stays NaN (quiet, sign kept)
// Shapes: h, x, out: (n).
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

template <typename T> void halfToFloat(int64_t n, const uint16_t* h, T* out);
template <typename T> void floatToHalf(int64_t n, const T* x, uint16_t* h);

namespace cuda {
// The same on device pointers, enqueued on `stream` (native/cuda/half.cu).
void halfToFloat(int64_t n, const uint16_t* h, float* out, Stream stream);
void floatToHalf(int64_t n, const float* x, uint16_t* h, Stream stream);
}  // namespace cuda

}  // namespace hgad
