// The device of each stream made by streamCreate: every call given a stream
// (allocations, frees, copies, waits, destroy) runs with that device current,
// whatever device the calling thread selected last.
#pragma once
#include <mutex>
#include <unordered_map>

#include "runtime.h"

namespace hgad {
namespace cuda {

class StreamDevices {
 public:
  void add(Stream s, int device) {
    std::lock_guard<std::mutex> lock(mu_);
    devices_[s] = device;
  }
  void remove(Stream s) {
    std::lock_guard<std::mutex> lock(mu_);
    devices_.erase(s);
  }
  // -1 for the legacy default stream (nullptr) and for unknown streams.
  int of(Stream s) const {
    if (!s) return -1;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = devices_.find(s);
    return it == devices_.end() ? -1 : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<Stream, int> devices_;
};

}  // namespace cuda
}  // namespace hgad
