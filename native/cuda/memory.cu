// Device memory, pinned staging memory, copies and streams.
//
// Caching allocator: the cost it removes is cudaMalloc/cudaFree (a device
// synchronisation each, tens of microseconds) on every op's temporaries.
// Requests are rounded up to buckets, 512 B steps below 1 MiB and 8 steps
// per power of two above (at most 12.5% slack), and a freed block goes to
// the free list of its (device, bucket). A free records an event on the
// freeing stream: the block is reused at once by the same stream (stream
// order protects it) and by other streams once that event has completed.
// streamWait orders two streams on the device through one cached event per
// device (no host wait).
// Bytes moved: none by the allocator; copies move `bytes` over PCIe/NVLink
// (host<->device) or HBM (device<->device, read + write).
// The allocator and pinned cache are leaked singletons: destroying them at
// exit would call into a CUDA runtime that may already be torn down.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_common.cuh"

namespace hgad {
namespace cuda {
namespace detail {

int multiprocessorCount() {
  static std::mutex mu;
  static std::unordered_map<int, int> cache;
  int dev = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&dev), "multiprocessorCount", "");
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  int n = 0;
  HGAD_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev),
                  "multiprocessorCount", sizes("device", dev));
  cache[dev] = n;
  return n;
}

size_t sharedMemoryOptin() {
  static std::mutex mu;
  static std::unordered_map<int, size_t> cache;
  int dev = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&dev), "sharedMemoryOptin", "");
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  int n = 0;
  HGAD_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
                  "sharedMemoryOptin", sizes("device", dev));
  cache[dev] = static_cast<size_t>(n);
  return cache[dev];
}

}  // namespace detail

using detail::asStream;
using detail::sizes;

