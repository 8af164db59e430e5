// Memory-bound elementwise, row and column kernels; math as native/ops/elementwise.h.
//
//  axpy  y += a x     FLOPs 2n  bytes 12n
//  scale out = a x    FLOPs n   bytes 8n      reluBackward        bytes 12n
//  columnSum (N, M)   FLOPs NM  bytes 4NM     rowSum (N, M)       FLOPs NM bytes 4NM
//  logSoftmaxRows     bytes 8NM; backward bytes 12NM
//  packColumns        bytes 8 N (W0 + P); unpackColumnsBackward bytes 12 N W0 + 8 N P
//  fill  dst = value  bytes 4n
// Flat kernels use 16-byte accesses when every pointer is 16-byte aligned
// (the tail, < 4 elements, runs scalar). Row kernels give one warp to a row
// (rows are short: K = 15 classes, M = 10, at most a few hundred channels).
// Column sums accumulate in double per thread over a slab of rows, and the
// slabs are added in a fixed order by a second kernel: deterministic, and
// with N = 16384 rows the float sum would otherwise lose ~4 digits.
#include <algorithm>

#include "cuda_common.cuh"
#include "elementwise.h"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

constexpr int kWarpsPerBlock = kThreads / 32;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Applies op to indices [0, n): 4-wide through float4 when `vec`.
template <typename Op>
__global__ void mapKernel(int64_t n, bool vec, Op op) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t q = i; q < n4; q += stride) op.vec(q);
    for (int64_t t = n4 * 4 + i; t < n; t += stride) op.scalar(t);
  } else {
    for (; i < n; i += stride) op.scalar(i);
  }
}

struct AxpyOp {
  float alpha;
  const float* x;
  float* y;
  __device__ void scalar(int64_t i) const { y[i] += alpha * x[i]; }
  __device__ void vec(int64_t q) const {
    const float4 a = reinterpret_cast<const float4*>(x)[q];
    float4 b = reinterpret_cast<float4*>(y)[q];
    b.x += alpha * a.x; b.y += alpha * a.y; b.z += alpha * a.z; b.w += alpha * a.w;
    reinterpret_cast<float4*>(y)[q] = b;
  }
};

struct ScaleOp {
  float alpha;
  const float* x;
  float* out;
  __device__ void scalar(int64_t i) const { out[i] = alpha * x[i]; }
  __device__ void vec(int64_t q) const {
    const float4 u = reinterpret_cast<const float4*>(x)[q];
    reinterpret_cast<float4*>(out)[q] =
        make_float4(alpha * u.x, alpha * u.y, alpha * u.z, alpha * u.w);
  }
};

struct ReluBackwardOp {
  const float* h;
  float* dh;
  __device__ void scalar(int64_t i) const { dh[i] = h[i] > 0.0f ? dh[i] : 0.0f; }
  __device__ void vec(int64_t q) const {
    const float4 u = reinterpret_cast<const float4*>(h)[q];
    float4 d = reinterpret_cast<float4*>(dh)[q];
    d.x = u.x > 0.0f ? d.x : 0.0f; d.y = u.y > 0.0f ? d.y : 0.0f;
    d.z = u.z > 0.0f ? d.z : 0.0f; d.w = u.w > 0.0f ? d.w : 0.0f;
    reinterpret_cast<float4*>(dh)[q] = d;
  }
};

struct FillOp {
  float value;
  float* dst;
  __device__ void scalar(int64_t i) const { dst[i] = value; }
  __device__ void vec(int64_t q) const {
    reinterpret_cast<float4*>(dst)[q] = make_float4(value, value, value, value);
  }
};

template <typename Op>
void launchMap(const char* name, int64_t n, bool vec, const Op& op, Stream stream) {
  if (n <= 0) return;
  mapKernel<<<gridFor(vec ? ceilDiv(n, 4) : n, kThreads), kThreads, 0, asStream(stream)>>>(n, vec, op);
  HGAD_CUDA_LAUNCHED(name, sizes("n", n));
}

// Column sums: block (32 columns) x (8 row lanes); each grid row y handles a
// slab of rows and writes one double partial per column.
constexpr int kColSlabs = 64;

