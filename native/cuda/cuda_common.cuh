// Internal helpers shared by the .cu files: error checks that throw
// CudaError naming the op, its sizes and the CUDA error, the stream cast,
// launch-size helpers and warp reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "device_api.h"
#include "runtime.h"

namespace hgad {
namespace cuda {
namespace detail {

inline cudaStream_t asStream(Stream s) { return static_cast<cudaStream_t>(s); }

// Destroys the cuBLAS handle of `stream` (any device) before the stream is
// destroyed (gemm_cublas.cu); a no-op when cuBLAS was never loaded.
void cublasReleaseStream(cudaStream_t stream);

[[noreturn]] inline void throwCuda(cudaError_t st, const char* op, const std::string& sizes) {
  throwCudaStatus(op, sizes, cudaGetErrorString(st), cudaGetErrorName(st));
}

// Check a runtime call; the sizes expression is evaluated only on failure.
#define HGAD_CUDA_CHECK(expr, op, sizesExpr)                                   \
  do {                                                                         \
    const cudaError_t hgad_st_ = (expr);                                       \
    if (hgad_st_ != cudaSuccess) {                                             \
      cudaGetLastError();                                                      \
      ::hgad::cuda::detail::throwCuda(hgad_st_, op, sizesExpr);                \
    }                                                                          \
  } while (0)

// After a kernel launch: launch-configuration errors are reported here.
#define HGAD_CUDA_LAUNCHED(op, sizesExpr) HGAD_CUDA_CHECK(cudaGetLastError(), op, sizesExpr)

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over n items: enough to fill the device a few
// times over, never more than the work needs.
inline unsigned gridFor(int64_t n, int threads, int64_t maxBlocks = 132 * 16) {
  int64_t b = ceilDiv(n, threads);
  if (b > maxBlocks) b = maxBlocks;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

int multiprocessorCount();        // of the current device (cached per device)
size_t sharedMemoryOptin();       // opt-in dynamic shared memory per block

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warpSum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ double warpMax(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// log(sum_i exp(v[i])) over v[0, n), by the 32 lanes of a warp (lane l reads
// l, l + 32, ...); every lane gets the result. A non-finite maximum (an empty
// or all -inf row, an inf or NaN) is returned as it is.
template <typename T>
__device__ __forceinline__ T warpLogSumExp(const T* v, int64_t n, int lane) {
  T mx = -INFINITY;
  for (int64_t i = lane; i < n; i += 32) mx = fmax(mx, v[i]);
  mx = warpMax(mx);
  if (!isfinite(mx)) return mx;
  T acc = 0;
  for (int64_t i = lane; i < n; i += 32) acc += exp(v[i] - mx);
  return mx + log(warpSum(acc));
}

}  // namespace detail

// The helpers every kernel file uses, by their short names.
using detail::asStream;
using detail::ceilDiv;
using detail::gridFor;
using detail::sizes;

}  // namespace cuda
}  // namespace hgad