namespace {

size_t bucketSize(size_t bytes) {
  if (bytes == 0) bytes = 1;
  constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
  if (bytes <= kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  size_t pow2 = kLarge;
  while (pow2 * 2 < bytes) pow2 *= 2;  // pow2 < bytes <= 2 * pow2
  const size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

// Never a stream handle: marks cached blocks of a destroyed stream.
const cudaStream_t kNoStream = reinterpret_cast<cudaStream_t>(~uintptr_t(0));

struct FreeBlock {
  void* ptr;
  cudaStream_t stream;
  cudaEvent_t freed;  // recorded on `stream` at free
  int eventDevice;    // the device `freed` belongs to (current at the free)
};

struct LiveBlock {
  size_t bucket;
  int device;
};

class DeviceAllocator {
 public:
  void* alloc(size_t bytes, cudaStream_t stream) {
    int dev = 0;
    HGAD_CUDA_CHECK(cudaGetDevice(&dev), "deviceAlloc", sizes("bytes", bytes));
    const size_t bucket = bucketSize(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = free_[key(dev, bucket)];
    // Prefer a block last used by this stream (no wait), newest first, then
    // any whose freeing work has completed.
    for (size_t pass = 0; pass < 2; ++pass) {
      for (size_t i = list.size(); i-- > 0;) {
        FreeBlock& b = list[i];
        bool ok = pass == 0 ? b.stream == stream : cudaEventQuery(b.freed) == cudaSuccess;
        if (pass == 1 && !ok) cudaGetLastError();  // cudaErrorNotReady is not an error here
        if (!ok) continue;
        void* p = b.ptr;
        events_[b.eventDevice].push_back(b.freed);
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        live_[p] = LiveBlock{bucket, dev};
        stats_.bytesInUse += bucket;
        stats_.bytesCached -= bucket;
        ++stats_.cacheHits;
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t st = cudaMalloc(&p, bucket);
    if (st == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      trimLocked();
      st = cudaMalloc(&p, bucket);
    }
    HGAD_CUDA_CHECK(st, "deviceAlloc",
                    sizes("bytes", bytes, "bucket", bucket, "inUse", stats_.bytesInUse));
    live_[p] = LiveBlock{bucket, dev};
    stats_.bytesInUse += bucket;
    ++stats_.driverAllocations;
    return p;
  }

  void free(void* p, cudaStream_t stream) {
    if (!p) return;
    // The event is recorded on `stream`, a stream of the current device, so it
    // must belong to that device: spare events are kept per device (recording
    // an event of another device fails).
    int dev = 0;
    HGAD_CUDA_CHECK(cudaGetDevice(&dev), "deviceFree", "");
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) throw CudaError("deviceFree: pointer was not allocated by deviceAlloc");
    const LiveBlock lb = it->second;
    std::vector<cudaEvent_t>& spare = events_[dev];
    cudaEvent_t ev;
    if (!spare.empty()) {
      ev = spare.back();
      spare.pop_back();
    } else {
      HGAD_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "deviceFree",
                      sizes("bucket", lb.bucket, "device", dev));
    }
    const cudaError_t st = cudaEventRecord(ev, stream);
    if (st != cudaSuccess) {
      spare.push_back(ev);
      HGAD_CUDA_CHECK(st, "deviceFree", sizes("bucket", lb.bucket, "device", dev));
    }
    live_.erase(it);
    free_[key(lb.device, lb.bucket)].push_back(FreeBlock{p, stream, ev, dev});
    stats_.bytesInUse -= lb.bucket;
    stats_.bytesCached += lb.bucket;
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mu_);
    trimLocked();
  }

  // A stream about to be destroyed: its cached blocks lose the same-stream
  // shortcut (a new stream may get the same handle while the old one's work
  // is still running) and are reused once their free event has completed.
  void forgetStream(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_)
      for (FreeBlock& b : kv.second)
        if (b.stream == stream) b.stream = kNoStream;
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  static uint64_t key(int dev, size_t bucket) { return (uint64_t(dev) << 56) ^ bucket; }

  void trimLocked() {
    int current = 0;
    cudaGetDevice(&current);
    for (auto& kv : free_) {
      const int dev = static_cast<int>(kv.first >> 56);
      const size_t bucket = kv.first & ((uint64_t(1) << 56) - 1);
      cudaSetDevice(dev);
      for (FreeBlock& b : kv.second) {
        cudaEventSynchronize(b.freed);
        cudaEventDestroy(b.freed);
        cudaFree(b.ptr);
        stats_.bytesCached -= bucket;
      }
      kv.second.clear();
    }
    free_.clear();
    cudaSetDevice(current);
    cudaGetLastError();
  }

  std::mutex mu_;
  std::unordered_map<uint64_t, std::vector<FreeBlock>> free_;
  std::unordered_map<void*, LiveBlock> live_;
  std::unordered_map<int, std::vector<cudaEvent_t>> events_;  // spare events per device
  AllocatorStats stats_;
};

DeviceAllocator& allocator() {
  static DeviceAllocator* a = new DeviceAllocator();
  return *a;
}

class PinnedCache {
 public:
  void* alloc(size_t bytes) {
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
    HGAD_CUDA_CHECK(cudaMallocHost(&p, bucket), "pinnedAlloc", sizes("bytes", bytes));
    live_[p] = bucket;
    return p;
  }
  void free(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) throw CudaError("pinnedFree: pointer was not allocated by pinnedAlloc");
    free_[it->second].push_back(p);
    live_.erase(it);
  }
  void trim() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_)
      for (void* p : kv.second) cudaFreeHost(p);
    free_.clear();
    cudaGetLastError();
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
};

PinnedCache& pinnedCache() {
  static PinnedCache* c = new PinnedCache();
  return *c;
}

// One event per device for streamWait, under a lock. cudaStreamWaitEvent
// waits for the record made before it was called; re-recording the event
// afterwards does not affect that wait, so one event serves every call.
class WaitEvents {
 public:
  void wait(cudaStream_t waiter, cudaStream_t signaler) {
    int dev = 0;
    HGAD_CUDA_CHECK(cudaGetDevice(&dev), "streamWait", "");
    std::lock_guard<std::mutex> lock(mu_);
    auto it = events_.find(dev);
    if (it == events_.end()) {
      cudaEvent_t ev = nullptr;
      HGAD_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "streamWait",
                      sizes("device", dev));
      it = events_.emplace(dev, ev).first;
    }
    HGAD_CUDA_CHECK(cudaEventRecord(it->second, signaler), "streamWait", sizes("device", dev));
    HGAD_CUDA_CHECK(cudaStreamWaitEvent(waiter, it->second, 0), "streamWait", sizes("device", dev));
  }

 private:
  std::mutex mu_;
  std::unordered_map<int, cudaEvent_t> events_;
};

WaitEvents& waitEvents() {
  static WaitEvents* w = new WaitEvents();
  return *w;
}

constexpr size_t kStageChunk = size_t(8) << 20;

// Two pinned chunks and their events; the events say when a chunk's copy is done.
struct Staging {
  void* buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  explicit Staging(const char* op, size_t bytes) {
    for (int i = 0; i < 2; ++i) {
      buf[i] = pinnedAlloc(std::min(bytes, kStageChunk));
      HGAD_CUDA_CHECK(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming), op,
                      sizes("bytes", bytes));
    }
  }
  ~Staging() {
    for (int i = 0; i < 2; ++i) {
      if (done[i]) {
        cudaEventSynchronize(done[i]);
        cudaEventDestroy(done[i]);
      }
      if (buf[i]) pinnedCache().free(buf[i]);
    }
    cudaGetLastError();
  }
};

}  // namespace

