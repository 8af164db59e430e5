// The device API (device_api.h) over the CUDA runtime: device memory, pinned
// staging memory, copies and streams.
// The bookkeeping (caching allocator, pinned cache, staging chunks,
// stream registry, stream waits) is plain C++ over `Runtime` (allocator.cc,
// staging.cc, resources.cc), held here as one DeviceResources over the CUDA
// runtime; this file makes the calls that need no bookkeeping (copies, host
// waits, device attributes). Streams carry their device (streamCreate records
// it); calls given a stream run with that device current (DeviceGuard).
// Bytes moved: copies move `bytes` over PCIe/NVLink (host<->device) or HBM
// (device<->device, read + write).
// The resources are leaked singletons: destroying them at exit would call
// into a CUDA runtime that may already be torn down.
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "cuda_common.cuh"
#include "resources.h"

namespace hgad {
namespace cuda {
namespace detail {

namespace {
// A device attribute of the current device, read once per device.
int cachedAttribute(cudaDeviceAttr attr, const char* op) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, int> cache;
  int dev = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&dev), op, "");
  std::lock_guard<std::mutex> lock(mu);
  const std::pair<int, int> key(dev, static_cast<int>(attr));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  int n = 0;
  HGAD_CUDA_CHECK(cudaDeviceGetAttribute(&n, attr, dev), op, sizes("device", dev));
  cache[key] = n;
  return n;
}
}  // namespace

int multiprocessorCount() { return cachedAttribute(cudaDevAttrMultiProcessorCount, "multiprocessorCount"); }

size_t sharedMemoryOptin() {
  return static_cast<size_t>(cachedAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "sharedMemoryOptin"));
}

}  // namespace detail

namespace {

DeviceResources& resources() {
  static DeviceResources* r =
      new DeviceResources(cudaRuntime(), [](Stream s) { detail::cublasReleaseStream(asStream(s)); });
  return *r;
}

// The device of `stream` current for the scope (nothing for the legacy default stream).
class OnStreamDevice : public detail::DeviceGuard {
 public:
  explicit OnStreamDevice(Stream stream) : DeviceGuard(cudaRuntime(), resources().streamDevice(stream)) {}
};

constexpr size_t kStageChunk = size_t(8) << 20;

}  // namespace

void* deviceAlloc(size_t bytes, Stream stream) { return resources().allocator.alloc(bytes, stream); }
void deviceFree(void* ptr, Stream stream) { resources().allocator.free(ptr, stream); }
void recordStream(void* ptr, Stream stream) { resources().allocator.recordUse(ptr, stream); }
void trimCache() {
  resources().allocator.trim();
  resources().pinned.trim();
}
AllocatorStats allocatorStats() { return resources().allocator.stats(); }
void* pinnedAlloc(size_t bytes) { return resources().pinned.alloc(bytes); }
void pinnedFree(void* ptr) { resources().pinned.free(ptr); }

void copyHostToDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  OnStreamDevice guard(stream);
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, asStream(stream)),
                  "copyHostToDevice", sizes("bytes", bytes));
}
void copyDeviceToHost(void* dst, const void* src, size_t bytes, Stream stream) {
  OnStreamDevice guard(stream);
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, asStream(stream)),
                  "copyDeviceToHost", sizes("bytes", bytes));
}
void copyDeviceToDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  OnStreamDevice guard(stream);
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, asStream(stream)),
                  "copyDeviceToDevice", sizes("bytes", bytes));
}
void fillBytes(void* dst, int value, size_t bytes, Stream stream) {
  OnStreamDevice guard(stream);
  HGAD_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, asStream(stream)), "fillBytes",
                  sizes("bytes", bytes));
}

namespace {
// A staged copy of `bytes` on `stream`: on the stream's device, through two
// pinned chunks whose events say when each chunk's last transfer is done.
template <typename F>
void stagedCopy(const char* op, size_t bytes, Stream stream, F&& body) {
  if (bytes == 0) return;
  OnStreamDevice guard(stream);
  Staging st(cudaRuntime(), resources().pinned, op, bytes, kStageChunk);
  auto event = [&](size_t i) { return static_cast<cudaEvent_t>(st.done[i & 1]); };
  body(st.buf, event, asStream(stream));
}
}  // namespace

void copyHostToDeviceStaged(void* dst, const void* src, size_t bytes, Stream stream) {
  const char* op = "copyHostToDeviceStaged";
  stagedCopy(op, bytes, stream, [&](void* const* buf, auto event, cudaStream_t s) {
    for (size_t off = 0, i = 0; off < bytes; off += kStageChunk, ++i) {
      const size_t n = std::min(kStageChunk, bytes - off);
      // The chunk's previous transfer must be done before the host refills it.
      HGAD_CUDA_CHECK(cudaEventSynchronize(event(i)), op, sizes("bytes", bytes, "offset", off));
      std::memcpy(buf[i & 1], static_cast<const char*>(src) + off, n);
      HGAD_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, buf[i & 1], n, cudaMemcpyHostToDevice, s),
                      op, sizes("bytes", bytes, "offset", off));
      HGAD_CUDA_CHECK(cudaEventRecord(event(i), s), op, sizes("bytes", bytes));
    }
  });
}

void copyDeviceToHostStaged(void* dst, const void* src, size_t bytes, Stream stream) {
  const char* op = "copyDeviceToHostStaged";
  stagedCopy(op, bytes, stream, [&](void* const* buf, auto event, cudaStream_t s) {
    const size_t chunks = (bytes + kStageChunk - 1) / kStageChunk;
    auto issue = [&](size_t i) {
      const size_t off = i * kStageChunk, n = std::min(kStageChunk, bytes - off);
      HGAD_CUDA_CHECK(cudaMemcpyAsync(buf[i & 1], static_cast<const char*>(src) + off, n, cudaMemcpyDeviceToHost, s),
                      op, sizes("bytes", bytes, "offset", off));
      HGAD_CUDA_CHECK(cudaEventRecord(event(i), s), op, sizes("bytes", bytes));
    };
    issue(0);
    for (size_t i = 0; i < chunks; ++i) {
      if (i + 1 < chunks) issue(i + 1);  // the next transfer overlaps this memcpy
      const size_t off = i * kStageChunk, n = std::min(kStageChunk, bytes - off);
      HGAD_CUDA_CHECK(cudaEventSynchronize(event(i)), op, sizes("bytes", bytes, "offset", off));
      std::memcpy(static_cast<char*>(dst) + off, buf[i & 1], n);
    }
  });
}

Stream streamCreate() { return resources().createStream(); }
void streamDestroy(Stream stream) { resources().destroyStream(stream); }
int streamDevice(Stream stream) { return resources().streamDevice(stream); }
void useStreamDevice(Stream stream) {
  const int dev = streamDevice(stream);
  if (dev < 0) return;
  int current = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&current), "useStreamDevice", "");
  if (current != dev) HGAD_CUDA_CHECK(cudaSetDevice(dev), "useStreamDevice", sizes("device", dev));
}
void streamSynchronize(Stream stream) {
  OnStreamDevice guard(stream);
  HGAD_CUDA_CHECK(cudaStreamSynchronize(asStream(stream)), "streamSynchronize", "");
}
void deviceSynchronize() {
  HGAD_CUDA_CHECK(cudaDeviceSynchronize(), "deviceSynchronize", "");
}
void streamWait(Stream waiter, Stream signaler) { resources().streamWait(waiter, signaler); }
void setDevice(int index) {
  HGAD_CUDA_CHECK(cudaSetDevice(index), "setDevice", sizes("index", index));
}
int deviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace cuda
}  // namespace hgad
