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
//  * AVX2 tile 6x16: the classic 12-accumulator Haswell shape (16 ymm regs).
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
// scratch. Small problems run directly without packing.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "threadpool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define HGAD_GEMM_X86 1
#endif

namespace hgad {
namespace {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                             int mr, int nr, float beta, const float* bias, bool relu);

struct Kernel {
  const char* name;
  int mr, nr;
  int64_t mc, kc, nc;
  MicroKernel full;
  // Used for the last panel when it is at most nr/2 wide; null when absent.
  MicroKernel half;
};

// ---------------------------------------------------------------- portable

constexpr int kPortMR = 4, kPortNR = 16;

void kernelPortable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int mr,
                    int nr, float beta, const float* bias, bool relu) {
  float acc[kPortMR][kPortNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kPortMR; ++r) {
      const float av = a[r];
      for (int j = 0; j < kPortNR; ++j) acc[r][j] += av * b[j];
    }
    a += kPortMR;
    b += kPortNR;
  }
  for (int r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < nr; ++j) {
      float v = acc[r][j];
      if (beta != 0.0f) v += beta * cr[j];
      if (bias) v += bias[j];
      if (relu && v < 0.0f) v = 0.0f;
      cr[j] = v;
    }
  }
}

#ifdef HGAD_GEMM_X86

// ------------------------------------------------------------------- AVX2

constexpr int kAvx2MR = 6, kAvx2NR = 16;

// MR rows x NV vectors of 8 columns; BS is the packed B panel stride, so the
// NV = 1 instance runs over the zero-padded last panel when it is at most 8
// wide. With 16 ymm registers, 6x16 is the largest tile that keeps its 12
// accumulators, 2 B vectors and the broadcast in registers.
template <int MR, int NV, int BS>
__attribute__((target("avx2,fma"))) void kernelAvx2(int64_t kc, const float* a, const float* b,
                                                    float* c, int64_t ldc, int mr, int nr,
                                                    float beta, const float* bias, bool relu) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  // The C tile is read (beta) or written only after the k loop; fetching its
  // lines now overlaps their misses with the arithmetic.
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 8 * NV - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    // A panels stream from L2: one line ahead per step keeps them in L1.
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR), _MM_HINT_T0);
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += BS;
  }
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i mask[NV];
  __m256 vbias[NV];
  const __m256 vbeta = _mm256_set1_ps(beta), zero = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), iota);
    vbias[v] = bias ? _mm256_maskload_ps(bias + 8 * v, mask[v]) : zero;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + 8 * v;
      __m256 x = acc[r][v];
      if (beta != 0.0f) x = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(p, mask[v]), x);
      x = _mm256_add_ps(x, vbias[v]);
      if (relu) x = _mm256_max_ps(x, zero);
      if (nr >= 8 * (v + 1))
        _mm256_storeu_ps(p, x);
      else
        _mm256_maskstore_ps(p, mask[v], x);
    }
  }
}

// ---------------------------------------------------------------- AVX-512

constexpr int kAvx512MR = 12, kAvx512NR = 32;

// NV vectors of 16 columns per row; BS is the packed B panel stride, so the
// NV = 1 instance can run over the zero-padded 32-wide last panel.
template <int MR, int NV, int BS>
__attribute__((target("avx512f"))) void kernelAvx512(int64_t kc, const float* a, const float* b,
                                                     float* c, int64_t ldc, int mr, int nr,
                                                     float beta, const float* bias, bool relu) {
  __m512 acc[MR][NV];
#pragma GCC unroll 64
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * NV - 1), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 64
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += BS;
  }
  __mmask16 mask[NV];
  __m512 vbias[NV];
  const __m512 vbeta = _mm512_set1_ps(beta), zero = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const int cols = std::min(16, std::max(0, nr - 16 * v));
    mask[v] = static_cast<__mmask16>((1u << cols) - 1u);
    vbias[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : zero;
  }
#pragma GCC unroll 64
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + 16 * v;
      __m512 x = acc[r][v];
      if (beta != 0.0f) x = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask[v], p), x);
      x = _mm512_add_ps(x, vbias[v]);
      if (relu) x = _mm512_mask_max_ps(x, 0xFFFF, x, zero);
      _mm512_mask_storeu_ps(p, mask[v], x);
    }
  }
}

#endif  // HGAD_GEMM_X86

// Every kernel this build has, best first; a CPU runs those it supports.
struct KernelEntry {
  Kernel kernel;
  bool (*supported)();
};

bool alwaysSupported() { return true; }

#ifdef HGAD_GEMM_X86
bool avx512Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
bool avx2Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

const KernelEntry kKernels[] = {
#ifdef HGAD_GEMM_X86
    {{"avx512", kAvx512MR, kAvx512NR, 144, 512, 4096, kernelAvx512<kAvx512MR, 2, kAvx512NR>,
      kernelAvx512<kAvx512MR, 1, kAvx512NR>},
     avx512Supported},
    {{"avx2", kAvx2MR, kAvx2NR, 144, 384, 4096, kernelAvx2<kAvx2MR, 2, kAvx2NR>,
      kernelAvx2<kAvx2MR, 1, kAvx2NR>},
     avx2Supported},
#endif
    {{"portable", kPortMR, kPortNR, 128, 256, 4096, kernelPortable, nullptr}, alwaysSupported},
};

const Kernel* bestKernel() {
  for (const KernelEntry& e : kKernels)
    if (e.supported()) return &e.kernel;
  return &kKernels[0].kernel;
}

// The kernel in force: the best one unless setGemmKernel chose another. Read
// once per product, so a switch never changes the kernel in the middle of one.
std::atomic<const Kernel*>& currentKernel() {
  static std::atomic<const Kernel*> k{bestKernel()};
  return k;
}

