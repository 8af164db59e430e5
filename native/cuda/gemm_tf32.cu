// Optional TF32 tensor-core GEMM (GemmBackend::kTiledTf32, never the
// default): same contract and epilogue as gemm.cu, inputs rounded to TF32
// (10-bit mantissa), products accumulated in FP32. Expect relative errors
// ~1e-3 * sqrt(K) against FP32: for inference, not for gradient checks.
// FLOPs 2 M N K on the tensor cores (wmma m16n16k8, mma.sync under the
// hood; sm_90's wgmma would need sm_90a and is not used).
// Block tile 128 x 128 x 16, 8 warps as 2 x 4, each warp a 64 x 32 tile of
// 4 x 2 accumulator fragments. Tiles are staged row-major in shared memory
// (A as [m][k], B as [k][n], padded by 4 floats: wmma needs ldm % 4 == 0 and
// 32-byte aligned fragment pointers, which these strides keep). The epilogue
// goes fragment by fragment through a per-warp 16 x 16 staging tile, so
// ragged edges, beta, bias and relu match the FP32 kernel exactly.
#include <mma.h>

#include "gemm_kernels.cuh"

namespace hgad {
namespace cuda {
namespace detail {
namespace {

using namespace nvcuda;

constexpr int kBM = 128, kBN = 128, kBK = 16, kThreads = 256;
constexpr int kLdA = kBK + 4, kLdB = kBN + 4;

template <bool TA, bool TB>
__global__ void __launch_bounds__(kThreads) tf32GemmKernel(GemmArgs g) {
  __shared__ __align__(32) float As[kBM * kLdA];
  __shared__ __align__(32) float Bs[kBK * kLdB];
  __shared__ __align__(32) float stage[kThreads / 32][16 * 16];
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int64_t kBegin = int64_t(blockIdx.z) * g.kPerSplit;
  const int64_t kEnd = min(g.K, kBegin + g.kPerSplit);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / 4, wn = warp % 4;  // warp tile origin: (wm * 64, wn * 32)

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = kBegin; k0 < kEnd; k0 += kBK) {
    // Consecutive threads walk the stored matrix's contiguous index.
    for (int idx = threadIdx.x; idx < kBM * kBK; idx += kThreads) {
      const int i = TA ? idx % kBM : idx / kBK, k = TA ? idx / kBM : idx % kBK;
      const int64_t m = m0 + i, kk = k0 + k;
      float v = 0.0f;
      if (m < g.M && kk < kEnd) v = TA ? g.A[kk * g.lda + m] : g.A[m * g.lda + kk];
      As[i * kLdA + k] = wmma::__float_to_tf32(v);
    }
    for (int idx = threadIdx.x; idx < kBK * kBN; idx += kThreads) {
      const int j = TB ? idx / kBK : idx % kBN, k = TB ? idx % kBK : idx / kBN;
      const int64_t n = n0 + j, kk = k0 + k;
      float v = 0.0f;
      if (n < g.N && kk < kEnd) v = TB ? g.B[n * g.ldb + kk] : g.B[kk * g.ldb + n];
      Bs[k * kLdB + j] = wmma::__float_to_tf32(v);
    }
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < kBK; ks += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        wmma::load_matrix_sync(a[i], As + (wm * 64 + i * 16) * kLdA + ks, kLdA);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::load_matrix_sync(b[j], Bs + ks * kLdB + wn * 32 + j * 16, kLdB);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  float* st = stage[warp];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(st, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      // 16 rows x 4 groups of 4 columns = 64 stores of 4, two per lane.
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        const int r = (lane + 32 * q) / 4, cq = (lane + 32 * q) % 4;
        const float v[4] = {st[r * 16 + cq * 4], st[r * 16 + cq * 4 + 1], st[r * 16 + cq * 4 + 2],
                            st[r * 16 + cq * 4 + 3]};
        gemmStore4(g, m0 + wm * 64 + i * 16 + r, n0 + wn * 32 + j * 16 + cq * 4, v);
      }
      __syncwarp();
    }
}

}  // namespace

void launchTf32Gemm(bool transA, bool transB, const GemmArgs& g, dim3 grid, cudaStream_t stream) {
  if (transA) {
    if (transB) tf32GemmKernel<true, true><<<grid, kThreads, 0, stream>>>(g);
    else tf32GemmKernel<true, false><<<grid, kThreads, 0, stream>>>(g);
  } else {
    if (transB) tf32GemmKernel<false, true><<<grid, kThreads, 0, stream>>>(g);
    else tf32GemmKernel<false, false><<<grid, kThreads, 0, stream>>>(g);
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace hgad
