// The cuBLAS handle cache (see handle_cache.h).
#include "handle_cache.h"

namespace hgad {
namespace cuda {

void HandleCache::destroyOn(int device, void* handle) {
  detail::DeviceGuard guard(rt_, device);
  api_.destroy(handle);
  rt_.clearError();
}

HandleError HandleCache::acquireLocked(int device, Stream stream, void** handle) {
  const std::pair<int, Stream> key(device, stream);
  for (auto it = handles_.begin(); it != handles_.end(); ++it) {
    if (it->first == key) {
      handles_.splice(handles_.begin(), handles_, it);
      *handle = it->second;
      return HandleError{0, nullptr};
    }
  }
  // Created with its device current: a handle belongs to the device it was made on.
  detail::DeviceGuard guard(rt_, device);
  void* h = nullptr;
  const int st = api_.create(&h);
  if (st != 0) return HandleError{st, "cublasCreate_v2"};
  const int sst = api_.setStream(h, stream);
  if (sst != 0) {
    api_.destroy(h);
    return HandleError{sst, "cublasSetStream_v2"};
  }
  handles_.emplace_front(key, h);
  if (handles_.size() > max_) {
    const auto& last = handles_.back();
    destroyOn(last.first.first, last.second);
    handles_.pop_back();
  }
  *handle = h;
  return HandleError{0, nullptr};
}

void HandleCache::releaseStream(Stream stream) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = handles_.begin(); it != handles_.end();) {
    if (it->first.second == stream) {
      destroyOn(it->first.first, it->second);
      it = handles_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t HandleCache::count() {
  std::lock_guard<std::mutex> lock(mu_);
  return handles_.size();
}

}  // namespace cuda
}  // namespace hgad
