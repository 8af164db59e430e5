// CPU GEMM: C = relu?(beta * C + op(A) op(B) + bias[col]), row-major.
//
// Scheme (GotoBLAS / BLIS): the product is cut into blocks that each live in
// one cache level, and the innermost work is an MR x NR register tile
//   for jc in N step NC          (B block KC x NC: shared, packed once, in L3)
//     for pc in K step KC        (pack op(B)[pc, jc] into NR-wide panels)
//       for ic in M step MC      (one task: pack op(A)[ic, pc] into MR-tall panels, L2)
//         for jr in NC step NR   (the KC x NR B micro-panel stays in L1)
//           for ir in MC step MR (microkernel: MR x NR accumulators in registers)
// Packing lays both operands out in exactly the order the microkernel reads
// them, so one microkernel serves all four transpose combinations and every
// load in the k loop is sequential and aligned. Panels are zero-padded to
// MR / NR, so ragged edges cost only masked stores.
//
// Block sizes, chosen for this Zen 5 class part (48 KB L1d, 1 MB L2 per core,
// shared L3) by measuring the flow's layer shapes:
//  * AVX-512 tile 12x32: 24 zmm accumulators + 2 B vectors + 1 broadcast
//    register. 24 independent FMA chains cover the 4-cycle latency on two
//    512-bit FMA pipes (~92% of peak in cache); 14x32, 8x48 and 6x64 were no
//    faster, and 32 columns waste less on ragged N (200, 356) than 48 or 64.
//  * AVX2 tile 6x16: the classic 12-accumulator Haswell shape (16 ymm regs),
//    KC = 384 as OpenBLAS's Haswell sgemm: the 24 KB B micro-panel stays in
//    a 32 KB L1 (AVX2-only parts), and K = 712 splits into 2 blocks, not 3.
//  * KC = 512 (AVX-512): every K block re-reads and re-writes C, and with
//    threads each block is one task round (a wake-up and a join), so deep
//    blocks pay off more than keeping the 64 KB B micro-panel in L1 (it
//    streams from L2 at a fraction of L2 bandwidth); KC = 256 measured 10-15%
//    slower on the K = 712 and K = 16384 shapes. K is split into equal
//    blocks (712 -> 2 x 356), never into a full block plus a thin remainder.
//  * MC = 144: the packed A block (MC*KC*4 = 288 KB) stays in L2 while it is
//    swept over all of NC; larger MC also leaves too few blocks to balance
//    two threads when M is small (weight gradients: M = 200, 712).
//  * NC = 4096 covers the whole N of the target shapes, so B is packed once
//    per K block and the shared L3 holds it.
// The epilogue is fused into the microkernel store: beta applies on the first
// K block only (later blocks accumulate into C), bias and relu on the last.
// Threads: each K block is one parallelTasks round over (MC block x N range)
// tasks. B panels are shared and packed by whichever task claims them first
// (an atomic per panel), so there is no separate packing phase and barrier;
// each thread packs its A block into its own thread_local 64-byte aligned
// scratch. Deep products with a small C (weight gradients) instead run one
// task per thread over the whole K loop (gemm_deep.cc), with a kernel of
// their own where the set has one (AVX2: 4x24), split along K when M < N, or
// as their transpose when that packs less. Small
// problems run directly without packing. The microkernels are in
// gemm_microkernels.h, the packing in gemm_pack.h, the kernel table in gemm_select.cc.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gemm_driver.h"
#include "gemm_microkernels.h"
#include "gemm_pack.h"
#include "threadpool.h"

