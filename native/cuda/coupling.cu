// Fused affine coupling; math as native/ops/coupling.h:
//   s = clamp tanh(0.1 a_s),  y2 = x2 exp(s) + 0.1 a_t,  logdet += const + sum_j s
// Per row of C channels (C1 = ceil(C/2) copied, C2 transformed):
//   forward / inverse: FLOPs ~ 6 C2 + tanh + exp per element,
//                      bytes 4 (2C + 2 C2) + 8 (x, y, a, logdet in and out)
//   backward:          bytes 4 (3C + 2 C2 + 2 C2) + 4
// One warp per row: lanes stride over the channels (coalesced), the sum of s
// is a warp reduction, so the log-determinant needs no second pass. tanhf and
// expf are the accurate library versions (the CPU's float path uses ~1e-8
// polynomial approximations; both are checked against float64).
#include "coupling.h"
#include "cuda_common.cuh"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

constexpr int kWarps = kThreads / 32;

template <bool INVERSE>
__global__ void couplingKernel(int64_t N, int64_t C, const float* __restrict__ in,
                               const float* __restrict__ a, float clamp,
                               const float* __restrict__ logdetIn, const float* __restrict__ logdetConst,
                               float* __restrict__ out, float* __restrict__ logdetOut) {
  const int64_t C1 = (C + 1) / 2, C2 = C - C1;
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarps;
  for (int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); n < N; n += warps) {
    const float* ir = in + n * C;
    const float* as = a + n * 2 * C2;
    const float* at = as + C2;
    float* orow = out + n * C;
    for (int64_t j = lane; j < C1; j += 32) orow[j] = ir[j];
    float sum = 0.0f;
    for (int64_t j = lane; j < C2; j += 32) {
      const float s = clamp * tanhf(0.1f * as[j]);
      sum += s;
      orow[C1 + j] = INVERSE ? (ir[C1 + j] - 0.1f * at[j]) * expf(-s)
                             : ir[C1 + j] * expf(s) + 0.1f * at[j];
    }
    sum = detail::warpSum(sum);
    if (lane == 0) {
      const float base = logdetIn ? logdetIn[n] : 0.0f;
      logdetOut[n] = INVERSE ? base - logdetConst[0] - sum : base + logdetConst[0] + sum;
    }
  }
}

__global__ void couplingBackwardKernel(int64_t N, int64_t C, const float* __restrict__ x,
                                       const float* __restrict__ a, float clamp,
                                       const float* __restrict__ dy,
                                       const float* __restrict__ dlogdet, float* __restrict__ dx,
                                       float* __restrict__ da) {
  const int64_t C1 = (C + 1) / 2, C2 = C - C1;
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarps;
  for (int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); n < N; n += warps) {
    const float* xr = x + n * C;
    const float* as = a + n * 2 * C2;
    const float* dyr = dy + n * C;
    float* dxr = dx + n * C;
    float* das = da + n * 2 * C2;
    const float dl = dlogdet ? dlogdet[n] : 0.0f;
    for (int64_t j = lane; j < C1; j += 32) dxr[j] = dyr[j];
    for (int64_t j = lane; j < C2; j += 32) {
      const float th = tanhf(0.1f * as[j]);
      const float e = expf(clamp * th);
      const float g = dyr[C1 + j];
      dxr[C1 + j] = g * e;
      const float ds = g * xr[C1 + j] * e + dl;
      das[j] = ds * clamp * 0.1f * (1.0f - th * th);
      das[C2 + j] = 0.1f * g;
    }
  }
}

unsigned rowGrid(int64_t N) { return gridFor(N, kWarps, 132 * 64); }

// in, out: (N, C)  a: (N, 2*C2)  logdetIn: (N) or null  logdetConst: (1)  logdetOut: (N)
template <bool INVERSE>
void launchCoupling(const char* op, int64_t N, int64_t C, const float* in, const float* a, float clamp,
                    const float* logdetIn, const float* logdetConst, float* out, float* logdetOut,
                    Stream stream) {
  if (N <= 0) return;
  couplingKernel<INVERSE><<<rowGrid(N), kThreads, 0, asStream(stream)>>>(
      N, C, in, a, clamp, logdetIn, logdetConst, out, logdetOut);
  HGAD_CUDA_LAUNCHED(op, sizes("N", N, "C", C));
}

}  // namespace

void couplingForward(int64_t N, int64_t C, const float* x, const float* a, float clamp,
                     const float* logdetIn, const float* logdetConst, float* y, float* logdetOut,
                     Stream stream) {
  launchCoupling<false>("couplingForward", N, C, x, a, clamp, logdetIn, logdetConst, y, logdetOut, stream);
}

void couplingInverse(int64_t N, int64_t C, const float* y, const float* a, float clamp,
                     const float* logdetIn, const float* logdetConst, float* x, float* logdetOut,
                     Stream stream) {
  launchCoupling<true>("couplingInverse", N, C, y, a, clamp, logdetIn, logdetConst, x, logdetOut, stream);
}

void couplingBackward(int64_t N, int64_t C, const float* x, const float* a, float clamp,
                      const float* dy, const float* dlogdet, float* dx, float* da, Stream stream) {
  if (N <= 0) return;
  couplingBackwardKernel<<<rowGrid(N), kThreads, 0, asStream(stream)>>>(N, C, x, a, clamp, dy,
                                                                        dlogdet, dx, da);
  HGAD_CUDA_LAUNCHED("couplingBackward", sizes("N", N, "C", C));
}

}  // namespace cuda
}  // namespace hgad