const Kernel& selectKernel() { return *currentKernel().load(std::memory_order_acquire); }

// Grow-only 64-byte aligned scratch; one per thread, so never shared.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  float* get(size_t n) {
    if (n > cap_) {
      std::free(p_);
      const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      cap_ = n;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

Scratch& packAScratch() {
  thread_local Scratch s;
  return s;
}

Scratch& packBScratch() {
  thread_local Scratch s;
  return s;
}

enum PanelState : int { kUnpacked, kPacking, kReady };

inline void cpuRelax() {
#ifdef HGAD_GEMM_X86
  _mm_pause();
#endif
}

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows [i0, i0+mr) x depth [p0, p0+kc) of op(A) into one MR-tall panel.
void packAPanel(const GemmShape& s, const float* A, int64_t i0, int mr, int64_t p0, int64_t kc,
                int MR, float* dst) {
  if (s.transA) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = A + (p0 + k) * s.lda + i0;
      float* d = dst + k * MR;
      for (int r = 0; r < mr; ++r) d[r] = src[r];
      for (int r = mr; r < MR; ++r) d[r] = 0.0f;
    }
    return;
  }
  int r = 0;
#ifdef HGAD_GEMM_X86
  // Rows are contiguous in k but the panel interleaves them, so this is a
  // transpose; 4x4 SSE transposes make it several times cheaper than scalar
  // strided stores, which otherwise cost a third of the time when N is small.
  for (; r + 4 <= mr; r += 4) {
    const float* s0 = A + (i0 + r) * s.lda + p0;
    const float *s1 = s0 + s.lda, *s2 = s1 + s.lda, *s3 = s2 + s.lda;
    float* d = dst + r;
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      // These rows come straight from memory; fetching the next panel's rows
      // meanwhile keeps the loads from stalling on DRAM latency.
      _mm_prefetch(reinterpret_cast<const char*>(s0 + k + MR * s.lda), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(s1 + k + MR * s.lda), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(s2 + k + MR * s.lda), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(s3 + k + MR * s.lda), _MM_HINT_T0);
      __m128 x0 = _mm_loadu_ps(s0 + k), x1 = _mm_loadu_ps(s1 + k);
      __m128 x2 = _mm_loadu_ps(s2 + k), x3 = _mm_loadu_ps(s3 + k);
      _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
      _mm_storeu_ps(d + (k + 0) * MR, x0);
      _mm_storeu_ps(d + (k + 1) * MR, x1);
      _mm_storeu_ps(d + (k + 2) * MR, x2);
      _mm_storeu_ps(d + (k + 3) * MR, x3);
    }
    for (; k < kc; ++k) {
      d[k * MR + 0] = s0[k];
      d[k * MR + 1] = s1[k];
      d[k * MR + 2] = s2[k];
      d[k * MR + 3] = s3[k];
    }
  }
#endif
  for (; r < mr; ++r) {
    const float* src = A + (i0 + r) * s.lda + p0;
    for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
  }
  for (; r < MR; ++r)
    for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = 0.0f;
}

// Columns [j0, j0+nr) x depth [p0, p0+kc) of op(B) into one NR-wide panel.
void packBPanel(const GemmShape& s, const float* B, int64_t j0, int nr, int64_t p0, int64_t kc,
                int NR, float* dst) {
  if (!s.transB) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (p0 + k) * s.ldb + j0;
      float* d = dst + k * NR;
      std::memcpy(d, src, sizeof(float) * nr);
      for (int j = nr; j < NR; ++j) d[j] = 0.0f;
    }
    return;
  }
  for (int j = 0; j < nr; ++j) {
    const float* src = B + (j0 + j) * s.ldb + p0;
    for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k];
  }
  for (int j = nr; j < NR; ++j)
    for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.0f;
}

float epilogue(float v, float beta, float c, const float* bias, int64_t j, bool relu) {
  if (beta != 0.0f) v += beta * c;
  if (bias) v += bias[j];
  if (relu && v < 0.0f) v = 0.0f;
  return v;
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

  float* packedB = packBScratch().get(static_cast<size_t>(kcMax * ncMax));
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
        float* packedA = packAScratch().get(static_cast<size_t>(mcMax * kcMax));
        for (int64_t q = 0; q < mPanels; ++q) {
          const int64_t r0 = i0 + q * MR;
          packAPanel(s, A, r0, static_cast<int>(std::min<int64_t>(MR, M - r0)), pc, kc, MR,
                     packedA + q * MR * kc);
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
            mk(kc, packedA + q * MR * kc, bp, C + r0 * s.ldc + j0, s.ldc,
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
  gemmPacked(s, A, B, beta, C, bias, relu);
}

void gemm(const GemmShape& s, const double* A, const double* B, double beta, double* C,
          const double* bias, bool relu) {
  gemmReference<double>(s, A, B, beta, C, bias, relu);
}

const char* gemmKernelName() { return selectKernel().name; }

std::vector<std::string> gemmKernelsSupported() {
  std::vector<std::string> names;
  for (const KernelEntry& e : kKernels)
    if (e.supported()) names.push_back(e.kernel.name);
  return names;
}

bool setGemmKernel(const std::string& name) {
  if (name == "auto") {
    currentKernel().store(bestKernel(), std::memory_order_release);
    return true;
  }
  for (const KernelEntry& e : kKernels) {
    if (name != e.kernel.name) continue;
    if (!e.supported()) return false;
    currentKernel().store(&e.kernel, std::memory_order_release);
    return true;
  }
  return false;
}

}  // namespace hgad
