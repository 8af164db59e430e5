// The CPU GEMM's schedule for deep products with a small C (the weight
// gradients: M x N of 200 x 712 or 712 x 356, K = 16384), chosen by gemm()
// in gemm.cc: one task per thread over the whole K loop, split along M, N or
// K, or the product run as its transpose when that packs less.
#include <algorithm>
#include <cstdint>

#include "gemm_driver.h"
#include "gemm_microkernels.h"
#include "gemm_pack.h"
#include "threadpool.h"

namespace hgad::gemm_detail {

// Whether the per-thread schedule suits this product: many K blocks, and a C
// slice per thread that stays in L2 (at most 1 MB each: the first layer's dW
// on one thread, 712 x 356 floats, measured 2% faster here than in the shared
// schedule).
bool usePerThread(const GemmShape& s, const Kernel& kern, int threads) {
  return kern.perThreadDeep && s.K >= 8 * kern.kc && s.M * s.N * 4 <= threads * (1 << 20);
}

namespace {

// Deep products with a small C (the weight gradients: M x N of 200 x 712 or
// 712 x 356, K = 16384) as one task per thread, each owning a slice of C
// along its longer side and running the whole K loop on it with its own
// packed operands. The shared schedule below needs a round (a wake-up and a
// join) per K block, 40+ of them here, and the slowest thread sets each
// round's pace; here the threads meet once. Each packs the other operand
// whole, which costs little when that side is short. kern is the deep kernel
// (Kernel::deep).
// With M < N the threads split K instead: split along N, each would read all
// of A (in place: a strided cache line per k step and panel), where split
// along K each reads half of it and packs all of B's columns for half the
// depth, the same packing in total. Thread 0 accumulates into C, each other
// thread into an M x N scratch of its own, added in (with bias and ReLU) at
// the end. On the second layer's dW (200 x 712, K = 16384), AVX2, two threads,
// interleaved: 194-197 -> 202-204 GFLOP/s; on the first (M >= N) splitting K
// measured 1-2% slower, so it keeps splitting M.
void gemmPackedPerThread(const GemmShape& s, const Kernel& kern, const float* A, const float* B, float beta,
                         float* C, const float* bias, bool relu, int threads) {
  const int MR = kern.mr, NR = kern.nr;
  const int64_t M = s.M, N = s.N, K = s.K;
  const bool splitK = M < N && threads > 1;
  const int64_t nKBlocks = ceilDiv(splitK ? ceilDiv(K, threads) : K, kern.kc);
  const int64_t kcMax = ceilDiv(splitK ? ceilDiv(K, threads) : K, nKBlocks);
  const bool splitM = M >= N;
  const int64_t unit = splitM ? MR : NR;
  const int64_t units = splitK ? threads : ceilDiv(splitM ? M : N, unit);
  // partial: (threads - 1, M, N), the sums of threads 1.. over their depth ranges
  float* partial = splitK ? threadScratch(ScratchUse::kSplitK).get(static_cast<size_t>((threads - 1) * M * N)) : nullptr;
  auto task = [&](int64_t t) {
    const int64_t u0 = units * t / threads, u1 = units * (t + 1) / threads;
    if (u0 >= u1) return;
    const int64_t r0 = splitM && !splitK ? u0 * unit : 0, r1 = splitM && !splitK ? std::min(M, u1 * unit) : M;
    const int64_t c0 = splitM || splitK ? 0 : u0 * unit, c1 = splitM || splitK ? N : std::min(N, u1 * unit);
    const int64_t k0 = splitK ? K * t / threads : 0, k1 = splitK ? K * (t + 1) / threads : K;
    const bool own = splitK && t > 0;
    float* const Ct = own ? partial + (t - 1) * M * N : C;
    if (k0 >= k1) return own ? std::fill(Ct, Ct + M * N, 0.0f) : void();
    const int64_t ldc = own ? N : s.ldc;
    const float tBeta = own ? 0.0f : beta;
    const float* const tBias = splitK ? nullptr : bias;
    const bool tRelu = !splitK && relu;
    const int64_t nPanels = ceilDiv(c1 - c0, NR);
    const int64_t mcMax = std::min(kern.mc, ceilDiv(r1 - r0, MR) * MR);
    float* packedB = threadScratch(ScratchUse::kPackB).get(static_cast<size_t>(kcMax * nPanels * NR));
    float* packedA = kern.inPlaceA ? nullptr : threadScratch(ScratchUse::kPackA).get(static_cast<size_t>(mcMax * kcMax));
    for (int64_t pc = k0; pc < k1; pc += kcMax) {
      const int64_t kc = std::min(kcMax, k1 - pc);
      const bool first = pc == k0, last = pc + kc == k1;
      const float blockBeta = first ? tBeta : 1.0f;
      const float* blockBias = last ? tBias : nullptr;
      packBRange(s, B, c0, c1 - c0, pc, kc, NR, packedB);
      for (int64_t i0 = r0; i0 < r1; i0 += mcMax) {
        const int64_t mc = std::min(mcMax, r1 - i0);
        const int64_t mPanels = ceilDiv(mc, MR);
        APanels ap = aInPlace(s, A, i0, pc, MR);
        if (!kern.inPlaceA) {
          packABlock(s, A, i0, mc, pc, kc, MR, packedA);
          ap = aPacked(packedA, kc, MR);
        }
        for (int64_t p = 0; p < nPanels; ++p) {
          const int64_t j0 = c0 + p * NR;
          const int nr = static_cast<int>(std::min<int64_t>(NR, c1 - j0));
          const MicroKernel mk = (kern.half && 2 * nr <= NR) ? kern.half : kern.full;
          for (int64_t q = 0; q < mPanels; ++q) {
            const int64_t rq = i0 + q * MR;
            mk(kc, ap.base + q * ap.panelStride, ap.rowStride, ap.kStride, packedB + p * NR * kc, Ct + rq * ldc + j0, ldc,
               static_cast<int>(std::min<int64_t>(MR, r1 - rq)), nr, blockBeta, blockBias ? blockBias + j0 : nullptr,
               last && tRelu);
          }
        }
      }
    }
  };
  parallelTasks(threads, task);
  if (!splitK) return;
  parallelFor(M, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* ci = C + i * s.ldc;
      for (int64_t j = 0; j < N; ++j) {
        float v = ci[j];
        for (int t = 1; t < threads; ++t) v += partial[((t - 1) * M + i) * N + j];
        ci[j] = epilogue(v, 0.0f, 0.0f, bias, j, relu);
      }
    }
  });
}

