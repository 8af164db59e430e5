// What the two schedules of the CPU GEMM share: gemm.cc (the shared,
// cache-blocked schedule) and gemm_deep.cc (deep products, one task per
// thread). Internal to them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "gemm.h"
#include "gemm_microkernels.h"

namespace hgad::gemm_detail {

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

// What a thread's scratch holds: its packed A block and packed B (both
// schedules), the partial product of a K split and the transposed product
// (gemm_deep.cc).
enum class ScratchUse { kPackA, kPackB, kSplitK, kTransposedC, kCount };

inline Scratch& threadScratch(ScratchUse use) {
  thread_local Scratch s[static_cast<int>(ScratchUse::kCount)];
  return s[static_cast<int>(use)];
}

// Where the MR-row panels of one A block (rows from i0, depth from pc) are
// read: element (r, k) of panel q is base[q * panelStride + r * rowStride + k * kStride].
struct APanels {
  const float* base;
  int64_t panelStride, rowStride, kStride;
};

inline APanels aInPlace(const GemmShape& s, const float* A, int64_t i0, int64_t pc, int MR) {
  if (s.transA) return {A + pc * s.lda + i0, MR, 1, s.lda};
  return {A + i0 * s.lda + pc, MR * s.lda, s.lda, 1};
}

inline APanels aPacked(const float* packed, int64_t kc, int MR) { return {packed, MR * kc, 1, MR}; }

inline float epilogue(float v, float beta, float c, const float* bias, int64_t j, bool relu) {
  if (beta != 0.0f) v += beta * c;
  if (bias) v += bias[j];
  if (relu && v < 0.0f) v = 0.0f;
  return v;
}

// Whether the deep-product schedule (gemm_deep.cc) suits this product.
bool usePerThread(const GemmShape& s, const Kernel& kern, int threads);

// C = relu?(beta * C + op(A) op(B) + bias) for a product usePerThread accepts,
// on threads threads with kern (the kernel in force's Kernel::deep).
void gemmDeep(const GemmShape& s, const Kernel& kern, const float* A, const float* B, float beta, float* C,
              const float* bias, bool relu, int threads);

}  // namespace hgad::gemm_detail
