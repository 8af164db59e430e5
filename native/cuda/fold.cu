// Parameter folding and glue kernels of the flow and the mixture head; math as
// native/ops/fold.h and native/ops/batch.h.
//
//  affineFold (C)           C^2 globalScale evaluations (exp + log1p in double,
//                           recomputed per element: cheaper than a second
//                           launch at these sizes), C^2 multiplies or divides,
//                           forward 2 C^2 FLOPs for b, C logs for the constant;
//                           bytes 8 C^2 + 12 C + 4 (read R, g, offset; write W, b)
//  affineFoldBackward (C)   4 C^2 FLOPs + C (globalScale + globalScale');
//                           bytes 8 C^2 + 16 C + 4 (dW, R; db, g; dg, dOffset)
//  centresCompose (K,M,C)   K (M - 1) C adds; bytes 4 K M C (write) + 4 K M C (read)
//  centresComposeBackward   bytes 4 K M C (read) + 4 K M C (write)
//  gatherRows (n, C)        bytes 8 n C + 4 n C (idx, read per element from L1)
//  oneHot (N, K)            ~3 N K FLOPs; bytes 4 N K + 4 N K (labels from L1)
//  lossSums (N)             N adds per term present, plus exp + log1p per
//                           sample for logp; bytes 4 N per term present
//
// Determinism: each sum belongs to one block (or one column of threads) and
// is formed in a fixed order: per-thread double accumulation over a fixed
// stride, warp butterflies, then the warps' partials added in index order
// (lossSums adds fixed slabs of samples in slab order). No float atomics.
#include <algorithm>

#include "cuda_common.cuh"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ double globalScale(double x) {
  return 0.5 * x > 20.0 ? 0.1 * x : 0.2 * log1p(exp(0.5 * x));
}
__device__ __forceinline__ double globalScaleGrad(double x) {
  return 0.5 * x > 20.0 ? 0.1 : 0.1 / (1.0 + exp(-0.5 * x));
}

// Sum of v over the block (blockDim.x a multiple of 32) in a fixed order; the
// result is valid in thread 0. Every thread of the block must call it.
__device__ double blockSum(double v) {
  __shared__ double warpSums[32];
  v = detail::warpSum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warpSums[warp] = v;
  __syncthreads();
  double t = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) t += warpSums[w];
  __syncthreads();  // warpSums is free for the next call
  return t;
}

// Blocks r < C: row r of W and, forward, b[r]. Block r == C: logdetConst
// and, inverse, b.
__global__ void affineFoldKernel(int64_t C, const float* __restrict__ R, const float* __restrict__ g,
                                 const float* __restrict__ offset, float* __restrict__ W,
                                 float* __restrict__ b, float* __restrict__ logdetConst,
                                 bool inverse) {
  for (int64_t r = blockIdx.x; r <= C; r += gridDim.x) {
    double acc = 0.0;
    if (r < C) {
      const float* Rr = R + r * C;
      float* Wr = W + r * C;
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        const double s = globalScale(g[j]);
        const double rij = Rr[j];
        Wr[j] = static_cast<float>(inverse ? rij / s : rij * s);
        if (!inverse) acc += rij * static_cast<double>(offset[j]);
      }
      if (!inverse) {
        const double t = blockSum(acc);
        if (threadIdx.x == 0) b[r] = static_cast<float>(t);
      }
    } else {
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        const double s = globalScale(g[j]);
        acc += log(s);
        if (inverse) b[j] = static_cast<float>(-static_cast<double>(offset[j]) / s);
      }
      const double t = blockSum(acc);
      if (threadIdx.x == 0) logdetConst[0] = static_cast<float>(t);
    }
  }
}

// Block (32 columns) x (8 row lanes): lane y sums rows y, y + 8, ...; the 8
// lane sums are added in lane order.
__global__ void affineFoldBackwardKernel(int64_t C, const float* __restrict__ R,
                                         const float* __restrict__ g, const float* __restrict__ dW,
                                         const float* __restrict__ db,
                                         const float* __restrict__ dConst, float* __restrict__ dg,
                                         float* __restrict__ dOffset) {
  __shared__ double accW[8][33], accO[8][33];
  const int64_t j = int64_t(blockIdx.x) * 32 + threadIdx.x;
  double sw = 0.0, so = 0.0;
  if (j < C)
    for (int64_t i = threadIdx.y; i < C; i += 8) {
      const double rij = R[i * C + j];
      sw += static_cast<double>(dW[i * C + j]) * rij;
      so += rij * static_cast<double>(db[i]);
    }
  accW[threadIdx.y][threadIdx.x] = sw;
  accO[threadIdx.y][threadIdx.x] = so;
  __syncthreads();
  if (threadIdx.y != 0 || j >= C) return;
  double tw = 0.0, to = 0.0;
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    tw += accW[k][threadIdx.x];
    to += accO[k][threadIdx.x];
  }
  const double x = g[j];
  if (dConst) tw += static_cast<double>(dConst[0]) / globalScale(x);
  dg[j] = static_cast<float>(globalScaleGrad(x) * tw);
  dOffset[j] = static_cast<float>(to);
}

