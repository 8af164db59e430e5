// Page-locked host memory: the cache of pinned buffers and the two staging
// chunks (with their events) that a staged copy cycles through. Plain C++
// over `Runtime` (runtime.h); the copies themselves are in device_api.cu.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "runtime.h"

namespace hgad {
namespace cuda {

// Pinned buffers cached per bucket like device blocks (cudaMallocHost and
// cudaFreeHost synchronise the device).
class PinnedCache {
 public:
  explicit PinnedCache(const Runtime& rt) : rt_(rt) {}
  void* alloc(size_t bytes);
  void free(void* p);
  void trim();  // returns the cached (free) buffers to the driver
  size_t liveCount();

 private:
  const Runtime& rt_;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
};

// Two pinned chunks of min(bytes, chunk) and their events; the events say when
// a chunk's copy is done. Made and released with the stream's device current
// (the events belong to it).
struct Staging {
  void* buf[2] = {nullptr, nullptr};
  Event done[2] = {nullptr, nullptr};
  Staging(const Runtime& rt, PinnedCache& pinned, const char* op, size_t bytes, size_t chunk);
  ~Staging() { release(); }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

 private:
  void release();
  const Runtime& rt_;
  PinnedCache& pinned_;
};

}  // namespace cuda
}  // namespace hgad
