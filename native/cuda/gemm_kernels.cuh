// Internal: arguments and the shared epilogue of the GEMM kernels (gemm.cu,
// gemm_tf32.cu). With split-K the kernels write raw partial sums (one slab
// of M x N per K split) and gemmSplitKReduce applies the epilogue.
#pragma once
#include "cuda_common.cuh"

namespace hgad {
namespace cuda {
namespace detail {

struct GemmArgs {
  int64_t M, N, K, lda, ldb, ldc;
  const float* A;
  const float* B;
  float* C;
  float beta;
  const float* bias;
  bool relu;
  bool vecC;          // C 16-byte aligned and ldc % 4 == 0
  int64_t kPerSplit;  // K range of one gridDim.z slice (multiple of 16)
  float* partial;     // (splits, M, N) when gridDim.z > 1, else null
};

__device__ __forceinline__ float gemmEpilogue(const GemmArgs& g, float acc, float c, int64_t col) {
  float v = acc;
  if (g.beta != 0.0f) v += g.beta * c;
  if (g.bias) v += g.bias[col];
  if (g.relu && v < 0.0f) v = 0.0f;
  return v;
}

// Stores 4 consecutive results of row `row` starting at column `col`.
__device__ __forceinline__ void gemmStore4(const GemmArgs& g, int64_t row, int64_t col,
                                           const float (&v)[4]) {
  if (row >= g.M) return;
  if (g.partial) {
    float* p = g.partial + (int64_t(blockIdx.z) * g.M + row) * g.N + col;
#pragma unroll
    for (int e = 0; e < 4; ++e)
      if (col + e < g.N) p[e] = v[e];
    return;
  }
  float* c = g.C + row * g.ldc + col;
  if (g.vecC && col + 3 < g.N) {
    float4 old = make_float4(0.f, 0.f, 0.f, 0.f);
    if (g.beta != 0.0f) old = *reinterpret_cast<const float4*>(c);
    float4 out;
    out.x = gemmEpilogue(g, v[0], old.x, col);
    out.y = gemmEpilogue(g, v[1], old.y, col + 1);
    out.z = gemmEpilogue(g, v[2], old.z, col + 2);
    out.w = gemmEpilogue(g, v[3], old.w, col + 3);
    *reinterpret_cast<float4*>(c) = out;
    return;
  }
#pragma unroll
  for (int e = 0; e < 4; ++e)
    if (col + e < g.N) c[e] = gemmEpilogue(g, v[e], g.beta != 0.0f ? c[e] : 0.0f, col + e);
}

void launchTf32Gemm(bool transA, bool transB, const GemmArgs& g, dim3 grid, cudaStream_t stream);

// cuBLAS loaded with dlopen (gemm_cublas.cu): whether it loaded, and the
// row-major product C = beta C + op(A) op(B) (no bias, no relu).
bool cublasLoad();
void cublasGemmRowMajor(const GemmShape& s, const float* A, const float* B, float beta, float* C,
                        cudaStream_t stream, bool tf32);

}  // namespace detail
}  // namespace cuda
}  // namespace hgad