__global__ void centresComposeKernel(int64_t K, int64_t M, int64_t C, const float* __restrict__ mu,
                                     const float* __restrict__ muDelta, float* __restrict__ cent) {
  const int64_t total = K * M * C, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t c = t % C, km = t / C, m = km % M, k = km / M;
    float v = mu[k * C + c];
    if (m > 0) v += muDelta[(k * (M - 1) + m - 1) * C + c];
    cent[t] = v;
  }
}

__global__ void centresComposeBackwardKernel(int64_t K, int64_t M, int64_t C,
                                             const float* __restrict__ dcent, float* __restrict__ dmu,
                                             float* __restrict__ dDelta) {
  const int64_t total = K * M * C, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t c = t % C, km = t / C, m = km % M, k = km / M;
    const float d = dcent[t];
    if (m == 0) dmu[k * C + c] = d;
    else if (dDelta) dDelta[(k * (M - 1) + m - 1) * C + c] = d;
  }
}

__global__ void gatherRowsKernel(int64_t n, int64_t C, const uint32_t* __restrict__ src,
                                 int64_t srcRows, const int32_t* __restrict__ idx,
                                 uint32_t* __restrict__ dst) {
  const int64_t total = n * C, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t i = t / C, c = t % C;
    const int64_t r = idx[i];
    dst[t] = r >= 0 && r < srcRows ? src[r * C + c] : 0u;
  }
}

__global__ void oneHotKernel(int64_t N, int64_t K, const int32_t* __restrict__ labels,
                             float smoothing, float* __restrict__ Y) {
  const int64_t total = N * K, stride = int64_t(gridDim.x) * blockDim.x;
  const double base = static_cast<double>(smoothing) / static_cast<double>(K);
  const double hit = base + (1.0 - static_cast<double>(smoothing));
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t n = t / K, k = t % K;
    Y[t] = static_cast<float>(static_cast<int64_t>(labels[n]) == k ? hit : base);
  }
}

struct LossTerms {
  const float* p[5];  // Lg, Le, Lmi, Lgi, logp (the last two may be null)
};

// Grid (slabs, 5 terms): block (s, t) sums term t over samples
// [s * perSlab, (s + 1) * perSlab) into partial[t * slabs + s].
__global__ void lossSumsPartialKernel(int64_t N, int64_t perSlab, LossTerms terms,
                                      double* __restrict__ partial) {
  const int term = blockIdx.y;
  const float* src = terms.p[term];
  const int64_t n0 = int64_t(blockIdx.x) * perSlab, n1 = min(N, n0 + perSlab);
  double acc = 0.0;
  if (src)
    for (int64_t n = n0 + threadIdx.x; n < n1; n += blockDim.x) {
      const double v = src[n];
      if (term == 4) {
        const double x = -v;  // softplus(-logp)
        acc += x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
      } else {
        acc += v;
      }
    }
  const double t = blockSum(acc);
  if (threadIdx.x == 0) partial[int64_t(term) * gridDim.x + blockIdx.x] = t;
}

__global__ void lossSumsFinishKernel(int slabs, const double* __restrict__ partial,
                                     double* __restrict__ out) {
  const int term = threadIdx.x;
  if (term >= 5) return;
  double t = 0.0;
  for (int s = 0; s < slabs; ++s) t += partial[int64_t(term) * slabs + s];
  out[term] = t;
}

constexpr int64_t kLossSlabRows = 8192;
constexpr int64_t kLossSlabsMax = 128;

}  // namespace

void affineFold(int64_t C, const float* R, const float* g, const float* offset, float* W,
                float* b, float* logdetConst, bool inverse, Stream stream) {
  if (C < 0) return;
  affineFoldKernel<<<gridFor(C + 1, 1, 1024), kThreads, 0, asStream(stream)>>>(
      C, R, g, offset, W, b, logdetConst, inverse);
  HGAD_CUDA_LAUNCHED("affineFold", sizes("C", C, "inverse", inverse));
}

