// Affine coupling of the FrEIA AllInOneBlock, fused with its log-determinant.
//
//   x = [x1 | x2],  x1: first C1 = ceil(C/2) channels, x2: the C2 = C - C1 others
//   a: raw subnet output (N, 2*C2);  a_s = a[:, :C2],  a_t = a[:, C2:]
//   s  = clamp * tanh(0.1 * a_s),    t = 0.1 * a_t
//   y  = [x1 | x2 * exp(s) + t]
//   logdetOut[n] = logdetIn[n] + logdetConst + sum_j s[n, j]
//
// logdetConst carries the block's global-affine term sum(log scale), so the
// whole block's log-determinant is accumulated in this single pass.
//
// Backward (activation gradients assigned):
//   dx1 = dy1,  dx2 = dy2 * exp(s)
//   ds  = dy2 * x2 * exp(s) + dlogdet[n]
//   da_s = ds * clamp * 0.1 * (1 - tanh^2),  da_t = 0.1 * dy2
// dlogdetIn = dlogdetOut and dlogdetConst = sum_n dlogdetOut[n] are left to the
// caller (identity and a sum).
// Each op is declared once for both backends: the CPU reference
// (native/cpu/coupling.cc, float and double) and the CUDA kernel.
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

// x, y: (N, C)  a: (N, 2*C2)  logdetIn: (N) or null  logdetConst: (1)  logdetOut: (N)
// logdetConst is read where it lives (host or device memory, e.g. as affineFold
// wrote it), so the CUDA path needs no copy back and no extra kernel.
template <typename T>
void couplingForward(int64_t N, int64_t C, const T* x, const T* a, T clamp, const T* logdetIn,
                     const T* logdetConst, T* y, T* logdetOut);

// x, dy, dx: (N, C)  a, da: (N, 2*C2)  dlogdet: (N) or null
template <typename T>
void couplingBackward(int64_t N, int64_t C, const T* x, const T* a, T clamp, const T* dy,
                      const T* dlogdet, T* dx, T* da);

// Inverse: x2 = (y2 - t) * exp(-s); a must be the subnet output of y1 (= x1).
// logdetOut[n] = logdetIn[n] - logdetConst - sum_j s[n, j]
template <typename T>
void couplingInverse(int64_t N, int64_t C, const T* y, const T* a, T clamp, const T* logdetIn,
                     const T* logdetConst, T* x, T* logdetOut);

// The CUDA kernels (native/cuda/coupling.cu): float, queued on `stream`.
namespace cuda {
void couplingForward(int64_t N, int64_t C, const float* x, const float* a, float clamp,
                     const float* logdetIn, const float* logdetConst, float* y, float* logdetOut,
                     Stream stream = nullptr);
void couplingInverse(int64_t N, int64_t C, const float* y, const float* a, float clamp,
                     const float* logdetIn, const float* logdetConst, float* x, float* logdetOut,
                     Stream stream = nullptr);
void couplingBackward(int64_t N, int64_t C, const float* x, const float* a, float clamp,
                      const float* dy, const float* dlogdet, float* dx, float* da,
                      Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
