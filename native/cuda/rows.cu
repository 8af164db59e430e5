// CUDA kernel of row replication (math in native/ops/rows.h; the CPU
// reference is native/cpu/rows.cc). Memory-bound: bytes 4 R P read (through
// L2, every image reads the same table) + 4 copies R P written, one thread
// per output element, grid-stride.
#include "cuda_common.cuh"
#include "rows.h"

namespace hgad {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__global__ void repeatRowsKernel(int64_t total, int64_t block, const float* __restrict__ table, float* __restrict__ y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) y[t] = table[t % block];
}

}  // namespace

void repeatRows(int64_t copies, int64_t R, int64_t P, const float* table, float* y, Stream stream) {
  const int64_t total = copies * R * P;
  if (total <= 0) return;
  repeatRowsKernel<<<gridFor(total, kThreads), kThreads, 0, asStream(stream)>>>(total, R * P, table, y);
  HGAD_CUDA_LAUNCHED("repeatRows", sizes("copies", copies, "R", R, "P", P));
}

}  // namespace cuda
}  // namespace hgad
