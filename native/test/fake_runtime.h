// A fake CUDA runtime (and cuBLAS handle API) for the device bookkeeping's
// test: two devices, a current device, streams whose addresses are reused
// after destroy, events that complete only when the test finishes the work
// queued before them, device and pinned allocations that fail on demand. It
// refuses what the real runtime refuses (recording an event on a stream of
// another device, unknown handles) and records as a violation what would be
// a silent bug on a GPU: a call not run with its stream's or block's device
// current, a cuBLAS handle destroyed after its stream, or used for a stream
// that is not the one it was bound to.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "handle_cache.h"
#include "runtime.h"

namespace hgad::cuda::fake {

// The queue of one stream: work is "submitted" by the test and completes
// only when the test finishes it.
struct Queue {
  explicit Queue(int d) : device(d) {}
  int device;
  uint64_t submitted = 0, finished = 0;
  bool alive = true;
  // Waits queued on it (cudaStreamWaitEvent): the queue and the submitted
  // count its later work waits for.
  std::vector<std::pair<std::shared_ptr<Queue>, uint64_t>> waits;
};

class FakeRuntime final : public Runtime {
 public:
  static constexpr int kInvalidHandle = 400, kInvalidDevice = 101, kHostAllocFailed = 2;
  static constexpr int kDevices = 2;

  mutable int current = 0;
  mutable std::vector<std::string> violations;
  mutable size_t budget[kDevices] = {size_t(1) << 30, size_t(1) << 30};  // device bytes
  mutable size_t used[kDevices] = {0, 0};
  mutable int failHostAllocAt = -1, hostAllocCalls = 0;    // the n-th mallocHost fails (0-based)
  mutable int failEventCreateAt = -1, eventCreateCalls = 0;
  mutable std::map<void*, std::pair<int, size_t>> blocks;  // device blocks: device, bytes
  mutable std::set<void*> hostBlocks;

  // Streams: the lowest free address is handed out again (as a driver may).
  mutable std::map<Stream, std::shared_ptr<Queue>> streams;
  std::shared_ptr<Queue> legacy[kDevices] = {std::make_shared<Queue>(0), std::make_shared<Queue>(1)};

  struct EventState {
    int device;
    std::shared_ptr<Queue> queue;  // of the last record (null: never recorded)
    uint64_t mark = 0;              // the queue's submitted count at the record
  };
  mutable std::map<Event, EventState> events;

  std::shared_ptr<Queue> queueOf(Stream s) const {
    if (!s) return legacy[current];
    auto it = streams.find(s);
    return it == streams.end() ? nullptr : it->second;
  }
  void submit(Stream s) const { ++queueOf(s)->submitted; }  // a kernel queued on s
  void finish(Stream s) const {
    auto q = queueOf(s);
    q->finished = q->submitted;
  }
  void finish(const std::shared_ptr<Queue>& q) const { q->finished = q->submitted; }
  bool requireCurrent(int device, const std::string& what) const {
    if (device == current) return true;
    violations.push_back(what + " ran with device " + std::to_string(current) + " current, not its device " +
                         std::to_string(device));
    return false;
  }

