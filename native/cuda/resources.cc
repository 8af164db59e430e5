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

}  // namespace cuda
}  // namespace hgad
