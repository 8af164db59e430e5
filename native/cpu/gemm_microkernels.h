// The register-tile microkernels of the CPU GEMM (native/cpu/gemm.cc), one
// per instruction set, and the Kernel record that pairs each with its cache
// block sizes. Each computes an MR x NR tile of C from a packed A panel
// (kc x MR, k-major) and a packed B panel (kc x BS, k-major), with the
// epilogue (beta, bias, relu) fused into its store. Internal to gemm.cc.
#pragma once
#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define HGAD_GEMM_X86 1
#endif

namespace hgad::gemm_detail {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                             int mr, int nr, float beta, const float* bias, bool relu);

struct Kernel {
  const char* name;
  int mr, nr;
  int64_t mc, kc, nc;
  MicroKernel full;
  // Used for the last panel when it is at most nr/2 wide; null when absent.
  MicroKernel half;
  // Deep products with a small C run one task per thread (gemmPackedPerThread).
  bool perThreadDeep;
};

// ---------------------------------------------------------------- portable

constexpr int kPortMR = 4, kPortNR = 16;

inline void kernelPortable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int mr,
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

}  // namespace hgad::gemm_detail
