// Batch assembly and loss reduction of the training loop: gathering a
// shuffled batch's rows, the label-smoothed targets, and the sums of the
// per-sample loss terms. Declared once for both backends: the CPU reference
// (native/cpu/batch.cc) and the CUDA kernels (native/cuda/fold.cu).
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

// dst[i, :] = src[idx[i], :] for i in [0, n), rows of C elements; src holds
// srcRows rows. A row whose index is outside [0, srcRows) is written as zeros,
// never read. T: float, double or int32_t (class ids).
// src: (srcRows, C)  idx: (n)  dst: (n, C)
template <typename T>
void gatherRows(int64_t n, int64_t C, const T* src, int64_t srcRows, const int32_t* idx, T* dst);

// Label-smoothed one-hot rows, with base = T(smoothing / K):
//   Y[n, k] = k == labels[n] ? T(base + (1 - smoothing)) : base
// A label outside [0, K) gives a row of base.  labels: (N)  Y: (N, K)
template <typename T>
void oneHot(int64_t N, int64_t K, const int32_t* labels, double smoothing, T* Y);

// Sums of the per-sample loss terms (N each), accumulated in double:
//   out[0..2] = sum Lg, sum Le, sum Lmi;  out[3] = sum Lgi (0 when null);
//   out[4] = sum_n softplus(-logp[n]) (0 when null),
//   softplus(x) = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)).
// Lg, Le, Lmi, Lgi, logp: (N)  out: (5) doubles
template <typename T>
void lossSums(int64_t N, const T* Lg, const T* Le, const T* Lmi, const T* Lgi, const T* logp,
              double* out);

namespace cuda {
// T: float or int32_t (the same 32-bit word copy).
template <typename T>
void gatherRows(int64_t n, int64_t C, const T* src, int64_t srcRows, const int32_t* idx, T* dst,
                Stream stream = nullptr);
void oneHot(int64_t N, int64_t K, const int32_t* labels, double smoothing, float* Y,
            Stream stream = nullptr);
void lossSums(int64_t N, const float* Lg, const float* Le, const float* Lmi, const float* Lgi,
              const float* logp, double* out, Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
