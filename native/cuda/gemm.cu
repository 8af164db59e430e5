// Row-major SGEMM with fused epilogue; math as native/ops/gemm.h:
//   C = relu?(beta C + op(A) op(B) + bias[col])
// FLOPs 2 M N K; bytes at least 4 (M K + K N + M N (1 + [beta != 0])).
//
// Hand-written FP32 kernel: 128 x 128 block tile, depth 8, 256 threads each
// computing an 8 x 8 register tile (rows ty*4 + {0..3} and 64 + ty*4 + {0..3},
// columns likewise in tx), so one k step is 16 shared loads (four float4) for
// 64 FMAs. Tiles are double-buffered in shared memory (one barrier per k
// step): the next tile is fetched into registers while this one is used.
// Shared tiles are k-major, As[k][m] and Bs[k][n], rows padded by 4 floats so
// the transposing stores (an operand whose k is contiguous in memory) spread
// over all 32 banks and the float4 reads stay 16-byte aligned. Each
// transpose case has its own loader (template parameters): the contiguous
// direction of the stored matrix is read with float4 when the base is
// 16-byte aligned and ld % 4 == 0, else per element; ragged edges read zeros.
// When the output has fewer tiles than the device has multiprocessors and K
// is deep (weight gradients: M, N ~ 200-712, K = N_samples), K is split over
// gridDim.z into slabs of partial sums, added in a fixed order by a second
// kernel that applies the epilogue (deterministic). The optional TF32 tensor
// core kernel is gemm_tf32.cu; cuBLAS, when it can be loaded, gemm_cublas.cu.
#include <algorithm>
#include <cstdlib>

#include "gemm_kernels.cuh"

namespace hgad {
namespace cuda {

using detail::GemmArgs;

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 8, kPad = 4, kThreads = 256;
constexpr int kLd = kBM + kPad;  // row stride of the shared tiles (kBM == kBN)

// Loads this thread's 4 elements of a 128 x 8 operand tile. "Outer" is m for
// A and n for B; kMajor says the stored matrix has k as its slow index
// (A transposed, B not), so the 128 outer indices are contiguous.
template <bool kMajor>
__device__ __forceinline__ void loadTile(const float* P, int64_t ld, int64_t outer0, int64_t outerEnd,
                                         int64_t k0, int64_t kEnd, bool vec, float (&r)[4]) {
  const int t = threadIdx.x;
  // k-major: a thread reads 4 consecutive outer indices of one k; otherwise 4
  // consecutive k of one outer index. `inRange` says whether the run's fixed
  // index is inside the matrix, `left` how many of its 4 elements are.
  const int64_t k = kMajor ? k0 + t / 32 : k0 + (t % 2) * 4;
  const int64_t o = kMajor ? outer0 + (t % 32) * 4 : outer0 + t / 2;
  const float* p = kMajor ? P + k * ld + o : P + o * ld + k;
  const bool inRange = kMajor ? k < kEnd : o < outerEnd;
  const int64_t left = kMajor ? outerEnd - o : kEnd - k;
  if (vec && inRange && left > 3) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(p));
    r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
  } else {
#pragma unroll
    for (int e = 0; e < 4; ++e) r[e] = (inRange && e < left) ? __ldg(p + e) : 0.0f;
  }
}

template <bool kMajor>
__device__ __forceinline__ void storeTile(float* S, const float (&r)[4]) {
  const int t = threadIdx.x;
  if (kMajor) {
    *reinterpret_cast<float4*>(S + (t / 32) * kLd + (t % 32) * 4) = make_float4(r[0], r[1], r[2], r[3]);
  } else {
    const int o = t / 2, k = (t % 2) * 4;
#pragma unroll
    for (int e = 0; e < 4; ++e) S[(k + e) * kLd + o] = r[e];
  }
}

