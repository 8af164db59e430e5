// The hierarchical Gaussian mixture head of HGAD, fused.
//
// Centres: cent (K, M, C) with cent[k, 0] = mu_k and cent[k, m] = mu_k + delta_{k, m-1};
// log priors lpi = log_softmax(phi_inter) (K), lpa = log_softmax(phi_intra, rows) (K, M).
// Squared distances per sample, to the K main centres and to the M centres of
// the sample's class only: d_k = |z_n - cent[k, 0]|^2, e_m = |z_n - cent[y_n, m]|^2
// (K + M per sample, not K*M), recomputed by the backward pass rather than
// stored. They are summed as differences in double precision: the loss weights L_mi by
// lambda2 = 100 in the reference, and the expanded |z|^2 - 2 z.c + |c|^2 in
// float32 loses enough digits there to move the flow's gradients.
//
// Per sample (C the feature dimension, Y the smoothed one-hot row):
//   r = softmax(-0.5 d + lpi),  q = softmax(-0.5 d),  w = softmax(-0.5 e + lpa[y])
//   L_g  = (-LSE(-0.5 d + lpi) - logdet) / C
//   L_e  = H(q) = -sum q log q;  negEntropy = -L_e
//   L_mi = sum_k Y_k (log r_k - lpi_k)            (lpi detached)
//   L_gi = (-LSE(-0.5 e + lpa[y]) - logdet) / C
//   logp = (C * log(1/sqrt(2 pi)) + LSE(-0.5 e + lpa[y]) + logdet) / C,  L_z = softplus(-logp)
//
// Backward takes the weight of each per-sample term in the total loss
// (e.g. lambda1/N for L_g, -lambda2/N for L_mi) and returns the gradients of
// z, logdet, the centres, lpi and lpa. The main centres are detached where they
// enter the intra-class centres, as in the reference: cent[k, 0] receives only
// the inter-class gradient, and the intra-class term of m = 0 reaches z alone.
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

struct MixtureShape {
  int64_t N = 0, C = 0, K = 0, M = 0;
};

template <typename T>
struct MixtureWeights {
  T g = 0, e = 0, mi = 0, gi = 0, z = 0;
};

// z: (N, C)  logdet: (N)  labels: (N) or null  Y: (N, K) or null  cent: (K*M, C)
// lpi: (K)  lpa: (K*M)
// Lg, Le: (N) written when not null; Lmi needs Y; Lgi and logp need labels.
template <typename T>
void mixtureHeadForward(const MixtureShape& s, const T* z, const T* logdet, const int32_t* labels,
                        const T* Y, const T* cent, const T* lpi, const T* lpa, T* Lg, T* Le,
                        T* Lmi, T* Lgi, T* logp);

// Gradients (assigned): dz (N, C), dlogdet (N), dcent (K*M, C), dlpi (K), dlpa (K*M).
// Terms with weight 0 are skipped; intra terms (gi, z) need labels, mi needs Y.
template <typename T>
void mixtureHeadBackward(const MixtureShape& s, const T* z, const T* logdet, const int32_t* labels,
                         const T* Y, const T* cent, const T* lpi, const T* lpa,
                         const MixtureWeights<T>& w, T* dz, T* dlogdet, T* dcent, T* dlpi, T* dlpa);

namespace cuda {
// The CUDA kernels (native/cuda/mixture_head.cu), float: all pointers on the device, labels in
// [0, K) or -1 (a label >= K is treated as -1 rather than read out of
// bounds). Distances, log-sum-exps and every reduction run in double, as on
// the CPU (see mixture_head.cu). Backward: dcent, dlpi, dlpa assigned,
// reduced over samples in a fixed order (deterministic for a given N).
void mixtureHeadForward(const MixtureShape& s, const float* z, const float* logdet,
                        const int32_t* labels, const float* Y, const float* cent,
                        const float* lpi, const float* lpa, float* Lg, float* Le, float* Lmi,
                        float* Lgi, float* logp, Stream stream = nullptr);
void mixtureHeadBackward(const MixtureShape& s, const float* z, const float* logdet,
                         const int32_t* labels, const float* Y, const float* cent,
                         const float* lpi, const float* lpa, const MixtureWeights<float>& w,
                         float* dz, float* dlogdet, float* dcent, float* dlpi, float* dlpa,
                         Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
