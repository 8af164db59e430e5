// The caching device allocator's bookkeeping (the runtime calls go through
// `Runtime`, see runtime.h).
//
// The cost it removes is cudaMalloc/cudaFree (a device synchronisation each,
// tens of microseconds) on every op's temporaries. Requests are rounded up to
// buckets, 512 B steps below 1 MiB and 8 steps per power of two above (at most
// 12.5% slack), and a freed block goes to the free list of its (device,
// bucket). A free records an event on the freeing stream and on every other
// stream recorded as using the block (recordStream): the block is reused by
// the same stream once the other streams' events have completed (its own
// order protects it from itself), and by other streams once every event has
// completed. A block is allocated with its stream's device current and freed
// with its own device current; spare events are kept per device (recording an
// event of another device fails).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "runtime.h"
#include "streams.h"

namespace hgad {
namespace cuda {

// The bucket a request of `bytes` is served from (>= bytes, >= 512).
size_t bucketSize(size_t bytes);

class DeviceAllocator {
 public:
  DeviceAllocator(const Runtime& rt, const StreamDevices& streams) : rt_(rt), streams_(streams) {}
  void* alloc(size_t bytes, Stream stream);
  // Work queued on `stream` (not the allocation stream) uses the block.
  void recordUse(void* p, Stream stream);
  void free(void* p, Stream stream);
  // Returns every cached block to the driver (waits for their events).
  void trim();
  // A stream about to be destroyed: its cached blocks lose the same-stream
  // shortcut (a new stream may get the same handle while the old one's work
  // is still running) and are reused once their free event has completed;
  // live blocks forget it as a user (their free cannot record on it).
  void forgetStream(Stream stream);
  AllocatorStats stats();

 private:
  struct FreeBlock {
    void* ptr;
    Stream stream;                 // the freeing stream (kNoStream once destroyed)
    Event freed;                   // recorded on `stream` at free
    std::vector<Event> usesDone;   // recorded on each other stream that used the block
    int device;                    // the block's, and its events'
  };
  struct LiveBlock {
    size_t bucket;
    int device;
    std::vector<Stream> uses;  // streams other than the allocation stream that used it
  };

  using LiveMap = std::unordered_map<void*, LiveBlock>;

  static uint64_t key(int dev, size_t bucket) { return (uint64_t(dev) << 56) ^ bucket; }
  // The live block at p (under the lock); a CudaError naming `op` when p is not one.
  LiveMap::iterator liveBlock(void* p, const char* op);
  bool completed(Event ev) const;
  bool reusable(const FreeBlock& b, Stream stream, bool sameStreamPass) const;
  void* take(std::vector<FreeBlock>& list, size_t i, size_t bucket, int dev);
  Event recordOn(Stream s, std::vector<Event>& recorded, size_t bucket, int dev);
  void trimLocked();

  const Runtime& rt_;
  const StreamDevices& streams_;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::vector<FreeBlock>> free_;
  LiveMap live_;
  std::unordered_map<int, std::vector<Event>> events_;  // spare events per device
  AllocatorStats stats_;
};

}  // namespace cuda
}  // namespace hgad
