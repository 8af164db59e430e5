// A stream's life over the device resources (see resources.h).
#include "resources.h"

namespace hgad {
namespace cuda {

Stream DeviceResources::createStream() {
  int dev = 0;
  HGAD_RT_CHECK(rt, rt.getDevice(&dev), "streamCreate", "");
  Stream s = nullptr;
  HGAD_RT_CHECK(rt, rt.streamCreate(&s), "streamCreate", detail::sizes("device", dev));
  streams.add(s, dev);
  return s;
}

void DeviceResources::destroyStream(Stream stream) {
  if (!stream) return;
  detail::DeviceGuard guard(rt, streams.of(stream));
  if (releaseHandles_) releaseHandles_(stream);
  allocator.forgetStream(stream);
  streams.remove(stream);
  HGAD_RT_CHECK(rt, rt.streamDestroy(stream), "streamDestroy", "");
}

void DeviceResources::streamWait(Stream waiter, Stream signaler) {
  if (waiter == signaler) return;
  detail::DeviceGuard guard(rt, streams.of(signaler) >= 0 ? streams.of(signaler) : streams.of(waiter));
  int dev = 0;
  HGAD_RT_CHECK(rt, rt.getDevice(&dev), "streamWait", "");
  std::lock_guard<std::mutex> lock(waitMu_);
  auto it = waitEvents_.find(dev);
  if (it == waitEvents_.end()) {
    Event ev = nullptr;
    HGAD_RT_CHECK(rt, rt.eventCreate(&ev), "streamWait", detail::sizes("device", dev));
    it = waitEvents_.emplace(dev, ev).first;
  }
  HGAD_RT_CHECK(rt, rt.eventRecord(it->second, signaler), "streamWait", detail::sizes("device", dev));
  HGAD_RT_CHECK(rt, rt.streamWaitEvent(waiter, it->second), "streamWait", detail::sizes("device", dev));
}

}  // namespace cuda
}  // namespace hgad