// TA: A stored (K, M); TB: B stored (N, K).
template <bool TA, bool TB>
__global__ void __launch_bounds__(kThreads, 2) sgemmKernel(GemmArgs g, bool vecA, bool vecB) {
  __shared__ __align__(16) float As[2][kBK * kLd];
  __shared__ __align__(16) float Bs[2][kBK * kLd];
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int64_t kBegin = int64_t(blockIdx.z) * g.kPerSplit;
  const int64_t kEnd = min(g.K, kBegin + g.kPerSplit);
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  float ra[4], rb[4];
  int buf = 0;
  if (kBegin < kEnd) {
    loadTile<TA>(g.A, g.lda, m0, g.M, kBegin, kEnd, vecA, ra);
    loadTile<!TB>(g.B, g.ldb, n0, g.N, kBegin, kEnd, vecB, rb);
    storeTile<TA>(As[0], ra);
    storeTile<!TB>(Bs[0], rb);
    __syncthreads();
  }
  for (int64_t k0 = kBegin; k0 < kEnd; k0 += kBK) {
    const bool more = k0 + kBK < kEnd;
    if (more) {
      loadTile<TA>(g.A, g.lda, m0, g.M, k0 + kBK, kEnd, vecA, ra);
      loadTile<!TB>(g.B, g.ldb, n0, g.N, k0 + kBK, kEnd, vecB, rb);
    }
    const float* as = As[buf];
    const float* bs = Bs[buf];
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(as + kk * kLd + ty * 4);
      const float4 a1 = *reinterpret_cast<const float4*>(as + kk * kLd + 64 + ty * 4);
      const float4 b0 = *reinterpret_cast<const float4*>(bs + kk * kLd + tx * 4);
      const float4 b1 = *reinterpret_cast<const float4*>(bs + kk * kLd + 64 + tx * 4);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
      storeTile<TA>(As[buf ^ 1], ra);
      storeTile<!TB>(Bs[buf ^ 1], rb);
      __syncthreads();
      buf ^= 1;
    }
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t row = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float v[4] = {acc[i][4 * h], acc[i][4 * h + 1], acc[i][4 * h + 2], acc[i][4 * h + 3]};
      detail::gemmStore4(g, row, n0 + h * 64 + tx * 4, v);
    }
  }
}

// C = epilogue(sum over splits of partial), the splits added in order.
__global__ void splitKReduceKernel(GemmArgs g, int splits) {
  const int64_t MN = g.M * g.N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < MN;
       i += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) acc += g.partial[s * MN + i];
    const int64_t row = i / g.N, col = i % g.N;
    float* c = g.C + row * g.ldc + col;
    *c = detail::gemmEpilogue(g, acc, g.beta != 0.0f ? *c : 0.0f, col);
  }
}

