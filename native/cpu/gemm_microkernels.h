// The register-tile microkernels of the CPU GEMM (native/cpu/gemm.cc), one
// per instruction set, and the Kernel record that pairs each with its cache
// block sizes. Each computes an MR x NR tile of C from an A panel (packed:
// kc x MR, k-major; or, where the kernel allows, MR rows read in place) and
// a packed B panel (kc x BS, k-major), with the epilogue (beta, bias, relu)
// fused into its store. Internal to gemm.cc.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fast_math.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define HGAD_GEMM_X86 1
#endif

namespace hgad::gemm_detail {

// Element (r, k) of the A panel is a[r * rowStride + k * kStride]; packed: (1, MR).
using MicroKernel = void (*)(int64_t kc, const float* a, int64_t rowStride, int64_t kStride,
                             const float* b, float* c, int64_t ldc, int mr, int nr, float beta,
                             const float* bias, bool relu);

struct Kernel {
  const char* name;
  int mr, nr;
  int64_t mc, kc, nc;
  MicroKernel full;
  // Used for the last panel when it is at most nr/2 wide; null when absent.
  MicroKernel half;
  // Deep products with a small C run one task per thread (gemmPackedPerThread).
  bool perThreadDeep;
  // Whether the microkernels read A in place (any strides), not only packed.
  bool inPlaceA;
  // The kernel that runs the one-task-per-thread schedule of deep products;
  // null: this one.
  const Kernel* deep = nullptr;
  // Whether a deep product may run as its transpose when that packs less.
  bool transposeDeep = true;
};

// The kernel in force (native/cpu/gemm_select.cc). Read once per product, so
// a switch never changes the kernel in the middle of one.
const Kernel& selectKernel();

// ---------------------------------------------------------------- portable

constexpr int kPortMR = 4, kPortNR = 16;

// acc + a * b rounded once, as the AVX kernels' fused multiply-add does: a
// separate multiply rounds every product too, which on the deep products (the
// mixture centres' gradient, K = N vectors) left the portable kernel's error
// up to 1.7x the AVX2 kernel's. Where fmaf is an instruction (aarch64, x86
// built with FMA) it is used; elsewhere the product of two floats is exact in
// double, so one rounding of the double sum gives the same result (but for
// double-rounding ties) with SSE2 arithmetic.
HGAD_ALWAYS_INLINE float fusedMulAdd(float a, float b, float acc) {
#ifdef __FP_FAST_FMAF
  return std::fma(a, b, acc);
#else
  return static_cast<float>(static_cast<double>(acc) + static_cast<double>(a) * static_cast<double>(b));
#endif
}

// Packed A only (inPlaceA is false for it).
inline void kernelPortable(int64_t kc, const float* a, int64_t /* rowStride */, int64_t /* kStride */,
                           const float* b, float* c, int64_t ldc, int mr, int nr, float beta,
                           const float* bias, bool relu) {
  float acc[kPortMR][kPortNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kPortMR; ++r) {
      const float av = a[r];
      for (int j = 0; j < kPortNR; ++j) acc[r][j] = fusedMulAdd(av, b[j], acc[r][j]);
    }
    a += kPortMR;
    b += kPortNR;
  }
  for (int r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < nr; ++j) {
      float v = acc[r][j];
      if (beta != 0.0f) v = fusedMulAdd(beta, cr[j], v);
      if (bias) v += bias[j];
      if (relu && v < 0.0f) v = 0.0f;
      cr[j] = v;
    }
  }
}

#ifdef HGAD_GEMM_X86

// One body (gemm_tile.inc) per instruction set, each in its own namespace
// compiled for that set; the operations below are all it needs of the set.

// ------------------------------------------------------------------- AVX2

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
using Vec = __m256;
HGAD_ALWAYS_INLINE Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
HGAD_ALWAYS_INLINE Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
HGAD_ALWAYS_INLINE __m256i columns(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
HGAD_ALWAYS_INLINE Vec loadMasked(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
HGAD_ALWAYS_INLINE void storeMasked(float* p, Vec x, __m256i m, bool full) {
  if (full)
    _mm256_storeu_ps(p, x);
  else
    _mm256_maskstore_ps(p, m, x);
}
#include "gemm_tile.inc"
}  // namespace avx2
#pragma GCC pop_options

// With 16 ymm registers, 6x16 is the largest tile that keeps its 12
// accumulators, 2 B vectors and the broadcast in registers; the 6x8 instance
// runs over the zero-padded last panel when it is at most 8 wide.
constexpr int kAvx2MR = 6, kAvx2NR = 16;
// The deep products (weight gradients, K = 16384) take a 4x24 tile: the same
// 12 accumulators, fed by 3 B loads and 4 broadcasts per step instead of 2 and
// 6, and a quarter fewer A reads where A is read in place with a stride (dY^T,
// X^T: one cache line per step whatever the tile's height). On one thread it
// measured 3-8% faster than 6x16 on both dW shapes (native/test/gemm_cpu_bench.cc);
// on the flow's forward and dX shapes 6x16 stays (93-97% of peak there).
constexpr int kAvx2DeepMR = 4, kAvx2DeepNR = 24;

// ---------------------------------------------------------------- AVX-512

#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
using Vec = __m512;
HGAD_ALWAYS_INLINE Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
HGAD_ALWAYS_INLINE Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
HGAD_ALWAYS_INLINE __mmask16 columns(int n) {
  return static_cast<__mmask16>((1u << std::min(16, std::max(0, n))) - 1u);
}
// Masked lanes are neither read nor written, so a ragged edge never leaves C.
HGAD_ALWAYS_INLINE Vec loadMasked(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
HGAD_ALWAYS_INLINE void storeMasked(float* p, Vec x, __mmask16 m, bool) { _mm512_mask_storeu_ps(p, m, x); }
#include "gemm_tile.inc"
}  // namespace avx512
#pragma GCC pop_options

// 12x32: 24 zmm accumulators + 2 B vectors + 1 broadcast register; the 12x16
// instance runs over the zero-padded 32-wide last panel.
constexpr int kAvx512MR = 12, kAvx512NR = 32;

#endif  // HGAD_GEMM_X86

}  // namespace hgad::gemm_detail
