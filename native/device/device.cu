// CUDA device discovery through the runtime API (linked statically, so the
// addon loads on machines without the CUDA runtime installed; without a
// driver cudaGetDeviceCount fails cleanly and we report why).
#include <cuda_runtime.h>

#include "device.h"

#ifndef HGAD_CUDA_ARCHS
#define HGAD_CUDA_ARCHS ""
#endif

namespace hgad {

bool cudaCompiled() { return true; }

std::string cudaArchitectures() { return HGAD_CUDA_ARCHS; }

std::vector<CudaDeviceInfo> cudaDevices(std::string* error) {
  std::vector<CudaDeviceInfo> out;
  int count = 0;
  cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    if (error) *error = cudaGetErrorString(st);
    cudaGetLastError();
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.totalMemory = p.totalGlobalMem;
    d.major = p.major;
    d.minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    out.push_back(d);
  }
  return out;
}

}  // namespace hgad