namespace hgad {
namespace {

using namespace gemm_detail;

enum PanelState : int { kUnpacked, kPacking, kReady };

inline void cpuRelax() {
#ifdef HGAD_GEMM_X86
  _mm_pause();
#endif
}



void gemmDirect(const GemmShape& s, const float* A, const float* B, float beta, float* C,
                const float* bias, bool relu) {
  for (int64_t i = 0; i < s.M; ++i) {
    float* ci = C + i * s.ldc;
    for (int64_t j = 0; j < s.N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < s.K; ++k) {
        const float a = s.transA ? A[k * s.lda + i] : A[i * s.lda + k];
        const float b = s.transB ? B[j * s.ldb + k] : B[k * s.ldb + j];
        acc += a * b;
      }
      ci[j] = epilogue(acc, beta, beta != 0.0f ? ci[j] : 0.0f, bias, j, relu);
    }
  }
}

// Below this many multiply-adds packing and threading cost more than they save.
constexpr int64_t kDirectMacs = 32 * 1024;
// Below this many multiply-adds per K block a second thread is not worth waking.
constexpr int64_t kSerialMacs = 1 << 20;

void gemmPacked(const GemmShape& s, const float* A, const float* B, float beta, float* C,
                const float* bias, bool relu) {
  const Kernel& kern = selectKernel();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t M = s.M, N = s.N, K = s.K;

  // Equal-sized blocks avoid a thin remainder block that would pay full
  // per-block overhead for little work.
  const int64_t nKBlocks = ceilDiv(K, kern.kc);
  const int64_t kcMax = ceilDiv(K, nKBlocks);
  const int64_t nNBlocks = ceilDiv(N, kern.nc);
  const int64_t ncMax = ceilDiv(ceilDiv(N, nNBlocks), NR) * NR;
  const int threads = threadCount();
  // With few M blocks, a count that is not a multiple of the thread count
  // leaves a thread idle for a whole block (712 rows: 5 blocks -> 3 + 2).
  int64_t nMBlocks = ceilDiv(M, kern.mc);
  if (nMBlocks < 8 * threads) nMBlocks = ceilDiv(nMBlocks, threads) * threads;
  const int64_t mcMax = ceilDiv(ceilDiv(M, nMBlocks), MR) * MR;
  nMBlocks = ceilDiv(M, mcMax);

  float* packedB = threadScratch(ScratchUse::kPackB).get(static_cast<size_t>(kcMax * ncMax));
  std::unique_ptr<std::atomic<int>[]> panelState(new std::atomic<int>[ncMax / NR]);

  for (int64_t jc = 0; jc < N; jc += ncMax) {
    const int64_t nc = std::min(ncMax, N - jc);
    const int64_t nPanels = ceilDiv(nc, NR);
    // Split the N range too when there are too few M blocks to keep every
    // thread busy (the weight-gradient shapes have small M).
    const int64_t nJ = std::min(nPanels, std::max<int64_t>(1, ceilDiv(2 * threads, nMBlocks)));

    for (int64_t pc = 0; pc < K; pc += kcMax) {
      const int64_t kc = std::min(kcMax, K - pc);
      const bool first = pc == 0, last = pc + kc == K;
      const float blockBeta = first ? beta : 1.0f;
      const float* blockBias = last ? bias : nullptr;
      const bool blockRelu = last && relu;
      const bool parallel = threads > 1 && M * nc * kc >= kSerialMacs;

      for (int64_t p = 0; p < nPanels; ++p) panelState[p].store(kUnpacked, std::memory_order_relaxed);

      auto task = [&](int64_t t) {
        const int64_t ib = t / nJ, jb = t % nJ;
        const int64_t i0 = ib * mcMax;
        if (i0 >= M) return;
        const int64_t p0 = nPanels * jb / nJ, p1 = nPanels * (jb + 1) / nJ;
        // B panels are packed by whichever task claims them first, so packing
        // needs no separate parallel phase and barrier per K block, and
        // concurrent tasks share the packing panel by panel.
        for (int64_t p = p0; p < p1; ++p) {
          int expected = kUnpacked;
          if (!panelState[p].compare_exchange_strong(expected, kPacking, std::memory_order_relaxed))
            continue;
          const int64_t j0 = jc + p * NR;
          packBPanel(s, B, j0, static_cast<int>(std::min<int64_t>(NR, jc + nc - j0)), pc, kc, NR,
                     packedB + p * NR * kc);
          panelState[p].store(kReady, std::memory_order_release);
        }
        const int64_t mc = std::min(mcMax, M - i0);
        const int64_t mPanels = ceilDiv(mc, MR);
        APanels ap = aInPlace(s, A, i0, pc, MR);
        if (!kern.inPlaceA) {
          float* packedA = threadScratch(ScratchUse::kPackA).get(static_cast<size_t>(mcMax * kcMax));
          packABlock(s, A, i0, mc, pc, kc, MR, packedA);
          ap = aPacked(packedA, kc, MR);
        }
        for (int64_t p = p0; p < p1; ++p) {
          while (panelState[p].load(std::memory_order_acquire) != kReady) cpuRelax();
          const int64_t j0 = jc + p * NR;
          const int nr = static_cast<int>(std::min<int64_t>(NR, jc + nc - j0));
          const MicroKernel mk = (kern.half && 2 * nr <= NR) ? kern.half : kern.full;
          const float* bp = packedB + p * NR * kc;
          const float* pbias = blockBias ? blockBias + j0 : nullptr;
          for (int64_t q = 0; q < mPanels; ++q) {
            const int64_t r0 = i0 + q * MR;
            mk(kc, ap.base + q * ap.panelStride, ap.rowStride, ap.kStride, bp, C + r0 * s.ldc + j0, s.ldc,
               static_cast<int>(std::min<int64_t>(MR, M - r0)), nr, blockBeta, pbias, blockRelu);
          }
        }
      };
      const int64_t tasks = nMBlocks * nJ;
      if (parallel) {
        parallelTasks(tasks, task);
      } else {
        for (int64_t t = 0; t < tasks; ++t) task(t);
      }
    }
  }
}

// Wall time spent in packed float products, for the benchmarks' share of time
// in GEMM against everything else (a clock read per product: nanoseconds
// against the product's milliseconds).
struct Profile {
  std::atomic<int64_t> calls{0}, nanoseconds{0};
};

Profile& profile() {
  static Profile p;
  return p;
}

}  // namespace

