// The caching device allocator (see allocator.h): plain C++ over `Runtime`.
// Bytes moved: none.
#include "allocator.h"

#include <algorithm>
#include <string>

namespace hgad {
namespace cuda {

using detail::DeviceGuard;
using detail::sizes;

namespace {
// Never a stream handle: marks cached blocks of a destroyed stream.
const Stream kNoStream = reinterpret_cast<Stream>(~uintptr_t(0));
}  // namespace

size_t bucketSize(size_t bytes) {
  if (bytes == 0) bytes = 1;
  constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
  if (bytes <= kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  size_t pow2 = kLarge;
  while (pow2 * 2 < bytes) pow2 *= 2;  // pow2 < bytes <= 2 * pow2
  const size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

bool DeviceAllocator::completed(Event ev) const {
  const int st = rt_.eventQuery(ev);
  if (st != Runtime::kSuccess) rt_.clearError();  // kNotReady is not an error here
  return st == Runtime::kSuccess;
}

// Pass 0 takes a block last freed by `stream` (its own order protects it),
// pass 1 any whose freeing work has completed; either way only once the other
// streams that used it are done with it.
bool DeviceAllocator::reusable(const FreeBlock& b, Stream stream, bool sameStreamPass) const {
  if (sameStreamPass ? b.stream != stream : !completed(b.freed)) return false;
  for (Event ev : b.usesDone)
    if (!completed(ev)) return false;
  return true;
}

void* DeviceAllocator::take(std::vector<FreeBlock>& list, size_t i, size_t bucket, int dev) {
  FreeBlock& b = list[i];
  void* p = b.ptr;
  std::vector<Event>& spare = events_[b.device];
  spare.push_back(b.freed);
  spare.insert(spare.end(), b.usesDone.begin(), b.usesDone.end());
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
  live_[p] = LiveBlock{bucket, dev, {}};
  stats_.bytesInUse += bucket;
  stats_.bytesCached -= bucket;
  ++stats_.cacheHits;
  return p;
}

void* DeviceAllocator::alloc(size_t bytes, Stream stream) {
  DeviceGuard guard(rt_, streams_.of(stream));
  int dev = 0;
  HGAD_RT_CHECK(rt_, rt_.getDevice(&dev), "deviceAlloc", sizes("bytes", bytes));
  const size_t bucket = bucketSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = free_[key(dev, bucket)];
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = list.size(); i-- > 0;)  // newest first
      if (reusable(list[i], stream, pass == 0)) return take(list, i, bucket, dev);
  void* p = nullptr;
  int st = rt_.malloc(&p, bucket);
  if (st == Runtime::kOutOfMemory) {
    rt_.clearError();
    trimLocked();
    st = rt_.malloc(&p, bucket);
  }
  HGAD_RT_CHECK(rt_, st, "deviceAlloc", sizes("bytes", bytes, "bucket", bucket, "inUse", stats_.bytesInUse));
  live_[p] = LiveBlock{bucket, dev, {}};
  stats_.bytesInUse += bucket;
  ++stats_.driverAllocations;
  return p;
}

DeviceAllocator::LiveMap::iterator DeviceAllocator::liveBlock(void* p, const char* op) {
  auto it = live_.find(p);
  if (it == live_.end()) throw CudaError(std::string(op) + ": pointer was not allocated by deviceAlloc");
  return it;
}

void DeviceAllocator::recordUse(void* p, Stream stream) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Stream>& uses = liveBlock(p, "recordStream")->second.uses;
  if (std::find(uses.begin(), uses.end(), stream) == uses.end()) uses.push_back(stream);
}

// An event of device `dev` (a spare one, else a new one) recorded on `s`;
// on failure every event of this free goes back to the spares.
Event DeviceAllocator::recordOn(Stream s, std::vector<Event>& recorded, size_t bucket, int dev) {
  std::vector<Event>& spare = events_[dev];
  Event ev = nullptr;
  if (!spare.empty()) {
    ev = spare.back();
    spare.pop_back();
  } else {
    const int st = rt_.eventCreate(&ev);
    if (st != Runtime::kSuccess) {
      spare.insert(spare.end(), recorded.begin(), recorded.end());
      HGAD_RT_CHECK(rt_, st, "deviceFree", sizes("bucket", bucket, "device", dev));
    }
  }
  const int st = rt_.eventRecord(ev, s);
  if (st != Runtime::kSuccess) {
    spare.push_back(ev);
    spare.insert(spare.end(), recorded.begin(), recorded.end());
    HGAD_RT_CHECK(rt_, st, "deviceFree", sizes("bucket", bucket, "device", dev));
  }
  return ev;
}

void DeviceAllocator::free(void* p, Stream stream) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = liveBlock(p, "deviceFree");
  const LiveBlock& lb = it->second;
  const int dev = lb.device;
  const int streamDev = streams_.of(stream);
  if (streamDev >= 0 && streamDev != dev)
    throw CudaError("deviceFree: a block of device " + std::to_string(dev) + " freed on a stream of device " +
                    std::to_string(streamDev));
  DeviceGuard guard(rt_, dev);
  std::vector<Event> recorded;
  recorded.push_back(recordOn(stream, recorded, lb.bucket, dev));
  for (Stream u : lb.uses)
    if (u != stream) recorded.push_back(recordOn(u, recorded, lb.bucket, dev));
  FreeBlock fb{p, stream, recorded[0], std::vector<Event>(recorded.begin() + 1, recorded.end()), dev};
  const size_t bucket = lb.bucket;
  live_.erase(it);
  free_[key(dev, bucket)].push_back(std::move(fb));
  stats_.bytesInUse -= bucket;
  stats_.bytesCached += bucket;
}

void DeviceAllocator::trim() {
  std::lock_guard<std::mutex> lock(mu_);
  trimLocked();
}

void DeviceAllocator::trimLocked() {
  for (auto& kv : free_) {
    const int dev = static_cast<int>(kv.first >> 56);
    const size_t bucket = kv.first & ((uint64_t(1) << 56) - 1);
    DeviceGuard guard(rt_, dev);
    for (FreeBlock& b : kv.second) {
      rt_.eventSynchronize(b.freed);
      rt_.eventDestroy(b.freed);
      for (Event ev : b.usesDone) {
        rt_.eventSynchronize(ev);
        rt_.eventDestroy(ev);
      }
      rt_.free(b.ptr);
      stats_.bytesCached -= bucket;
    }
    kv.second.clear();
  }
  free_.clear();
  rt_.clearError();
}

void DeviceAllocator::forgetStream(Stream stream) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& kv : free_)
    for (FreeBlock& b : kv.second)
      if (b.stream == stream) b.stream = kNoStream;
  for (auto& kv : live_) {
    std::vector<Stream>& uses = kv.second.uses;
    uses.erase(std::remove(uses.begin(), uses.end(), stream), uses.end());
  }
}

AllocatorStats DeviceAllocator::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace cuda
}  // namespace hgad
