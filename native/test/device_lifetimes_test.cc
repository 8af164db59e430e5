// The device resources' bookkeeping (native/device: allocator, staging, stream
// registry, cuBLAS handle cache) driven over a fake runtime
// (fake_runtime.h), so that the lifetime rules run without a GPU or a driver:
//   cublas_handles: a stream's cuBLAS handles go with the stream, a new
//     stream at the reused address gets a fresh handle, eviction destroys
//     only live streams' handles, each with its own device current;
//   device_guard: a stream carries its device; allocation, free (its events),
//     stream destroy and the event spares follow it whatever device is current;
//   record_stream: a block freed on one stream is not reused before the
//     other streams that used it are done;
//   stream_wait: a wait records an event of the signaler's device on the
//     signaler, whatever device is current, through one cached event per device;
//   staging_failure: a Staging whose second allocation fails releases the
//     first pinned buffer and event;
//   out_of_memory: a failed cudaMalloc trims the cache (each block freed on
//     its own device) and retries.
// Prints "ok <case>" or "FAIL <case>: <why>" per case; exits 1 if any failed.
// Run by test/device_lifetimes.test.ts (npm test) and by CTest.
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

#include "fake_runtime.h"
#include "handle_cache.h"
#include "resources.h"

using namespace hgad::cuda;
using fake::FakeHandles;
using fake::FakeRuntime;

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define EXPECT(cond, why)                                       \
  do {                                                          \
    if (!(cond)) throw Failure(std::string(why) + " [" #cond "]"); \
  } while (0)

void noViolations(const FakeRuntime& rt) {
  if (!rt.violations.empty()) throw Failure("runtime misuse: " + rt.violations.front());
}

// Every case ends with the cache trimmed, no block left on the fake devices
// and no misuse recorded.
void endClean(FakeRuntime& rt, DeviceResources& res) {
  res.allocator.trim();
  const AllocatorStats st = res.allocator.stats();
  EXPECT(rt.blocks.empty() && st.bytesCached == 0 && st.bytesInUse == 0, "trim returns every block");
  noViolations(rt);
}

template <typename F>
bool throwsCudaError(F&& f) {
  try {
    f();
  } catch (const CudaError&) {
    return true;
  }
  return false;
}

void cublasHandlesCase() {
  FakeRuntime rt;
  HandleCache cache(rt, FakeHandles::api(rt), 32);
  DeviceResources res(rt, [&](Stream s) { cache.releaseStream(s); });
  // The handle used for a stream must be bound to that stream's queue now.
  auto gemmOn = [&](Stream s) {
    const HandleError e = cache.with(res.streamDevice(s), s, [&](void* h) {
      EXPECT(FakeHandles::live.count(h) == 1, "the cache handed out a destroyed handle");
      EXPECT(FakeHandles::live[h].bound == rt.queueOf(s), "a stale handle bound to an earlier stream at this address");
      EXPECT(FakeHandles::live[h].device == rt.current, "a handle of another device");
    });
    EXPECT(e.status == 0, "creating a handle failed");
  };
  Stream first = nullptr;
  for (int round = 0; round < 40; ++round) {  // create, GEMM, destroy, as a disposed backend does
    rt.current = round % 2;
    Stream s = res.createStream();
    if (round == 0) first = s;
    EXPECT(s == first, "the fake reuses the address (the case under test)");
    gemmOn(s);
    rt.current = 1 - rt.current;  // destroyed from the other device
    res.destroyStream(s);
    EXPECT(cache.count() == 0, "a destroyed stream's handle is still cached");
    EXPECT(FakeHandles::live.empty(), "a destroyed stream's handle was not destroyed");
  }
  EXPECT(FakeHandles::created == 40, "one handle per stream");
  // Eviction beyond 32 handles: only live streams' handles, each on its device.
  std::vector<Stream> live;
  for (int i = 0; i < 34; ++i) {
    rt.current = i % 2;
    live.push_back(res.createStream());
    gemmOn(live.back());
  }
  EXPECT(cache.count() == 32 && FakeHandles::live.size() == 32, "at most 32 handles are kept");
  rt.current = 0;
  for (Stream s : live) res.destroyStream(s);
  EXPECT(cache.count() == 0 && FakeHandles::live.empty(), "every handle goes with its stream");
  endClean(rt, res);
}

void deviceGuardCase() {
  FakeRuntime rt;
  DeviceResources res(rt, nullptr);
  rt.current = 1;
  Stream s1 = res.createStream();
  rt.current = 0;
  Stream s0 = res.createStream();
  EXPECT(res.streamDevice(s1) == 1 && res.streamDevice(s0) == 0, "a stream carries the device it was created on");
  // Another backend of this thread selected device 0 last.
  void* p = res.allocator.alloc(4096, s1);
  EXPECT(rt.blocks.at(p).first == 1, "a block is allocated on its stream's device");
  EXPECT(rt.current == 0, "the caller's device is restored");
  res.allocator.free(p, s1);  // its event is recorded on s1: made on device 1
  EXPECT(rt.current == 0, "the caller's device is restored after a free");
  EXPECT(res.allocator.stats().bytesCached == 4096, "the freed block is cached, not leaked");
  // A block of device 1 freed on a stream of device 0 is refused and stays live.
  void* q = res.allocator.alloc(100, s1);
  EXPECT(throwsCudaError([&] { res.allocator.free(q, s0); }), "a free on another device's stream throws");
  res.allocator.free(q, s1);
  EXPECT(res.allocator.stats().bytesInUse == 0, "the refused block could still be freed");
  // Spare events are per device: a block of device 1 taken back leaves its
  // events as device 1 spares, which a free on device 0 must not record.
  void* r = res.allocator.alloc(4096, s1);
  EXPECT(r == p, "the cached block is reused on its stream");
  void* z = res.allocator.alloc(512, s0);
  res.allocator.free(z, s0);
  res.allocator.free(r, s1);
  rt.current = 0;
  res.destroyStream(s1);  // with device 1 current
  res.destroyStream(s0);
  EXPECT(rt.current == 0, "the caller's device is restored after destroy");
  endClean(rt, res);
}

void recordStreamCase() {
  FakeRuntime rt;
  DeviceResources res(rt, nullptr);
  Stream a = res.createStream(), b = res.createStream();
  void* p = res.allocator.alloc(8192, a);
  res.allocator.recordUse(p, b);  // a kernel on b reads p
  rt.submit(b);
  rt.submit(a);
  res.allocator.free(p, a);
  void* q = res.allocator.alloc(8192, a);
  EXPECT(q != p, "a block is not reused on its freeing stream while another stream that used it runs");
  rt.finish(b);
  void* r = res.allocator.alloc(8192, a);
  EXPECT(r == p, "once the using stream is done the block is reused on its freeing stream");
  // A block used by its own stream only: reused at once on that stream, on
  // another only after the freeing stream's work completes.
  res.allocator.free(q, a);
  void* onB = res.allocator.alloc(8192, b);
  EXPECT(onB != q, "another stream waits for the freeing stream's work");
  void* onA = res.allocator.alloc(8192, a);
  EXPECT(onA == q, "the freeing stream reuses its block at once");
  // A destroyed stream loses the same-stream shortcut: a new stream at its
  // address must wait for the old stream's work.
  res.allocator.free(onA, a);
  res.allocator.free(r, a);
  res.allocator.free(onB, b);
  rt.submit(a);
  Stream gone = a;
  res.destroyStream(a);
  Stream again = res.createStream();
  EXPECT(again == gone, "the fake reuses the address (the case under test)");
  void* s = res.allocator.alloc(8192, again);
  EXPECT(s != onA && s != r, "a new stream at a reused address does not take the old stream's blocks early");
  res.allocator.free(s, again);
  res.destroyStream(again);
  res.destroyStream(b);
  endClean(rt, res);
}

void streamWaitCase() {
  FakeRuntime rt;
  DeviceResources res(rt, nullptr);
  rt.current = 1;
  Stream a = res.createStream(), b = res.createStream();
  rt.current = 0;
  Stream c = res.createStream();
  rt.submit(b);
  rt.submit(b);
  res.streamWait(a, b);  // device 0 current, both streams on device 1
  EXPECT(rt.current == 0, "the caller's device is restored after a wait");
  const auto& waits = rt.queueOf(a)->waits;
  EXPECT(waits.size() == 1 && waits[0].first == rt.queueOf(b) && waits[0].second == 2,
         "the waiter waits for the work queued on the signaler so far");
  const size_t events = rt.events.size();
  rt.submit(b);
  res.streamWait(a, b);
  EXPECT(rt.events.size() == events, "one cached event per device serves every wait");
  EXPECT(waits.size() == 2 && waits[0].second == 2 && waits[1].second == 3, "each wait keeps the record it was queued on");
  res.streamWait(c, b);  // a stream of device 0 waits for one of device 1: the signaler's device records
  EXPECT(rt.queueOf(c)->waits.size() == 1, "a cross-device wait is queued");
  res.streamWait(a, a);
  EXPECT(waits.size() == 2, "a stream never waits for itself");
  res.destroyStream(a);
  res.destroyStream(b);
  res.destroyStream(c);
  endClean(rt, res);
}

void stagingFailureCase() {
  for (int which = 0; which < 2; ++which) {  // the second pinned buffer, then the second event
    FakeRuntime rt;
    PinnedCache pinned(rt);
    if (which == 0) rt.failHostAllocAt = 1;
    else rt.failEventCreateAt = 1;
    EXPECT(throwsCudaError([&] { Staging st(rt, pinned, "stage", 1 << 20, 1 << 20); }),
           "the failed allocation is reported");
    EXPECT(pinned.liveCount() == 0, "the first pinned buffer is returned to the cache");
    EXPECT(rt.events.empty(), "the first event is destroyed");
    pinned.trim();
    EXPECT(rt.hostBlocks.empty(), "no pinned memory is left");
  }
  FakeRuntime rt;  // and a Staging that succeeds releases both
  PinnedCache pinned(rt);
  { Staging st(rt, pinned, "stage", 3 << 20, 1 << 20); }
  EXPECT(pinned.liveCount() == 0 && rt.events.empty(), "a Staging releases its buffers and events");
  noViolations(rt);
}

void outOfMemoryCase() {
  FakeRuntime rt;
  DeviceResources res(rt, nullptr);
  rt.budget[1] = 3 << 20;
  rt.current = 1;
  Stream s = res.createStream();
  rt.current = 0;
  void* a = res.allocator.alloc(1 << 20, s);
  void* b = res.allocator.alloc(1 << 20, s);
  res.allocator.free(a, s);
  res.allocator.free(b, s);
  void* big = res.allocator.alloc(2 << 20, s);  // a new bucket: fits only once the cache is trimmed
  EXPECT(rt.blocks.size() == 1 && rt.blocks.at(big).first == 1, "the cache was trimmed and the retry served");
  EXPECT(res.allocator.stats().bytesCached == 0, "the trimmed blocks left the cache");
  EXPECT(throwsCudaError([&] { res.allocator.alloc(4 << 20, s); }), "a request beyond the device throws");
  res.allocator.free(big, s);
  res.destroyStream(s);
  endClean(rt, res);
}

}  // namespace

int main() {
  const std::pair<const char*, std::function<void()>> cases[] = {
      {"cublas_handles", cublasHandlesCase},
      {"device_guard", deviceGuardCase},
      {"record_stream", recordStreamCase},
      {"stream_wait", streamWaitCase},
      {"staging_failure", stagingFailureCase},
      {"out_of_memory", outOfMemoryCase},
  };
  int failed = 0;
  for (const auto& [name, run] : cases) {
    try {
      run();
      std::printf("ok %s\n", name);
    } catch (const std::exception& e) {
      std::printf("FAIL %s: %s\n", name, e.what());
      ++failed;
    }
  }
  return failed ? 1 : 0;
}