void gemm(const GemmShape& s, const float* A, const float* B, float beta, float* C,
          const float* bias, bool relu) {
  if (s.M <= 0 || s.N <= 0) return;
  if (s.K <= 0) {
    for (int64_t i = 0; i < s.M; ++i) {
      float* ci = C + i * s.ldc;
      for (int64_t j = 0; j < s.N; ++j)
        ci[j] = epilogue(0.0f, beta, beta != 0.0f ? ci[j] : 0.0f, bias, j, relu);
    }
    return;
  }
  if (s.M * s.N * s.K < kDirectMacs) {
    gemmDirect(s, A, B, beta, C, bias, relu);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int threads = threadCount();
  const Kernel& kern = selectKernel();
  // One thread takes the per-thread schedule too: it packs B a K block at a
  // time with each stored row read once (packBRange), where the shared
  // schedule packs it panel by panel.
  if (usePerThread(s, kern, threads))
    gemmDeep(s, kern.deep ? *kern.deep : kern, A, B, beta, C, bias, relu, threads);
  else
    gemmPacked(s, A, B, beta, C, bias, relu);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
  profile().calls.fetch_add(1, std::memory_order_relaxed);
  profile().nanoseconds.fetch_add(ns.count(), std::memory_order_relaxed);
}

GemmProfile gemmProfile() {
  return {profile().calls.load(std::memory_order_relaxed),
          1e-9 * static_cast<double>(profile().nanoseconds.load(std::memory_order_relaxed))};
}

void gemm(const GemmShape& s, const double* A, const double* B, double beta, double* C,
          const double* bias, bool relu) {
  gemmReference<double>(s, A, B, beta, C, bias, relu);
}

}  // namespace hgad
