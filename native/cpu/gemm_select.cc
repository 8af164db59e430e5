// The CPU GEMM kernels this build has and the one in force (native/cpu/gemm.cc
// runs it): the best the CPU supports, unless HGAD_CPU_KERNEL / setGemmKernel
// chose another.
#include <atomic>
#include <string>
#include <vector>

#include "gemm.h"
#include "gemm_microkernels.h"

namespace hgad {
namespace {

using namespace gemm_detail;

// Every kernel this build has, best first; a CPU runs those it supports.
struct KernelEntry {
  Kernel kernel;
  bool (*supported)();
};

bool alwaysSupported() { return true; }

#ifdef HGAD_GEMM_X86
bool avx512Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
bool avx2Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

#ifdef HGAD_GEMM_X86
// The AVX2 tile of the deep products. Their dW2 (M = 200 = 50 x 4, N = 712)
// does not run as its transpose here: transposed, N = 200 would leave a third
// of the last 24-wide panel empty, and untransposed it measured 5-8% faster.
// Its half instance (16 wide) runs over a last panel of at most 12 columns.
const Kernel kAvx2Deep = {"avx2", kAvx2DeepMR, kAvx2DeepNR, 144, 384, 4096, avx2::tile<kAvx2DeepMR, 3, kAvx2DeepNR>,
                          avx2::tile<kAvx2DeepMR, 2, kAvx2DeepNR>, true, true, nullptr, false};
#endif

const KernelEntry kKernels[] = {
#ifdef HGAD_GEMM_X86
    {{"avx512", kAvx512MR, kAvx512NR, 144, 512, 4096, avx512::tile<kAvx512MR, 2, kAvx512NR>,
      avx512::tile<kAvx512MR, 1, kAvx512NR>, true, true},
     avx512Supported},
    {{"avx2", kAvx2MR, kAvx2NR, 144, 384, 4096, avx2::tile<kAvx2MR, 2, kAvx2NR>,
      avx2::tile<kAvx2MR, 1, kAvx2NR>, true, true, &kAvx2Deep},
     avx2Supported},
#endif
    {{"portable", kPortMR, kPortNR, 128, 256, 4096, kernelPortable, nullptr, true, false}, alwaysSupported},
};

const Kernel* bestKernel() {
  for (const KernelEntry& e : kKernels)
    if (e.supported()) return &e.kernel;
  return &kKernels[0].kernel;
}

// The kernel in force: the best one unless setGemmKernel chose another. Read
// once per product, so a switch never changes the kernel in the middle of one.
std::atomic<const Kernel*>& currentKernel() {
  static std::atomic<const Kernel*> k{bestKernel()};
  return k;
}


}  // namespace

namespace gemm_detail {
const Kernel& selectKernel() { return *currentKernel().load(std::memory_order_acquire); }
}  // namespace gemm_detail

const char* gemmKernelName() { return selectKernel().name; }

std::vector<std::string> gemmKernelsSupported() {
  std::vector<std::string> names;
  for (const KernelEntry& e : kKernels)
    if (e.supported()) names.push_back(e.kernel.name);
  return names;
}

bool setGemmKernel(const std::string& name) {
  if (name == "auto") {
    currentKernel().store(bestKernel(), std::memory_order_release);
    return true;
  }
  for (const KernelEntry& e : kKernels) {
    if (name != e.kernel.name) continue;
    if (!e.supported()) return false;
    currentKernel().store(&e.kernel, std::memory_order_release);
    return true;
  }
  return false;
}

}  // namespace hgad
