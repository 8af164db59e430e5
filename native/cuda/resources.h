// The device resources of one runtime: the stream registry, the caching
// allocator and the pinned cache, and a stream's life (created on the current
// device; destroyed with its device current, after its cuBLAS handles and the
// allocator have let it go). The addon holds one over the CUDA runtime
// (memory.cu); the native test holds one over a fake runtime.
#pragma once
#include <functional>

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

  const Runtime& rt;
  StreamDevices streams;
  DeviceAllocator allocator;
  PinnedCache pinned;

 private:
  std::function<void(Stream)> releaseHandles_;
};

}  // namespace cuda
}  // namespace hgad
