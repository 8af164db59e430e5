// Parameter folding of the flow and the mixture head: small ops on the
// parameters, run once per step, whose results feed the big GEMMs and the
// fused head. Each op is declared once for both backends: the CPU reference
// (native/cpu/fold.cc, float and double, math in double, results rounded to T
// once) and the CUDA kernel (native/cuda/fold.cu, float, queued on `stream`).
//
// globalScale(x) = 0.5 x > 20 ? 0.1 x : 0.2 log1p(exp(0.5 x))   (FrEIA's SOFTPLUS
// global scale with PyTorch's softplus threshold), and its derivative
// globalScale'(x) = 0.5 x > 20 ? 0.1 : 0.1 / (1 + exp(-0.5 x)).
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

// The global affine of a flow block folded with its fixed channel mixing R,
// s_j = globalScale(g_j):
//   forward (inverse = false): W[i, j] = R[i, j] s_j,   b[i] = sum_j R[i, j] offset_j
//   inverse (inverse = true):  W[i, j] = R[i, j] / s_j, b[j] = -offset_j / s_j
//   logdetConst[0] = sum_j log s_j in both cases.
// R, W: (C, C) row-major  g, offset, b: (C)  logdetConst: (1)
template <typename T>
void affineFold(int64_t C, const T* R, const T* g, const T* offset, T* W, T* b, T* logdetConst,
                bool inverse);

// Backward of the forward fold (dg and dOffset assigned):
//   dg_j      = globalScale'(g_j) (sum_i dW[i, j] R[i, j] + dConst[0] / s_j)
//   dOffset_j = sum_i R[i, j] db[i]
// R, dW: (C, C)  g, db, dg, dOffset: (C)  dConst: (1) or null (no logdet term)
template <typename T>
void affineFoldBackward(int64_t C, const T* R, const T* g, const T* dW, const T* db,
                        const T* dConst, T* dg, T* dOffset);

// Mixture centres from the class means and their intra-class offsets:
//   cent[k, 0, :] = mu[k, :],  cent[k, m, :] = mu[k, :] + muDelta[k, m - 1, :]  (m >= 1)
// mu: (K, C)  muDelta: (K, M - 1, C), not read when M = 1 (may be null then)  cent: (K, M, C)
template <typename T>
void centresCompose(int64_t K, int64_t M, int64_t C, const T* mu, const T* muDelta, T* cent);

// Its backward with mu detached in the intra centres (assigned):
//   dmu[k, :] = dcent[k, 0, :],  dDelta[k, m - 1, :] = dcent[k, m, :]
// dcent: (K, M, C)  dmu: (K, C)  dDelta: (K, M - 1, C) or null
template <typename T>
void centresComposeBackward(int64_t K, int64_t M, int64_t C, const T* dcent, T* dmu, T* dDelta);

namespace cuda {
void affineFold(int64_t C, const float* R, const float* g, const float* offset, float* W,
                float* b, float* logdetConst, bool inverse, Stream stream = nullptr);
void affineFoldBackward(int64_t C, const float* R, const float* g, const float* dW,
                        const float* db, const float* dConst, float* dg, float* dOffset,
                        Stream stream = nullptr);
void centresCompose(int64_t K, int64_t M, int64_t C, const float* mu, const float* muDelta,
                    float* cent, Stream stream = nullptr);
void centresComposeBackward(int64_t K, int64_t M, int64_t C, const float* dcent, float* dmu,
                            float* dDelta, Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