// Columns of B each thread of gemmPackedPerThread packs per K block.
int64_t packedColumnsPerThread(int64_t M, int64_t N, int threads) { return M >= N ? N : ceilDiv(N, threads); }

// A deep product runs as its transpose, C^T = op(B)^T op(A)^T, when that packs
// less: B is packed for every K block, while A is read in place. For the second
// layer's dW (dY^T (200 x 16384) . h (16384 x 712)) each thread would pack half
// of h, 356 of its 712 columns; transposed it packs all of dY, 200 columns, and
// reads h in place. The K x N copy it saves is what kept this shape behind
// OpenBLAS; C^T (a few hundred KB) is then added into C in one pass.
bool runTransposed(const GemmShape& s, const Kernel& kern, int threads) {
  return kern.inPlaceA && kern.transposeDeep && packedColumnsPerThread(s.N, s.M, threads) < packedColumnsPerThread(s.M, s.N, threads);
}

void gemmTransposedPerThread(const GemmShape& s, const Kernel& kern, const float* A, const float* B, float beta,
                             float* C, const float* bias, bool relu, int threads) {
  GemmShape t;
  t.transA = !s.transB;
  t.transB = !s.transA;
  t.M = s.N;
  t.N = s.M;
  t.K = s.K;
  t.lda = s.ldb;
  t.ldb = s.lda;
  t.ldc = s.M;
  // ct: (N, M), the product transposed
  float* ct = threadScratch(ScratchUse::kTransposedC).get(static_cast<size_t>(s.M * s.N));
  gemmPackedPerThread(t, kern, B, A, 0.0f, ct, nullptr, false, threads);
  parallelFor(s.M, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* ci = C + i * s.ldc;
      for (int64_t j = 0; j < s.N; ++j)
        ci[j] = epilogue(ct[j * s.M + i], beta, beta != 0.0f ? ci[j] : 0.0f, bias, j, relu);
    }
  });
}

}  // namespace

void gemmDeep(const GemmShape& s, const Kernel& kern, const float* A, const float* B, float beta, float* C,
              const float* bias, bool relu, int threads) {
  if (runTransposed(s, kern, threads))
    gemmTransposedPerThread(s, kern, A, B, beta, C, bias, relu, threads);
  else
    gemmPackedPerThread(s, kern, A, B, beta, C, bias, relu, threads);
}

}  // namespace hgad::gemm_detail
