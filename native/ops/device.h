// What the build and the machine offer: whether CUDA code was compiled in, for
// which architectures, and the CUDA devices present. Without CUDA compiled in,
// or without a usable driver, the device list is empty and `error` says why.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hgad {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  uint64_t totalMemory = 0;
  int major = 0, minor = 0;
  int multiprocessors = 0;
};

bool cudaCompiled();
std::string cudaArchitectures();
std::vector<CudaDeviceInfo> cudaDevices(std::string* error);

}  // namespace hgad