  int getDevice(int* device) const override {
    *device = current;
    return kSuccess;
  }
  int setDevice(int device) const override {
    if (device < 0 || device >= kDevices) return kInvalidDevice;
    current = device;
    return kSuccess;
  }
  int malloc(void** ptr, size_t bytes) const override {
    if (used[current] + bytes > budget[current]) return kOutOfMemory;
    *ptr = new char[bytes];
    blocks[*ptr] = {current, bytes};
    used[current] += bytes;
    return kSuccess;
  }
  int free(void* ptr) const override {
    auto it = blocks.find(ptr);
    if (it == blocks.end()) return kInvalidHandle;
    requireCurrent(it->second.first, "cudaFree");
    used[it->second.first] -= it->second.second;
    delete[] static_cast<char*>(ptr);
    blocks.erase(it);
    return kSuccess;
  }
  int mallocHost(void** ptr, size_t bytes) const override {
    if (hostAllocCalls++ == failHostAllocAt) return kHostAllocFailed;
    *ptr = new char[bytes];
    hostBlocks.insert(*ptr);
    return kSuccess;
  }
  int freeHost(void* ptr) const override {
    if (!hostBlocks.erase(ptr)) return kInvalidHandle;
    delete[] static_cast<char*>(ptr);
    return kSuccess;
  }
  int streamCreate(Stream* stream) const override {
    uintptr_t a = 0x1000;
    while (streams.count(reinterpret_cast<Stream>(a))) a += 0x1000;
    *stream = reinterpret_cast<Stream>(a);
    streams[*stream] = std::make_shared<Queue>(current);
    return kSuccess;
  }
  int streamDestroy(Stream stream) const override {
    auto it = streams.find(stream);
    if (it == streams.end()) return kInvalidHandle;
    requireCurrent(it->second->device, "cudaStreamDestroy");
    it->second->alive = false;  // its queued work still completes
    streams.erase(it);
    return kSuccess;
  }
  int eventCreate(Event* event) const override {
    if (eventCreateCalls++ == failEventCreateAt) return kOutOfMemory;
    *event = new char;
    events[*event] = EventState{current, nullptr, 0};
    return kSuccess;
  }
  int eventRecord(Event event, Stream stream) const override {
    auto it = events.find(event);
    auto q = queueOf(stream);
    if (it == events.end() || !q) return kInvalidHandle;
    if (it->second.device != q->device) return kInvalidHandle;  // as CUDA: event and stream of one device
    it->second.queue = q;
    it->second.mark = q->submitted;
    return kSuccess;
  }
  bool done(const EventState& e) const { return !e.queue || e.queue->finished >= e.mark; }
  int eventQuery(Event event) const override {
    auto it = events.find(event);
    if (it == events.end()) return kInvalidHandle;
    return done(it->second) ? kSuccess : kNotReady;
  }
  int eventSynchronize(Event event) const override {  // the host waits: the work completes
    auto it = events.find(event);
    if (it == events.end()) return kInvalidHandle;
    if (it->second.queue) it->second.queue->finished = std::max(it->second.queue->finished, it->second.mark);
    return kSuccess;
  }
  int eventDestroy(Event event) const override {
    auto it = events.find(event);
    if (it == events.end()) return kInvalidHandle;
    delete static_cast<char*>(event);
    events.erase(it);
    return kSuccess;
  }
  int streamWaitEvent(Stream stream, Event event) const override {
    auto it = events.find(event);
    auto q = queueOf(stream);
    if (it == events.end() || !q) return kInvalidHandle;
    if (it->second.queue) q->waits.emplace_back(it->second.queue, it->second.mark);
    return kSuccess;
  }
  void clearError() const override {}
  const char* errorName(int status) const override {
    return status == kOutOfMemory ? "cudaErrorMemoryAllocation" : "cudaErrorFake";
  }
  const char* errorString(int status) const override {
    return status == kOutOfMemory ? "out of memory" : "fake runtime error";
  }
};

// The cuBLAS handle entry points over one FakeRuntime (plain function
// pointers, so the runtime they act on is a global).
struct FakeHandles {
  struct State {
    int device;
    std::shared_ptr<Queue> bound;  // the stream queue it was bound to
  };
  static inline FakeRuntime* rt = nullptr;
  static inline std::map<void*, State> live;
  static inline int created = 0;

  static int create(void** h) {
    *h = new char;
    live[*h] = State{rt->current, nullptr};
    ++created;
    return 0;
  }
  static int destroy(void* h) {
    auto it = live.find(h);
    if (it == live.end()) return 1;
    rt->requireCurrent(it->second.device, "cublasDestroy");
    if (it->second.bound && !it->second.bound->alive) rt->violations.push_back("a cuBLAS handle destroyed after its stream");
    delete static_cast<char*>(h);
    live.erase(it);
    return 0;
  }
  static int setStream(void* h, Stream s) {
    auto it = live.find(h);
    if (it == live.end()) return 1;
    it->second.bound = rt->queueOf(s);
    return 0;
  }
  static HandleApi api(FakeRuntime& runtime) {
    rt = &runtime;
    live.clear();
    created = 0;
    HandleApi a;
    a.create = create;
    a.destroy = destroy;
    a.setStream = setStream;
    return a;
  }
};

}  // namespace hgad::cuda::fake