__global__ void columnSumPartialKernel(int64_t N, int64_t M, const float* X, int64_t rowsPerSlab,
                                       double* partial) {
  __shared__ double acc[8][33];
  const int64_t col = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rowsPerSlab;
  const int64_t r1 = min(N, r0 + rowsPerSlab);
  double s = 0.0;
  if (col < M)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += static_cast<double>(X[r * M + col]);
  acc[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < M) {
    double t = 0.0;
#pragma unroll
    for (int k = 0; k < 8; ++k) t += acc[k][threadIdx.x];
    partial[int64_t(blockIdx.y) * M + col] = t;
  }
}

__global__ void columnSumFinishKernel(int64_t M, int slabs, const double* partial, float beta,
                                      float* v) {
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= M) return;
  double t = 0.0;
  for (int s = 0; s < slabs; ++s) t += partial[int64_t(s) * M + col];
  // Mirrors the CPU: acc starts at beta * v (as float) and the partials are added.
  const float start = beta == 0.0f ? 0.0f : beta * v[col];
  v[col] = static_cast<float>(static_cast<double>(start) + t);
}

// ---------------------------------------------------------------- rows
// One warp per row; lanes stride over the columns.
enum class RowOp { kSum, kLogSoftmax };

template <RowOp OP>
__global__ void rowKernel(int64_t N, int64_t M, const float* X, float* out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); n < N; n += warps) {
    const float* row = X + n * M;
    if (OP == RowOp::kSum) {
      float acc = 0.0f;
      for (int64_t m = lane; m < M; m += 32) acc += row[m];
      acc = detail::warpSum(acc);
      if (lane == 0) out[n] = acc;
    } else {
      // Each lane rewrites only the elements it read, after the warp-wide
      // reduction, so out may alias X.
      const float lse = detail::warpLogSumExp(row, M, lane);
      for (int64_t m = lane; m < M; m += 32) out[n * M + m] = row[m] - lse;
    }
  }
}

__global__ void logSoftmaxBackwardKernel(int64_t N, int64_t M, const float* Y, const float* dY,
                                         float* dX) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); n < N; n += warps) {
    float total = 0.0f;
    for (int64_t m = lane; m < M; m += 32) total += dY[n * M + m];
    total = detail::warpSum(total);
    for (int64_t m = lane; m < M; m += 32)
      dX[n * M + m] = dY[n * M + m] - expf(Y[n * M + m]) * total;
  }
}

unsigned rowGrid(int64_t N) { return gridFor(N, kWarpsPerBlock, 132 * 64); }

// out (N, W0 + P) = [X[:, c0:c0+W0] | Z]; 2-D grid: x over columns, y over rows.
__global__ void packColumnsKernel(int64_t N, const float* X, int64_t ldx, int64_t c0, int64_t W0,
                                  const float* Z, int64_t P, float* out) {
  const int64_t W = W0 + P;
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= W) return;
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y)
    out[n * W + j] = j < W0 ? X[n * ldx + c0 + j] : Z[n * P + (j - W0)];
}

__global__ void unpackColumnsBackwardKernel(int64_t N, const float* dOut, int64_t W0, int64_t P,
                                            float* dX, int64_t ldx, int64_t c0, float* dZ) {
  const int64_t W = W0 + P;
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= W) return;
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    const float g = dOut[n * W + j];
    if (j < W0) dX[n * ldx + c0 + j] += g;
    else if (dZ) dZ[n * P + (j - W0)] = g;
  }
}

dim3 columnGrid(int64_t W, int64_t N) {
  return dim3(static_cast<unsigned>(ceilDiv(W, kThreads)),
              static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(N, 1), 65535)));
}

}  // namespace

void axpy(int64_t n, float alpha, const float* x, float* y, Stream stream) {
  launchMap("axpy", n, aligned16(x) && aligned16(y), AxpyOp{alpha, x, y}, stream);
}
void scale(int64_t n, float alpha, const float* x, float* out, Stream stream) {
  launchMap("scale", n, aligned16(x) && aligned16(out), ScaleOp{alpha, x, out}, stream);
}
void reluBackward(int64_t n, const float* h, float* dh, Stream stream) {
  launchMap("reluBackward", n, aligned16(h) && aligned16(dh), ReluBackwardOp{h, dh}, stream);
}

