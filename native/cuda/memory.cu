// Device memory, pinned staging memory, copies and streams.
//
// Caching allocator: the cost it removes is cudaMalloc/cudaFree (a device
// synchronisation each, tens of microseconds) on every op's temporaries.
// Requests are rounded up to buckets, 512 B steps below 1 MiB and 8 steps
// per power of two above (at most 12.5% slack), and a freed block goes to
// the free list of its (device, bucket). A free records an event on the
// freeing stream and on every other stream recorded as using the block
// (recordStream): the block is reused by the same stream once the other
// streams' events have completed (its own order protects it from itself),
// and by other streams once every event has completed. Streams carry their
// device (streamCreate records it); calls given a stream run with that
// device current (DeviceGuard), and a block is freed on its own device.
// streamWait orders two streams on the device through one cached event per
// device (no host wait).
// Bytes moved: none by the allocator; copies move `bytes` over PCIe/NVLink
// (host<->device) or HBM (device<->device, read + write).
// The allocator and pinned cache are leaked singletons: destroying them at
// exit would call into a CUDA runtime that may already be torn down.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
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
  cudaEvent_t freed;                 // recorded on `stream` at free
  std::vector<cudaEvent_t> usesDone;  // recorded on each other stream that used the block
  int eventDevice;                   // the device of the events (the block's)
};

struct LiveBlock {
  size_t bucket;
  int device;
  std::vector<cudaStream_t> uses;  // streams other than the allocation stream that used it
};

// The device of each stream made by streamCreate.
class StreamDevices {
 public:
  void add(cudaStream_t s, int device) {
    std::lock_guard<std::mutex> lock(mu_);
    devices_[s] = device;
  }
  void remove(cudaStream_t s) {
    std::lock_guard<std::mutex> lock(mu_);
    devices_.erase(s);
  }
  int of(cudaStream_t s) {
    if (!s) return -1;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = devices_.find(s);
    return it == devices_.end() ? -1 : it->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<cudaStream_t, int> devices_;
};

StreamDevices& streamDevices() {
  static StreamDevices* d = new StreamDevices();
  return *d;
}

bool completed(cudaEvent_t ev) {
  const cudaError_t st = cudaEventQuery(ev);
  if (st != cudaSuccess) cudaGetLastError();  // cudaErrorNotReady is not an error here
  return st == cudaSuccess;
}

class DeviceAllocator {
 public:
  void* alloc(size_t bytes, cudaStream_t stream) {
    detail::DeviceGuard guard(streamDevices().of(stream));
    int dev = 0;
    HGAD_CUDA_CHECK(cudaGetDevice(&dev), "deviceAlloc", sizes("bytes", bytes));
    const size_t bucket = bucketSize(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = free_[key(dev, bucket)];
    // Prefer a block last freed by this stream (its own order protects it),
    // newest first, then any whose freeing work has completed; either way
    // only once the other streams that used it are done with it.
    for (size_t pass = 0; pass < 2; ++pass) {
      for (size_t i = list.size(); i-- > 0;) {
        FreeBlock& b = list[i];
        bool ok = pass == 0 ? b.stream == stream : completed(b.freed);
        for (size_t u = 0; ok && u < b.usesDone.size(); ++u) ok = completed(b.usesDone[u]);
        if (!ok) continue;
        void* p = b.ptr;
        std::vector<cudaEvent_t>& spare = events_[b.eventDevice];
        spare.push_back(b.freed);
        spare.insert(spare.end(), b.usesDone.begin(), b.usesDone.end());
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        live_[p] = LiveBlock{bucket, dev, {}};
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
    live_[p] = LiveBlock{bucket, dev, {}};
    stats_.bytesInUse += bucket;
    ++stats_.driverAllocations;
    return p;
  }

  void recordUse(void* p, cudaStream_t stream) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) throw CudaError("recordStream: pointer was not allocated by deviceAlloc");
    std::vector<cudaStream_t>& uses = it->second.uses;
    if (std::find(uses.begin(), uses.end(), stream) == uses.end()) uses.push_back(stream);
  }

  void free(void* p, cudaStream_t stream) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) throw CudaError("deviceFree: pointer was not allocated by deviceAlloc");
    const LiveBlock& lb = it->second;
    const int dev = lb.device;
    const int streamDev = streamDevices().of(stream);
    if (streamDev >= 0 && streamDev != dev)
      throw CudaError("deviceFree: a block of device " + std::to_string(dev) + " freed on a stream of device " +
                      std::to_string(streamDev));
    // The events are recorded with the block's device current, on streams of
    // that device: spare events are kept per device (recording an event of
    // another device fails).
    detail::DeviceGuard guard(dev);
    std::vector<cudaEvent_t>& spare = events_[dev];
    std::vector<cudaEvent_t> recorded;
    auto recordOn = [&](cudaStream_t s) {
      cudaEvent_t ev;
      if (!spare.empty()) {
        ev = spare.back();
        spare.pop_back();
      } else {
        const cudaError_t cst = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
        if (cst != cudaSuccess) {
          spare.insert(spare.end(), recorded.begin(), recorded.end());
          HGAD_CUDA_CHECK(cst, "deviceFree", sizes("bucket", lb.bucket, "device", dev));
        }
      }
      const cudaError_t st = cudaEventRecord(ev, s);
      if (st != cudaSuccess) {
        spare.push_back(ev);
        spare.insert(spare.end(), recorded.begin(), recorded.end());
        HGAD_CUDA_CHECK(st, "deviceFree", sizes("bucket", lb.bucket, "device", dev));
      }
      recorded.push_back(ev);
    };
    recordOn(stream);
    for (cudaStream_t u : lb.uses)
      if (u != stream) recordOn(u);
    FreeBlock fb{p, stream, recorded[0], std::vector<cudaEvent_t>(recorded.begin() + 1, recorded.end()), dev};
    const size_t bucket = lb.bucket;
    live_.erase(it);
    free_[key(dev, bucket)].push_back(std::move(fb));
    stats_.bytesInUse -= bucket;
    stats_.bytesCached += bucket;
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mu_);
    trimLocked();
  }

  // A stream about to be destroyed: its cached blocks lose the same-stream
  // shortcut (a new stream may get the same handle while the old one's work
  // is still running) and are reused once their free event has completed;
  // live blocks forget it as a user (their free cannot record on it).
  void forgetStream(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_)
      for (FreeBlock& b : kv.second)
        if (b.stream == stream) b.stream = kNoStream;
    for (auto& kv : live_) {
      std::vector<cudaStream_t>& uses = kv.second.uses;
      uses.erase(std::remove(uses.begin(), uses.end(), stream), uses.end());
    }
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
        for (cudaEvent_t ev : b.usesDone) {
          cudaEventSynchronize(ev);
          cudaEventDestroy(ev);
        }
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
    // A constructor that throws runs no destructor: what was acquired before
    // the failure is released here.
    try {
      for (int i = 0; i < 2; ++i) {
        buf[i] = pinnedAlloc(std::min(bytes, kStageChunk));
        HGAD_CUDA_CHECK(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming), op,
                        sizes("bytes", bytes));
      }
    } catch (...) {
      release();
      throw;
    }
  }
  ~Staging() { release(); }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

 private:
  void release() {
    for (int i = 0; i < 2; ++i) {
      if (done[i]) {
        cudaEventSynchronize(done[i]);
        cudaEventDestroy(done[i]);
        done[i] = nullptr;
      }
      if (buf[i]) {
        pinnedCache().free(buf[i]);
        buf[i] = nullptr;
      }
    }
    cudaGetLastError();
  }
};

}  // namespace

