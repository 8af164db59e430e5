// CUDA kernels of the anomaly-map chain (math in native/ops/anomaly_map.h;
// the CPU reference is native/cpu/anomaly_map.cc). All memory-bound:
//   mapMax       one block reduces n floats (grid-stride), bytes 4n
//   mapShift     bytes 8n (+ n exp)          mapProduct  bytes 12n
//   upsample     one thread per output pixel, 4 gathers (cached), bytes ~8 B H W
//   gaussianBlur one thread per pixel per pass, (2r + 1) taps read through L1,
//                weights built per block in shared memory (normalised in double)
#include <algorithm>

#include "anomaly_map.h"
#include "cuda_common.cuh"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

constexpr int kReduceThreads = 1024;

__global__ void mapMaxKernel(int64_t n, const float* __restrict__ x, float* __restrict__ m) {
  float best = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) best = fmaxf(best, x[i]);
  best = detail::warpMax(best);
  __shared__ float partial[kReduceThreads / 32];
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = best;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : -INFINITY;
    v = detail::warpMax(v);
    if (threadIdx.x == 0) m[0] = v;
  }
}

__global__ void mapShiftKernel(int64_t n, const float* x, const float* __restrict__ m, int32_t mode, float* y) {
  const float top = m[0];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = mode == kExpMinusMax ? expf(x[i] - top) : top - x[i];
  }
}

__global__ void mapProductKernel(int64_t n, const float* a, const float* b, float* y) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = a[i] * b[i];
  }
}

__global__ void upsampleKernel(int64_t B, int64_t h, int64_t w, int64_t H, int64_t W, const float* __restrict__ x,
                               float beta, float* __restrict__ y) {
  const int64_t total = B * H * W;
  const float scaleH = H > 1 ? static_cast<float>(h - 1) / static_cast<float>(H - 1) : 0.f;
  const float scaleW = W > 1 ? static_cast<float>(w - 1) / static_cast<float>(W - 1) : 0.f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ox = i % W, oy = (i / W) % H, b = i / (H * W);
    const float ry = scaleH * static_cast<float>(oy), rx = scaleW * static_cast<float>(ox);
    const int64_t y0 = min(static_cast<int64_t>(ry), h - 1), x0 = min(static_cast<int64_t>(rx), w - 1);
    const int64_t y1 = y0 + (y0 < h - 1 ? 1 : 0), x1 = x0 + (x0 < w - 1 ? 1 : 0);
    const float ly1 = ry - static_cast<float>(y0), ly0 = 1.f - ly1;
    const float lx1 = rx - static_cast<float>(x0), lx0 = 1.f - lx1;
    const float* src = x + b * h * w;
    const float v = ly0 * (lx0 * src[y0 * w + x0] + lx1 * src[y0 * w + x1]) +
                    ly1 * (lx0 * src[y1 * w + x0] + lx1 * src[y1 * w + x1]);
    y[i] = beta == 0.f ? v : beta * y[i] + v;
  }
}

__device__ __forceinline__ int64_t reflectIndex(int64_t k, int64_t n) {
  const int64_t period = 2 * n;
  int64_t r = k % period;
  if (r < 0) r += period;
  return r < n ? r : period - 1 - r;
}

// One 1-D pass: along rows (Vertical: neighbours y +- k) or along columns.
template <bool Vertical>
__global__ void blurKernel(int64_t B, int64_t H, int64_t W, float sigma, int64_t radius, const float* __restrict__ x,
                           float* __restrict__ y) {
  extern __shared__ double weights[];
  const int64_t taps = 2 * radius + 1;
  for (int64_t k = threadIdx.x; k < taps; k += blockDim.x) {
    const double d = static_cast<double>(k - radius);
    weights[k] = exp(-0.5 / (static_cast<double>(sigma) * sigma) * d * d);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0;
    for (int64_t k = 0; k < taps; ++k) sum += weights[k];
    for (int64_t k = 0; k < taps; ++k) weights[k] /= sum;
  }
  __syncthreads();
  const int64_t total = B * H * W;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ox = i % W, oy = (i / W) % H;
    const float* img = x + (i - oy * W - ox);
    float acc = 0.f;
    if (Vertical) {
      for (int64_t k = -radius; k <= radius; ++k) acc += static_cast<float>(weights[k + radius]) * img[reflectIndex(oy + k, H) * W + ox];
    } else {
      const float* line = img + oy * W;
      for (int64_t k = -radius; k <= radius; ++k) acc += static_cast<float>(weights[k + radius]) * line[reflectIndex(ox + k, W)];
    }
    y[i] = acc;
  }
}

}  // namespace

void mapMax(int64_t n, const float* x, float* m, Stream stream) {
  if (n <= 0) return;
  mapMaxKernel<<<1, kReduceThreads, 0, asStream(stream)>>>(n, x, m);
  HGAD_CUDA_LAUNCHED("mapMax", sizes("n", n));
}

void mapShift(int64_t n, const float* x, const float* m, int32_t mode, float* y, Stream stream) {
  if (n <= 0) return;
  mapShiftKernel<<<gridFor(n, kThreads), kThreads, 0, asStream(stream)>>>(n, x, m, mode, y);
  HGAD_CUDA_LAUNCHED("mapShift", sizes("n", n, "mode", mode));
}

void mapProduct(int64_t n, const float* a, const float* b, float* y, Stream stream) {
  if (n <= 0) return;
  mapProductKernel<<<gridFor(n, kThreads), kThreads, 0, asStream(stream)>>>(n, a, b, y);
  HGAD_CUDA_LAUNCHED("mapProduct", sizes("n", n));
}

void upsampleBilinear(int64_t B, int64_t h, int64_t w, int64_t H, int64_t W, const float* x, float beta, float* y,
                      Stream stream) {
  const int64_t total = B * H * W;
  if (total <= 0) return;
  upsampleKernel<<<gridFor(total, kThreads), kThreads, 0, asStream(stream)>>>(B, h, w, H, W, x, beta, y);
  HGAD_CUDA_LAUNCHED("upsampleBilinear", sizes("B", B, "h", h, "w", w, "H", H, "W", W));
}

void gaussianBlur(int64_t B, int64_t H, int64_t W, float sigma, float truncate, const float* x, float* work, float* y,
                  Stream stream) {
  const int64_t total = B * H * W;
  if (total <= 0) return;
  const int64_t radius = gaussianRadius(sigma, truncate);
  const size_t shared = static_cast<size_t>(2 * radius + 1) * sizeof(double);
  blurKernel<true><<<gridFor(total, kThreads), kThreads, shared, asStream(stream)>>>(B, H, W, sigma, radius, x, work);
  HGAD_CUDA_LAUNCHED("gaussianBlur rows", sizes("B", B, "H", H, "W", W, "radius", radius));
  blurKernel<false><<<gridFor(total, kThreads), kThreads, shared, asStream(stream)>>>(B, H, W, sigma, radius, work, y);
  HGAD_CUDA_LAUNCHED("gaussianBlur columns", sizes("B", B, "H", H, "W", W, "radius", radius));
}

}  // namespace cuda
}  // namespace hgad