void fill(int64_t n, float value, float* dst, Stream stream) {
  launchMap("fill", n, aligned16(dst), FillOp{value, dst}, stream);
}

void columnSum(int64_t N, int64_t M, const float* X, float beta, float* v, Stream stream) {
  if (M <= 0) return;
  const int64_t slabs = std::max<int64_t>(1, std::min<int64_t>(kColSlabs, ceilDiv(N, 256)));
  const int64_t rowsPerSlab = std::max<int64_t>(1, ceilDiv(N, slabs));
  double* partial = static_cast<double*>(deviceAlloc(sizeof(double) * slabs * M, stream));
  const cudaStream_t s = asStream(stream);
  columnSumPartialKernel<<<dim3(static_cast<unsigned>(ceilDiv(M, 32)), static_cast<unsigned>(slabs)),
                           dim3(32, 8), 0, s>>>(N, M, X, rowsPerSlab, partial);
  cudaError_t st = cudaGetLastError();
  if (st == cudaSuccess) {
    columnSumFinishKernel<<<gridFor(M, kThreads, 1 << 30), kThreads, 0, s>>>(
        M, static_cast<int>(slabs), partial, beta, v);
    st = cudaGetLastError();
  }
  deviceFree(partial, stream);
  HGAD_CUDA_CHECK(st, "columnSum", sizes("N", N, "M", M));
}

void rowSum(int64_t N, int64_t M, const float* X, float* r, Stream stream) {
  if (N <= 0) return;
  rowKernel<RowOp::kSum><<<rowGrid(N), kThreads, 0, asStream(stream)>>>(N, M, X, r);
  HGAD_CUDA_LAUNCHED("rowSum", sizes("N", N, "M", M));
}
void logSoftmaxRows(int64_t N, int64_t M, const float* X, float* Y, Stream stream) {
  if (N <= 0 || M <= 0) return;
  rowKernel<RowOp::kLogSoftmax><<<rowGrid(N), kThreads, 0, asStream(stream)>>>(N, M, X, Y);
  HGAD_CUDA_LAUNCHED("logSoftmaxRows", sizes("N", N, "M", M));
}
void logSoftmaxRowsBackward(int64_t N, int64_t M, const float* Y, const float* dY, float* dX,
                            Stream stream) {
  if (N <= 0 || M <= 0) return;
  logSoftmaxBackwardKernel<<<rowGrid(N), kThreads, 0, asStream(stream)>>>(N, M, Y, dY, dX);
  HGAD_CUDA_LAUNCHED("logSoftmaxRowsBackward", sizes("N", N, "M", M));
}

void packColumns(int64_t N, const float* X, int64_t ldx, int64_t c0, int64_t W0, const float* Z,
                 int64_t P, float* out, Stream stream) {
  if (N <= 0 || W0 + P <= 0) return;
  packColumnsKernel<<<columnGrid(W0 + P, N), kThreads, 0, asStream(stream)>>>(N, X, ldx, c0, W0, Z,
                                                                              P, out);
  HGAD_CUDA_LAUNCHED("packColumns", sizes("N", N, "ldx", ldx, "c0", c0, "W0", W0, "P", P));
}

void unpackColumnsBackward(int64_t N, const float* dOut, int64_t W0, int64_t P, float* dX,
                           int64_t ldx, int64_t c0, float* dZ, Stream stream) {
  if (N <= 0 || W0 + P <= 0) return;
  unpackColumnsBackwardKernel<<<columnGrid(W0 + P, N), kThreads, 0, asStream(stream)>>>(
      N, dOut, W0, P, dX, ldx, c0, dZ);
  HGAD_CUDA_LAUNCHED("unpackColumnsBackward",
                     sizes("N", N, "W0", W0, "P", P, "ldx", ldx, "c0", c0));
}

}  // namespace cuda
}  // namespace hgad
