// Build without CUDA: no devices, and the reason says so.
#include "device.h"

namespace hgad {

bool cudaCompiled() { return false; }

std::string cudaArchitectures() { return ""; }

std::vector<CudaDeviceInfo> cudaDevices(std::string* error) {
  if (error) *error = "this build of hgad was compiled without CUDA";
  return {};
}

}  // namespace hgad
