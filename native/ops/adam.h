// PyTorch's Adam with L2 weight decay (torch.optim.Adam, not AdamW), in place
// on p, m and v (g is read only); `step` is the 1-based step count t after
// this update:
//   g' = g + wd p (g' = g when wd = 0, so 0 * inf never appears)
//   m  = b1 m + (1 - b1) g'        v = b2 v + (1 - b2) g'^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The CPU reference (native/cpu/adam.cc) computes in double and reads the
// moments back after storing them in T, as PyTorch's float kernels see
// them; the CUDA kernel (native/cuda/adam.cu) computes in float.
// p, g, m, v: (n)
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

template <typename T>
void adamStep(int64_t n, T* p, const T* g, T* m, T* v, double lr, double beta1, double beta2,
              double eps, double weightDecay, int64_t step);

namespace cuda {
void adamStep(int64_t n, float* p, const float* g, float* m, float* v, double lr, double beta1,
              double beta2, double eps, double weightDecay, int64_t step, Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
