// Adam with L2 weight decay (PyTorch torch.optim.Adam, weight_decay > 0),
// in place; mirrors lib/optim/adam.ts:
//   g' = g + wd p;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Per element: ~12 FLOPs + sqrt + div; bytes 28 (read p g m v, write p m v).
// The bias corrections are computed once on the host in double. 16-byte
// accesses when all four arrays are 16-byte aligned.
#include <cmath>

#include "cuda_common.cuh"

namespace hgad {
namespace cuda {

namespace {

struct AdamParams {
  float b1, b2, oneMinusB1, oneMinusB2, eps, wd, stepSize, bc2Sqrt;
};

__device__ __forceinline__ void adamOne(const AdamParams& q, float& p, float g, float& m, float& v) {
  // As PyTorch and the CPU backend: no decay term when wd = 0 (0 * inf would be NaN).
  if (q.wd != 0.0f) g = g + q.wd * p;
  m = q.b1 * m + q.oneMinusB1 * g;
  v = q.b2 * v + q.oneMinusB2 * g * g;
  p = p - q.stepSize * (m / (sqrtf(v) / q.bc2Sqrt + q.eps));
}

__global__ void adamKernel(int64_t n, bool vec, float* __restrict__ p, const float* __restrict__ g,
                           float* __restrict__ m, float* __restrict__ v, AdamParams q) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t k = i; k < n4; k += stride) {
      float4 pp = reinterpret_cast<float4*>(p)[k];
      const float4 gg = reinterpret_cast<const float4*>(g)[k];
      float4 mm = reinterpret_cast<float4*>(m)[k];
      float4 vv = reinterpret_cast<float4*>(v)[k];
      adamOne(q, pp.x, gg.x, mm.x, vv.x);
      adamOne(q, pp.y, gg.y, mm.y, vv.y);
      adamOne(q, pp.z, gg.z, mm.z, vv.z);
      adamOne(q, pp.w, gg.w, mm.w, vv.w);
      reinterpret_cast<float4*>(p)[k] = pp;
      reinterpret_cast<float4*>(m)[k] = mm;
      reinterpret_cast<float4*>(v)[k] = vv;
    }
    i += n4 * 4;
  }
  for (; i < n; i += stride) adamOne(q, p[i], g[i], m[i], v[i]);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

void adamStep(int64_t n, float* p, const float* g, float* m, float* v, double lrIn,
              double beta1In, double beta2In, double epsIn, double weightDecayIn, int64_t step,
              Stream stream) {
  if (n <= 0) return;
  // The kernel computes in float: the scalars as float, as torch's float32 Adam sees them.
  const float lr = static_cast<float>(lrIn), beta1 = static_cast<float>(beta1In),
              beta2 = static_cast<float>(beta2In), eps = static_cast<float>(epsIn),
              weightDecay = static_cast<float>(weightDecayIn);
  if (step < 1) throw CudaError("adamStep: Expected step >= 1 but received " + std::to_string(step));
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), t);
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), t);
  AdamParams q;
  q.b1 = beta1;
  q.b2 = beta2;
  q.oneMinusB1 = 1.0f - beta1;
  q.oneMinusB2 = 1.0f - beta2;
  q.eps = eps;
  q.wd = weightDecay;
  q.stepSize = static_cast<float>(lr / bc1);
  q.bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  const bool vec = aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v);
  adamKernel<<<gridFor(vec ? ceilDiv(n, 4) : n, 256), 256, 0, asStream(stream)>>>(n, vec, p, g, m,
                                                                                  v, q);
  HGAD_CUDA_LAUNCHED("adamStep", sizes("n", n, "step", step));
}

}  // namespace cuda
}  // namespace hgad
