// The device resources of one runtime: the stream registry, the caching
// allocator and the pinned cache, a stream's life (created on the current
// device; destroyed with its device current, after its cuBLAS handles and the
// allocator have let it go) and the ordering of two streams. The addon holds
// one over the CUDA runtime (device_api.cu); the native test holds one over a
// fake runtime.
#pragma once
#include <functional>
#include <mutex>
#include <unordered_map>

#include "allocator.h"
#include "runtime.h"
#include "staging.h"
#include "streams.h"

namespace hgad {
namespace cuda {

class DeviceResources {
 public:
  // releaseHandles(stream): destroys the stream's cuBLAS handles (may be empty).
  DeviceResources(const Runtime& rt, std::function<void(Stream)> releaseHandles)
      : rt(rt), allocator(rt, streams), pinned(rt), releaseHandles_(std::move(releaseHandles)) {}
  DeviceResources(const DeviceResources&) = delete;
  DeviceResources& operator=(const DeviceResources&) = delete;

  // A non-blocking stream of the current device.
  Stream createStream();
  // Destroys a stream made by createStream (nullptr: nothing).
  void destroyStream(Stream stream);
  int streamDevice(Stream stream) const { return streams.of(stream); }
  // Work queued on `waiter` from now on starts once the work queued on
  // `signaler` so far has completed, without a host wait: an event of the
  // signaler's device (the waiter's for the legacy default stream), recorded
  // with that device current. One cached event per device serves every call:
  // a wait applies to the record made before it, whatever is recorded later.
  void streamWait(Stream waiter, Stream signaler);

  const Runtime& rt;
  StreamDevices streams;
  DeviceAllocator allocator;
  PinnedCache pinned;

 private:
  std::function<void(Stream)> releaseHandles_;
  std::mutex waitMu_;
  std::unordered_map<int, Event> waitEvents_;  // per device
};

}  // namespace cuda
}  // namespace hgad