void* deviceAlloc(size_t bytes, Stream stream) { return allocator().alloc(bytes, asStream(stream)); }
void deviceFree(void* ptr, Stream stream) { allocator().free(ptr, asStream(stream)); }
void recordStream(void* ptr, Stream stream) { allocator().recordUse(ptr, asStream(stream)); }
void trimCache() {
  allocator().trim();
  pinnedCache().trim();
}
AllocatorStats allocatorStats() { return allocator().stats(); }
void* pinnedAlloc(size_t bytes) { return pinnedCache().alloc(bytes); }
void pinnedFree(void* ptr) { pinnedCache().free(ptr); }

void copyHostToDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  detail::DeviceGuard guard(streamDevice(stream));
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, asStream(stream)),
                  "copyHostToDevice", sizes("bytes", bytes));
}
void copyDeviceToHost(void* dst, const void* src, size_t bytes, Stream stream) {
  detail::DeviceGuard guard(streamDevice(stream));
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, asStream(stream)),
                  "copyDeviceToHost", sizes("bytes", bytes));
}
void copyDeviceToDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  detail::DeviceGuard guard(streamDevice(stream));
  HGAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, asStream(stream)),
                  "copyDeviceToDevice", sizes("bytes", bytes));
}
void fillBytes(void* dst, int value, size_t bytes, Stream stream) {
  detail::DeviceGuard guard(streamDevice(stream));
  HGAD_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, asStream(stream)), "fillBytes",
                  sizes("bytes", bytes));
}

void copyHostToDeviceStaged(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes == 0) return;
  const char* op = "copyHostToDeviceStaged";
  detail::DeviceGuard guard(streamDevice(stream));
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
  detail::DeviceGuard guard(streamDevice(stream));
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
  int dev = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&dev), "streamCreate", "");
  cudaStream_t s = nullptr;
  HGAD_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "streamCreate", "");
  streamDevices().add(s, dev);
  return s;
}
void streamDestroy(Stream stream) {
  if (!stream) return;
  const cudaStream_t s = asStream(stream);
  detail::DeviceGuard guard(streamDevice(stream));
  detail::cublasReleaseStream(s);
  allocator().forgetStream(s);
  streamDevices().remove(s);
  HGAD_CUDA_CHECK(cudaStreamDestroy(s), "streamDestroy", "");
}
int streamDevice(Stream stream) { return streamDevices().of(asStream(stream)); }
void useStreamDevice(Stream stream) {
  const int dev = streamDevice(stream);
  if (dev < 0) return;
  int current = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&current), "useStreamDevice", "");
  if (current != dev) HGAD_CUDA_CHECK(cudaSetDevice(dev), "useStreamDevice", sizes("device", dev));
}
void streamSynchronize(Stream stream) {
  detail::DeviceGuard guard(streamDevice(stream));
  HGAD_CUDA_CHECK(cudaStreamSynchronize(asStream(stream)), "streamSynchronize", "");
}
void deviceSynchronize() {
  HGAD_CUDA_CHECK(cudaDeviceSynchronize(), "deviceSynchronize", "");
}
void streamWait(Stream waiter, Stream signaler) {
  if (waiter == signaler) return;
  detail::DeviceGuard guard(streamDevice(signaler) >= 0 ? streamDevice(signaler) : streamDevice(waiter));
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
