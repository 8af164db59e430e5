// The device API: the device resources as the CUDA kernels and the bindings
// see them (implemented over the CUDA runtime by device_api.cu): the
// error type, the caching allocator, copies and streams. Plain C++ (no CUDA
// header needed); a stream is an opaque `Stream` (native/ops/stream.h). The
// device ops themselves are declared with their CPU references in
// native/ops/<family>.h; native/ops/stream.h says what every one of them
// shares (asynchrony, errors).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "adam.h"
#include "batch.h"
#include "elementwise.h"
#include "fold.h"
#include "gemm.h"
#include "mixture_head.h"
#include "stream.h"

namespace hgad {
namespace cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ------------------------------------------------------------------ memory
// Caching device allocator (per device): sizes are rounded up to buckets
// (512 B steps below 1 MiB, then 8 steps per power of two) and freed blocks
// go to a free list per bucket, so after warm-up no op calls cudaMalloc.
// Frees are stream-ordered: a block freed with stream s is handed out again
// at once to allocations on s, and to other streams only after the work
// queued on s before the free has completed (an event is recorded at free).
// When cudaMalloc runs out of memory the cache is trimmed and it retries.
// A block is allocated on the device of `stream` (the current device for the
// legacy default stream) and freed with its own device current.
void* deviceAlloc(size_t bytes, Stream stream = nullptr);
void deviceFree(void* ptr, Stream stream = nullptr);
// Records that work queued on `stream` (not the block's allocation stream)
// uses the block, as PyTorch's recordStream: when the block is freed, an
// event is also recorded on each such stream, and the block is reused (on
// any stream, its freeing stream included) only once those events completed.
void recordStream(void* ptr, Stream stream);
// Returns every cached free block to the driver (waits for the device).
void trimCache();
struct AllocatorStats {
  size_t bytesInUse = 0, bytesCached = 0;
  uint64_t driverAllocations = 0, cacheHits = 0;
};
AllocatorStats allocatorStats();

// Page-locked host memory for staging copies (cached like device blocks).
// The caller must not free a buffer while a copy from or to it is queued.
void* pinnedAlloc(size_t bytes);
void pinnedFree(void* ptr);

// Asynchronous copies on `stream`. With pageable host memory the driver
// copies synchronously; the *Staged variants go through two pinned staging
// buffers in chunks, overlapping the host memcpy with the transfer, and
// return once `src` may be reused (upload) or `dst` is filled (download).
void copyHostToDevice(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void copyDeviceToHost(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void copyDeviceToDevice(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void copyHostToDeviceStaged(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void copyDeviceToHostStaged(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
void fillBytes(void* dst, int value, size_t bytes, Stream stream = nullptr);

// A non-blocking stream (one per model), its teardown and a host wait.
// Destroy a stream only after every block allocated on it has been freed
// (deviceFree records an event on the stream); work already queued on it
// still completes. Free blocks cached for it are then handed out only once
// their freeing work is done, like blocks of any other stream.
// A stream belongs to the device current at its creation; every call given
// the stream (copies, waits, frees, synchronize, destroy) runs with that
// device current and restores the caller's. streamDestroy also destroys the
// stream's cuBLAS handle.
Stream streamCreate();
void streamDestroy(Stream stream);
// The device of a stream made by streamCreate (-1 for the legacy default
// stream), and making it current for the calling thread's next launches.
int streamDevice(Stream stream);
void useStreamDevice(Stream stream);
void streamSynchronize(Stream stream);
// Waits on the host for all work on the device, every stream included.
void deviceSynchronize();
// Orders streams without a host wait: work queued on `waiter` after this call
// starts only once the work queued on `signaler` before it has completed (an
// event recorded on `signaler`, waited on by `waiter`). Either may be nullptr
// (the legacy default stream); waiter == signaler is a no-op.
void streamWait(Stream waiter, Stream signaler);
// Selects the device for the calling thread.
void setDevice(int index);
int deviceCount();  // 0 when no driver or device is usable (never throws)

// The ops (gemm, elementwise, coupling, mixture head, folding, batch
// assembly, Adam, ...) are declared with their CPU references, one header per
// family in native/ops, in namespace hgad::cuda.

}  // namespace cuda
}  // namespace hgad
