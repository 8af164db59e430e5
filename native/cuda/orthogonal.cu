// CUDA kernel of the Haar rotation (math in native/ops/orthogonal.h; the CPU
// reference is native/cpu/orthogonal.cc): unblocked Householder QR, one
// reflector at a time. Per column k, one block forms the reflector (a norm
// reduction), then one block per trailing column applies it (a dot product
// and an update); Q is formed by applying the reflectors last to first to
// the identity, and the signs and the transpose to row-major come last. It
// runs once per coupling block at model creation: about 3C launches.
#include "cuda_common.cuh"
#include "device_api.h"
#include "orthogonal.h"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__device__ float blockSum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? shared[threadIdx.x] : 0.f;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  const float total = shared[0];
  __syncthreads();
  return total;
}

// Reflector of column k (rows k..C-1), dlarfg: v[1:] and beta written over it, tau[k].
__global__ void reflectorKernel(int64_t C, int64_t k, float* a, float* tau) {
  __shared__ float shared[32];
  float* x = a + k * C + k;
  const int64_t m = C - k;
  float s = 0.f;
  for (int64_t i = 1 + threadIdx.x; i < m; i += blockDim.x) s += x[i] * x[i];
  const float xnorm = sqrtf(blockSum(s, shared));
  const float alpha = x[0];
  if (xnorm == 0.f) {
    if (threadIdx.x == 0) tau[k] = 0.f;
    return;
  }
  const float beta = -copysignf(hypotf(alpha, xnorm), alpha);
  const float scale = 1.f / (alpha - beta);
  for (int64_t i = 1 + threadIdx.x; i < m; i += blockDim.x) x[i] *= scale;
  __syncthreads();
  if (threadIdx.x == 0) {
    x[0] = beta;
    tau[k] = (beta - alpha) / beta;
  }
}

// Columns j = j0 + blockIdx.x of y (rows k.., leading dimension C) <- (I - tau v v^T) y,
// v = column k of a below the diagonal with v[0] = 1.
__global__ void applyReflectorKernel(int64_t C, int64_t k, int64_t j0, const float* a, const float* tau, float* y) {
  __shared__ float shared[32];
  const float t = tau[k];
  if (t == 0.f) return;
  const float* v = a + k * C + k;
  float* col = y + (j0 + blockIdx.x) * C + k;
  const int64_t m = C - k;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += (i == 0 ? 1.f : v[i]) * col[i];
  const float d = t * blockSum(s, shared);
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) col[i] -= d * (i == 0 ? 1.f : v[i]);
}

__global__ void identityKernel(int64_t C, float* q) {
  const int64_t total = C * C;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x)
    q[t] = (t / C == t % C) ? 1.f : 0.f;
}

// sign[c] = sign(R_cc), with the first flipped when det(Q diag(sign)) = -1.
__global__ void signsKernel(int64_t C, const float* a, const float* tau, float* sign) {
  __shared__ float shared[32];
  float flips = 0.f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const bool negative = a[c * C + c] < 0.f;
    sign[c] = negative ? -1.f : 1.f;
    flips += (negative ? 1.f : 0.f) + (tau[c] != 0.f ? 1.f : 0.f);
  }
  const float total = blockSum(flips, shared);
  if (threadIdx.x == 0 && (static_cast<int64_t>(total) & 1)) sign[0] = -sign[0];
}

// Column-major Q in q -> row-major Q diag(sign), in place: pairs (i, c) and (c, i) swap.
__global__ void transposeSignKernel(int64_t C, const float* sign, float* q) {
  const int64_t total = C * C;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t / C, c = t % C;
    if (c < i) continue;
    const float upper = q[c * C + i], lower = q[i * C + c];  // Q(i, c), Q(c, i)
    q[i * C + c] = upper * sign[c];
    q[c * C + i] = lower * sign[i];
  }
}

}  // namespace

void haarOrthogonal(int64_t C, float* a, float* q, Stream stream) {
  if (C <= 0) return;
  const cudaStream_t s = asStream(stream);
  float* scratch = static_cast<float*>(deviceAlloc(sizeof(float) * 2 * C, stream));
  float* tau = scratch;
  float* sign = scratch + C;
  cudaError_t st = cudaSuccess;
  for (int64_t k = 0; k < C && st == cudaSuccess; ++k) {
    reflectorKernel<<<1, kThreads, 0, s>>>(C, k, a, tau);
    if (k + 1 < C) applyReflectorKernel<<<static_cast<unsigned>(C - k - 1), kThreads, 0, s>>>(C, k, k + 1, a, tau, a);
    st = cudaGetLastError();
  }
  if (st == cudaSuccess) {
    identityKernel<<<gridFor(C * C, kThreads), kThreads, 0, s>>>(C, q);
    for (int64_t k = C - 1; k >= 0 && st == cudaSuccess; --k) {
      applyReflectorKernel<<<static_cast<unsigned>(C - k), kThreads, 0, s>>>(C, k, k, a, tau, q);
      st = cudaGetLastError();
    }
  }
  if (st == cudaSuccess) {
    signsKernel<<<1, kThreads, 0, s>>>(C, a, tau, sign);
    transposeSignKernel<<<gridFor(C * C, kThreads), kThreads, 0, s>>>(C, sign, q);
    st = cudaGetLastError();
  }
  deviceFree(scratch, stream);
  HGAD_CUDA_CHECK(st, "haarOrthogonal", sizes("C", C));
}

}  // namespace cuda
}  // namespace hgad