// After cuBLAS: C = relu?(C + bias).
__global__ void biasReluKernel(int64_t M, int64_t N, float* C, int64_t ldc, const float* bias,
                               bool relu) {
  const int64_t MN = M * N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < MN;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / N, col = i % N;
    float v = C[row * ldc + col];
    if (bias) v += bias[col];
    if (relu && v < 0.0f) v = 0.0f;
    C[row * ldc + col] = v;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

std::string shapeSizes(const GemmShape& s) {
  return sizes("M", s.M, "N", s.N, "K", s.K, "transA", s.transA, "transB", s.transB, "lda", s.lda,
               "ldb", s.ldb, "ldc", s.ldc);
}

void tiledGemm(const GemmShape& s, const float* A, const float* B, float beta, float* C,
               const float* bias, bool relu, cudaStream_t stream, bool tf32, const char* op) {
  GemmArgs g{s.M, s.N, std::max<int64_t>(s.K, 0), s.lda, s.ldb, s.ldc, A, B, C, beta, bias, relu,
             aligned16(C) && s.ldc % 4 == 0, 0, nullptr};
  const int64_t tilesX = ceilDiv(s.N, kBN), tilesY = ceilDiv(s.M, kBM);
  if (tilesY > 65535) throw CudaError(std::string(op) + ": M too large (" + shapeSizes(s) + ")");
  const int64_t sms = detail::multiprocessorCount();
  int64_t splits = 1;
  if (tilesX * tilesY < sms && g.K >= 1024)
    splits = std::min<int64_t>({ceilDiv(2 * sms, tilesX * tilesY), g.K / 256, 64});
  splits = std::max<int64_t>(splits, 1);
  g.kPerSplit = ceilDiv(ceilDiv(std::max<int64_t>(g.K, 1), splits), 16) * 16;
  splits = std::max<int64_t>(1, ceilDiv(g.K, g.kPerSplit));
  if (splits > 1) g.partial = static_cast<float*>(deviceAlloc(sizeof(float) * splits * s.M * s.N, stream));
  const dim3 grid(static_cast<unsigned>(tilesX), static_cast<unsigned>(tilesY), static_cast<unsigned>(splits));
  const bool vecA = aligned16(A) && s.lda % 4 == 0, vecB = aligned16(B) && s.ldb % 4 == 0;
  if (tf32) {
    detail::launchTf32Gemm(s.transA, s.transB, g, grid, stream);
  } else if (s.transA) {
    if (s.transB) sgemmKernel<true, true><<<grid, kThreads, 0, stream>>>(g, vecA, vecB);
    else sgemmKernel<true, false><<<grid, kThreads, 0, stream>>>(g, vecA, vecB);
  } else {
    if (s.transB) sgemmKernel<false, true><<<grid, kThreads, 0, stream>>>(g, vecA, vecB);
    else sgemmKernel<false, false><<<grid, kThreads, 0, stream>>>(g, vecA, vecB);
  }
  cudaError_t st = cudaGetLastError();
  if (splits > 1) {
    if (st == cudaSuccess) {
      splitKReduceKernel<<<detail::gridFor(s.M * s.N, 256), 256, 0, stream>>>(g, static_cast<int>(splits));
      st = cudaGetLastError();
    }
    deviceFree(g.partial, stream);
  }
  HGAD_CUDA_CHECK(st, op, shapeSizes(s) + " splits=" + std::to_string(splits));
}

bool cublasDisabledByEnv() {
  const char* e = std::getenv("HGAD_CUBLAS");
  return e && (e[0] == '0' || e[0] == 'n' || e[0] == 'N' || e[0] == 'f' || e[0] == 'F');
}

bool fitsInt(const GemmShape& s) {
  const int64_t lim = 2147483647;
  return s.M <= lim && s.N <= lim && s.K <= lim && s.lda <= lim && s.ldb <= lim && s.ldc <= lim;
}

}  // namespace

bool cublasAvailable() { return !cublasDisabledByEnv() && detail::cublasLoad(); }

const char* gemmBackendName(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::kAuto: return cublasAvailable() ? "cublas" : "tiled";
    case GemmBackend::kTiled: return "tiled";
    case GemmBackend::kTiledTf32: return "tiled-tf32";
    case GemmBackend::kCublas: return "cublas";
    case GemmBackend::kCublasTf32: return "cublas-tf32";
  }
  return "unknown";
}

void gemm(const GemmShape& s, const float* A, const float* B, float beta, float* C,
          const float* bias, bool relu, Stream stream, GemmBackend backend) {
  if (s.M <= 0 || s.N <= 0) return;
  const cudaStream_t st = asStream(stream);
  const bool wantCublas = backend == GemmBackend::kCublas || backend == GemmBackend::kCublasTf32 ||
                          (backend == GemmBackend::kAuto && cublasAvailable());
  if (wantCublas && s.K > 0 && fitsInt(s)) {
    if (!detail::cublasLoad()) throw CudaError("gemm: cuBLAS was requested but libcublas could not be loaded");
    detail::cublasGemmRowMajor(s, A, B, beta, C, st, backend == GemmBackend::kCublasTf32);
    if (bias || relu) {
      biasReluKernel<<<detail::gridFor(s.M * s.N, 256), 256, 0, st>>>(s.M, s.N, C, s.ldc, bias, relu);
      HGAD_CUDA_LAUNCHED("gemm(bias/relu)", shapeSizes(s));
    }
    return;
  }
  tiledGemm(s, A, B, beta, C, bias, relu, st, backend == GemmBackend::kTiledTf32,
            backend == GemmBackend::kTiledTf32 ? "gemm(tf32)" : "gemm");
}

}  // namespace cuda
}  // namespace hgad