void affineFoldBackward(int64_t C, const float* R, const float* g, const float* dW,
                        const float* db, const float* dConst, float* dg, float* dOffset,
                        Stream stream) {
  if (C <= 0) return;
  affineFoldBackwardKernel<<<static_cast<unsigned>(ceilDiv(C, 32)), dim3(32, 8), 0,
                             asStream(stream)>>>(C, R, g, dW, db, dConst, dg, dOffset);
  HGAD_CUDA_LAUNCHED("affineFoldBackward", sizes("C", C));
}

void centresCompose(int64_t K, int64_t M, int64_t C, const float* mu, const float* muDelta,
                    float* cent, Stream stream) {
  const int64_t total = K * M * C;
  if (total <= 0) return;
  centresComposeKernel<<<gridFor(total, kThreads), kThreads, 0, asStream(stream)>>>(K, M, C, mu,
                                                                                  muDelta, cent);
  HGAD_CUDA_LAUNCHED("centresCompose", sizes("K", K, "M", M, "C", C));
}

void centresComposeBackward(int64_t K, int64_t M, int64_t C, const float* dcent, float* dmu,
                            float* dDelta, Stream stream) {
  const int64_t total = K * M * C;
  if (total <= 0) return;
  centresComposeBackwardKernel<<<gridFor(total, kThreads), kThreads, 0, asStream(stream)>>>(
      K, M, C, dcent, dmu, dDelta);
  HGAD_CUDA_LAUNCHED("centresComposeBackward", sizes("K", K, "M", M, "C", C));
}

template <typename T>
void gatherRows(int64_t n, int64_t C, const T* src, int64_t srcRows, const int32_t* idx, T* dst,
                Stream stream) {
  static_assert(sizeof(T) == 4, "gatherRows copies 32-bit words");
  const int64_t total = n * C;
  if (total <= 0) return;
  gatherRowsKernel<<<gridFor(total, kThreads), kThreads, 0, asStream(stream)>>>(
      n, C, reinterpret_cast<const uint32_t*>(src), srcRows, idx, reinterpret_cast<uint32_t*>(dst));
  HGAD_CUDA_LAUNCHED("gatherRows", sizes("n", n, "C", C, "srcRows", srcRows));
}
template void gatherRows<float>(int64_t, int64_t, const float*, int64_t, const int32_t*, float*, Stream);
template void gatherRows<int32_t>(int64_t, int64_t, const int32_t*, int64_t, const int32_t*, int32_t*,
                                  Stream);

void oneHot(int64_t N, int64_t K, const int32_t* labels, double smoothing, float* Y,
            Stream stream) {
  const int64_t total = N * K;
  if (total <= 0) return;
  oneHotKernel<<<gridFor(total, kThreads), kThreads, 0, asStream(stream)>>>(
      N, K, labels, static_cast<float>(smoothing), Y);
  HGAD_CUDA_LAUNCHED("oneHot", sizes("N", N, "K", K));
}

void lossSums(int64_t N, const float* Lg, const float* Le, const float* Lmi, const float* Lgi,
              const float* logp, double* out, Stream stream) {
  if (N < 0) return;
  const int64_t slabs =
      std::max<int64_t>(1, std::min<int64_t>(kLossSlabsMax, ceilDiv(N, kLossSlabRows)));
  const int64_t perSlab = std::max<int64_t>(1, ceilDiv(N, slabs));
  const LossTerms terms{{Lg, Le, Lmi, Lgi, logp}};
  double* partial = static_cast<double*>(deviceAlloc(sizeof(double) * 5 * slabs, stream));
  const cudaStream_t s = asStream(stream);
  lossSumsPartialKernel<<<dim3(static_cast<unsigned>(slabs), 5), kThreads, 0, s>>>(N, perSlab, terms,
                                                                                 partial);
  cudaError_t st = cudaGetLastError();
  if (st == cudaSuccess) {
    lossSumsFinishKernel<<<1, 32, 0, s>>>(static_cast<int>(slabs), partial, out);
    st = cudaGetLastError();
  }
  deviceFree(partial, stream);
  HGAD_CUDA_CHECK(st, "lossSums", sizes("N", N));
}

}  // namespace cuda
}  // namespace hgad