void* deviceAlloc(size_t bytes, Stream stream) { return allocator().alloc(bytes, asStream(stream)); }
void deviceFree(void* ptr, Stream stream) { allocator().free(ptr, asStream(stream)); }
void trimCache() {
  allocator().trim();
  pinnedCache().trim();
}
AllocatorStats allocatorStats() { return allocator().stats(); }
void* pinnedAlloc(size_t bytes) { return pinnedCache().alloc(bytes); }
void pinnedFree(void* ptr) { pinnedCache().free(ptr); }

void copyHostToDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, asStream(stream)),
                  "copyHostToDevice", sizes("bytes", bytes));
}
void copyDeviceToHost(void* dst, const void* src, size_t bytes, Stream stream) {
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, asStream(stream)),
                  "copyDeviceToHost", sizes("bytes", bytes));
}
void copyDeviceToDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, asStream(stream)),
                  "copyDeviceToDevice", sizes("bytes", bytes));
}
void fillBytes(void* dst, int value, size_t bytes, Stream stream) {
  HGAD_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, asStream(stream)), "fillBytes",
                  sizes("bytes", bytes));
}

void copyHostToDeviceStaged(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes == 0) return;
  const char* op = "copyHostToDeviceStaged";
  Staging st(op, bytes);
  const cudaStream_t s = asStream(stream);
  for (size_t off = 0, i = 0; off < bytes; off += kStageChunk, ++i) {
    const size_t n = std::min(kStageChunk, bytes - off);
    const int b = static_cast<int>(i & 1);
    // The chunk's previous transfer must be done before the host refills it.
    HGAD_CUDA_CHECK(cudaEventSynchronize(st.done[b]), op, sizes("bytes", bytes, "offset", off));
    std::memcpy(st.buf[b], static_cast<const char*>(src) + off, n);
    HGAD_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, st.buf[b], n,
                                    cudaMemcpyHostToDevice, s),
                    op, sizes("bytes", bytes, "offset", off));
    HGAD_CUDA_CHECK(cudaEventRecord(st.done[b], s), op, sizes("bytes", bytes));
  }
}

void copyDeviceToHostStaged(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes == 0) return;
  const char* op = "copyDeviceToHostStaged";
  Staging st(op, bytes);
  const cudaStream_t s = asStream(stream);
  const size_t chunks = (bytes + kStageChunk - 1) / kStageChunk;
  auto issue = [&](size_t i) {
    const size_t off = i * kStageChunk, n = std::min(kStageChunk, bytes - off);
    const int b = static_cast<int>(i & 1);
    HGAD_CUDA_CHECK(cudaMemcpyAsync(st.buf[b], static_cast<const char*>(src) + off, n,
                                    cudaMemcpyDeviceToHost, s),
                    op, sizes("bytes", bytes, "offset", off));
    HGAD_CUDA_CHECK(cudaEventRecord(st.done[b], s), op, sizes("bytes", bytes));
  };
  issue(0);
  for (size_t i = 0; i < chunks; ++i) {
    if (i + 1 < chunks) issue(i + 1);  // the next transfer overlaps this memcpy
    const size_t off = i * kStageChunk, n = std::min(kStageChunk, bytes - off);
    const int b = static_cast<int>(i & 1);
    HGAD_CUDA_CHECK(cudaEventSynchronize(st.done[b]), op, sizes("bytes", bytes, "offset", off));
    std::memcpy(static_cast<char*>(dst) + off, st.buf[b], n);
  }
}

Stream streamCreate() {
  cudaStream_t s = nullptr;
  HGAD_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "streamCreate", "");
  return s;
}
void streamDestroy(Stream stream) {
  if (!stream) return;
  allocator().forgetStream(asStream(stream));
  HGAD_CUDA_CHECK(cudaStreamDestroy(asStream(stream)), "streamDestroy", "");
}
void streamSynchronize(Stream stream) {
  HGAD_CUDA_CHECK(cudaStreamSynchronize(asStream(stream)), "streamSynchronize", "");
}
void deviceSynchronize() {
  HGAD_CUDA_CHECK(cudaDeviceSynchronize(), "deviceSynchronize", "");
}
void streamWait(Stream waiter, Stream signaler) {
  if (waiter == signaler) return;
  waitEvents().wait(asStream(waiter), asStream(signaler));
}
void setDevice(int index) {
  HGAD_CUDA_CHECK(cudaSetDevice(index), "setDevice", sizes("index", index));
}
int deviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace cuda
}  // namespace hgad
