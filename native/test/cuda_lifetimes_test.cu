// The device lifetime rules on a real GPU (device_lifetimes_test checks the
// same bookkeeping over a fake runtime, on any machine):
//  * 40 rounds of stream create / uploads / GEMM (kAuto: cuBLAS when it is
//    found) / download / free / destroy, as a disposed backend does: each
//    GEMM matches the float64 reference, no cuBLAS handle outlives its
//    stream, the allocator's bytes in use return to 0, and after trimCache
//    the device's free memory is back within 64 MiB of where it started (a
//    handle and its workspace leaked per round would hold 40 of them);
//  * with two devices: a stream made on device 1, used and destroyed while
//    device 0 is current, allocates on device 1, computes there and leaves
//    device 0 current.
// Env: HGAD_SEED (default time-based, printed) seeds the inputs.
// Prints one PASS/FAIL line per check; without a usable CUDA device it prints
// "SKIPPED: no CUDA device (<reason>)" and returns 77 (CTest: skipped).
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "device.h"
#include "parity_util.h"

using parity::check;
using parity::randomFloats;
using parity::record;
using parity::Tally;
namespace cu = hgad::cuda;

namespace {

size_t freeDeviceMemory() {
  size_t freeBytes = 0, total = 0;
  cudaMemGetInfo(&freeBytes, &total);
  return freeBytes;
}

// C = A B on `stream` with the device buffers of this call, against the float64 reference.
// A: (M, K)  B: (K, N)  C: (M, N)
bool gemmOnStream(Tally& t, const std::string& name, cu::Stream stream, std::mt19937_64& rng) {
  hgad::GemmShape s;
  s.M = 130, s.N = 130, s.K = 22, s.lda = s.K, s.ldb = s.N, s.ldc = s.N;
  const auto A = randomFloats(s.M * s.K, rng), B = randomFloats(s.K * s.N, rng);
  float* dA = static_cast<float*>(cu::deviceAlloc(A.size() * 4, stream));
  float* dB = static_cast<float*>(cu::deviceAlloc(B.size() * 4, stream));
  float* dC = static_cast<float*>(cu::deviceAlloc(s.M * s.N * 4, stream));
  cu::copyHostToDeviceStaged(dA, A.data(), A.size() * 4, stream);
  cu::copyHostToDeviceStaged(dB, B.data(), B.size() * 4, stream);
  cu::useStreamDevice(stream);  // kernels launch on the current device, as the binding arranges
  cu::gemm(s, dA, dB, 0.0f, dC, nullptr, false, stream);
  std::vector<float> C(s.M * s.N);
  cu::copyDeviceToHostStaged(C.data(), dC, C.size() * 4, stream);
  std::vector<double> ref(C.size());
  const auto Ad = parity::toDouble(A), Bd = parity::toDouble(B);
  hgad::gemmReference(s, Ad.data(), Bd.data(), 0.0, ref.data(), static_cast<const double*>(nullptr), false);
  for (float* p : {dA, dB, dC}) cu::deviceFree(p, stream);
  return check(t, name, C, ref, 1e-5 * std::sqrt(double(s.K)), 1e-5);
}

void streamRounds(Tally& t, std::mt19937_64& rng) {
  cu::trimCache();
  const size_t before = freeDeviceMemory();
  bool handlesOk = true, bytesOk = true;
  for (int round = 0; round < 40; ++round) {
    cu::Stream stream = cu::streamCreate();
    gemmOnStream(t, "stream round " + std::to_string(round) + " gemm 130x130x22", stream, rng);
    cu::streamSynchronize(stream);
    cu::streamDestroy(stream);
    handlesOk = handlesOk && cu::cublasHandleCount() == 0;
    bytesOk = bytesOk && cu::allocatorStats().bytesInUse == 0;
  }
  record(t, "40 stream rounds: no cuBLAS handle outlives its stream", handlesOk,
         std::string(cu::cublasAvailable() ? "cuBLAS loaded" : "cuBLAS not found (tiled GEMM, no handles)") +
             ", handles now " + std::to_string(cu::cublasHandleCount()));
  record(t, "40 stream rounds: allocator bytes in use back to 0", bytesOk,
         "in use " + std::to_string(cu::allocatorStats().bytesInUse));
  cu::deviceSynchronize();
  cu::trimCache();
  const size_t after = freeDeviceMemory();
  const size_t slack = size_t(64) << 20;
  record(t, "40 stream rounds: device memory returns after trimCache", after + slack >= before,
         "free before " + std::to_string(before >> 20) + " MiB, after " + std::to_string(after >> 20) + " MiB");
}

void secondDevice(Tally& t, std::mt19937_64& rng) {
  cu::setDevice(1);
  cu::Stream s1 = cu::streamCreate();
  cu::setDevice(0);
  void* p = cu::deviceAlloc(4096, s1);
  cudaPointerAttributes attr{};
  cudaPointerGetAttributes(&attr, p);
  int current = -1;
  cudaGetDevice(&current);
  record(t, "device 1 stream, device 0 current: block on device 1", attr.device == 1 && current == 0,
         "block device " + std::to_string(attr.device) + ", current " + std::to_string(current));
  cu::deviceFree(p, s1);
  gemmOnStream(t, "device 1 stream: gemm 130x130x22", s1, rng);
  cu::setDevice(0);
  cu::streamSynchronize(s1);
  cu::streamDestroy(s1);
  cudaGetDevice(&current);
  record(t, "device 1 stream destroyed from device 0: device 0 stays current", current == 0,
         "current " + std::to_string(current) + ", handles " + std::to_string(cu::cublasHandleCount()));
}

}  // namespace

int main() {
  std::string reason;
  const std::vector<hgad::CudaDeviceInfo> devices = hgad::cudaDevices(&reason);
  if (devices.empty()) {
    std::printf("SKIPPED: no CUDA device (%s)\n", reason.empty() ? "cudaGetDeviceCount returned 0" : reason.c_str());
    return 77;
  }
  uint64_t seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000007ull;
  if (const char* e = std::getenv("HGAD_SEED")) seed = std::strtoull(e, nullptr, 10);
  std::printf("device: %s  devices: %zu  seed: %llu\n", devices[0].name.c_str(), devices.size(), (unsigned long long)seed);
  std::mt19937_64 rng(seed);
  Tally t;
  try {
    streamRounds(t, rng);
    if (devices.size() >= 2) secondDevice(t, rng);
    else std::printf("NOTE: one device; the two-device checks did not run\n");
  } catch (const std::exception& e) {
    record(t, "no CUDA error", false, e.what());
  }
  std::printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
