// Packing for the CPU GEMM (native/cpu/gemm.cc): op(A) and op(B) copied
// into the k-major, zero-padded panels the microkernels read. Internal to gemm.cc.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gemm.h"
#include "gemm_microkernels.h"

namespace hgad::gemm_detail {

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <int W>
inline void copyFixed(float* d, const float* s) {
  for (int i = 0; i < W; ++i) d[i] = s[i];
}

// One panel row (MR or NR floats): a copy of constant size compiles to a few
// vector moves, where memcpy of a run-time size is a library call per row.
inline void copyPanelRow(float* d, const float* s, int n) {
  switch (n) {
    case 4: return copyFixed<4>(d, s);
    case 6: return copyFixed<6>(d, s);
    case 12: return copyFixed<12>(d, s);
    case 16: return copyFixed<16>(d, s);
    case 24: return copyFixed<24>(d, s);
    case 32: return copyFixed<32>(d, s);
    default: std::memcpy(d, s, sizeof(float) * n);
  }
}

// Rows [i0, i0+mr) x depth [p0, p0+kc) of op(A) into one MR-tall panel.
inline void packAPanel(const GemmShape& s, const float* A, int64_t i0, int mr, int64_t p0, int64_t kc,
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
inline void packBPanel(const GemmShape& s, const float* B, int64_t j0, int nr, int64_t p0, int64_t kc,
                int NR, float* dst) {
  if (!s.transB) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (p0 + k) * s.ldb + j0;
      float* d = dst + k * NR;
      copyPanelRow(d, src, nr);
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

// Depth [p0, p0+kc) x positions [j0, j0+n) of a matrix stored depth-major
// (element (k, j) at X[k * ld + j]) into consecutive W-wide panels (panel
// stride W * kc), the last one zero-padded. Each stored row is read once,
// contiguously, and scattered over the panels: panel by panel it would take a
// few bytes from each of kc rows, kc cache misses that the hardware
// prefetcher does not see coming.
inline void packDepthMajor(const float* X, int64_t ld, int64_t j0, int64_t n, int64_t p0, int64_t kc, int W,
                           float* dst) {
  const int64_t full = n / W, tail = n - full * W;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = X + (p0 + k) * ld + j0;
#ifdef HGAD_GEMM_X86
    _mm_prefetch(reinterpret_cast<const char*>(src + 4 * ld), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(src + 4 * ld + n - 1), _MM_HINT_T0);
#endif
    float* d = dst + k * W;
    for (int64_t q = 0; q < full; ++q) copyPanelRow(d + q * W * kc, src + q * W, W);
    if (tail) {
      float* dt = d + full * W * kc;
      for (int j = 0; j < W; ++j) dt[j] = j < tail ? src[full * W + j] : 0.0f;
    }
  }
}

// Rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into consecutive MR-tall
// panels. A transposed A (the weight gradients' dY^T) is stored depth-major.
inline void packABlock(const GemmShape& s, const float* A, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                int MR, float* dst) {
  if (s.transA) return packDepthMajor(A, s.lda, i0, mc, p0, kc, MR, dst);
  const int64_t panels = ceilDiv(mc, MR);
  for (int64_t q = 0; q < panels; ++q)
    packAPanel(s, A, i0 + q * MR, static_cast<int>(std::min<int64_t>(MR, mc - q * MR)), p0, kc, MR,
               dst + q * MR * kc);
}

// Columns [j0, j0+nc) x depth [p0, p0+kc) of op(B) into consecutive NR-wide
// panels; an untransposed B is stored depth-major.
inline void packBRange(const GemmShape& s, const float* B, int64_t j0, int64_t nc, int64_t p0, int64_t kc,
                int NR, float* dst) {
  if (!s.transB) return packDepthMajor(B, s.ldb, j0, nc, p0, kc, NR, dst);
  const int64_t panels = ceilDiv(nc, NR);
  for (int64_t p = 0; p < panels; ++p)
    packBPanel(s, B, j0 + p * NR, static_cast<int>(std::min<int64_t>(NR, nc - p * NR)), p0, kc, NR,
               dst + p * NR * kc);
}

}  // namespace hgad::gemm_detail
