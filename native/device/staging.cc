// Pinned host memory and staging chunks (see staging.h).
#include "staging.h"

#include <algorithm>

#include "allocator.h"

namespace hgad {
namespace cuda {

using detail::sizes;

void* PinnedCache::alloc(size_t bytes) {
  const size_t bucket = bucketSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = free_[bucket];
  if (!list.empty()) {
    void* p = list.back();
    list.pop_back();
    live_[p] = bucket;
    return p;
  }
  void* p = nullptr;
  HGAD_RT_CHECK(rt_, rt_.mallocHost(&p, bucket), "pinnedAlloc", sizes("bytes", bytes));
  live_[p] = bucket;
  return p;
}

void PinnedCache::free(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) throw CudaError("pinnedFree: pointer was not allocated by pinnedAlloc");
  free_[it->second].push_back(p);
  live_.erase(it);
}

void PinnedCache::trim() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& kv : free_)
    for (void* p : kv.second) rt_.freeHost(p);
  free_.clear();
  rt_.clearError();
}

size_t PinnedCache::liveCount() {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

Staging::Staging(const Runtime& rt, PinnedCache& pinned, const char* op, size_t bytes, size_t chunk)
    : rt_(rt), pinned_(pinned) {
  // A constructor that throws runs no destructor: what was acquired before
  // the failure is released here.
  try {
    for (int i = 0; i < 2; ++i) {
      buf[i] = pinned_.alloc(std::min(bytes, chunk));
      HGAD_RT_CHECK(rt_, rt_.eventCreate(&done[i]), op, sizes("bytes", bytes));
    }
  } catch (...) {
    release();
    throw;
  }
}

void Staging::release() {
  for (int i = 0; i < 2; ++i) {
    if (done[i]) {
      rt_.eventSynchronize(done[i]);
      rt_.eventDestroy(done[i]);
      done[i] = nullptr;
    }
    if (buf[i]) {
      pinned_.free(buf[i]);
      buf[i] = nullptr;
    }
  }
  rt_.clearError();
}

}  // namespace cuda
}  // namespace hgad
