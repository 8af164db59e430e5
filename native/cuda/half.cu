// binary16 <-> float32 on the device (the feature cache's batches can be
// uploaded as float16, half the bytes, and widened there). Math as
// native/ops/half.h: the hardware conversions (__half2float, exact;
// __float2half_rn, nearest with ties to even) compute what the CPU reference
// of native/cpu/half.cc computes.
//   halfToFloat: bytes 6n (2n read, 4n written); floatToHalf: bytes 6n; no FLOPs
#include <cuda_fp16.h>

#include "cuda_common.cuh"
#include "half.h"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__global__ void halfToFloatKernel(int64_t n, const __half* h, float* out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = __half2float(h[i]);
}

__global__ void floatToHalfKernel(int64_t n, const float* x, __half* h) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) h[i] = __float2half_rn(x[i]);
}

}  // namespace

void halfToFloat(int64_t n, const uint16_t* h, float* out, Stream stream) {
  if (n == 0) return;
  halfToFloatKernel<<<gridFor(n, kThreads), kThreads, 0, asStream(stream)>>>(n, reinterpret_cast<const __half*>(h), out);
  HGAD_CUDA_LAUNCHED("halfToFloat", sizes("n", n));
}

void floatToHalf(int64_t n, const float* x, uint16_t* h, Stream stream) {
  if (n == 0) return;
  floatToHalfKernel<<<gridFor(n, kThreads), kThreads, 0, asStream(stream)>>>(n, x, reinterpret_cast<__half*>(h));
  HGAD_CUDA_LAUNCHED("floatToHalf", sizes("n", n));
}

}  // namespace cuda
}  // namespace hgad
