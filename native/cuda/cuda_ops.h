// The device op ABI: plain C++ declarations over DEVICE pointers and shapes,
// mirroring the CPU ops in native/ops/*.h (float only). No CUDA header is
// needed to include this file; a stream is an opaque `Stream` (a
// cudaStream_t); nullptr means the legacy default stream.
//
// Semantics shared by every function here:
//  * Work is enqueued on `stream` and the call returns without waiting
//    (except where a result comes back to the host, said below).
//  * Every CUDA failure throws CudaError (a std::runtime_error) whose message
//    names the op, its sizes and cudaGetErrorString. Errors of kernels that
//    fail asynchronously surface at the next call that checks (usually
//    streamSynchronize); an illegal address poisons the CUDA context for
//    good, so the owner should treat such an error as fatal for the device.
//  * Gradient convention as on the CPU: parameter gradients are returned
//    assigned unless the op says "+=", activation gradients are assigned.
//  * Nothing here touches CUDA at load time: no static initialiser calls the
//    runtime, the allocator and cuBLAS are created on first use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "adam.h"
#include "batch.h"
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

// -------------------------------------------------------------------- gemm
// C = relu?(beta * C + op(A) op(B) + bias[col]), row-major, shapes and ld as
// hgad::GemmShape (native/ops/gemm.h). beta = 0 never reads C.
enum class GemmBackend {
  kAuto,        // cuBLAS when libcublas.so can be loaded at run time, else kTiled
  kTiled,       // the hand-written FP32 SGEMM (128x128x8 tiles, 8x8 per thread)
  kTiledTf32,   // hand-written, tensor cores in TF32 (10-bit mantissa inputs)
  kCublas,      // cuBLAS FP32 (throws if cuBLAS cannot be loaded)
  kCublasTf32,  // cuBLAS with TF32 tensor-op math
};
void gemm(const GemmShape& s, const float* A, const float* B, float beta, float* C,
          const float* bias, bool relu, Stream stream = nullptr,
          GemmBackend backend = GemmBackend::kAuto);
// Whether cuBLAS was found (loads it on the first call), and what kAuto uses.
bool cublasAvailable();
// cuBLAS handles held now: one per live stream that ran a cuBLAS GEMM.
size_t cublasHandleCount();
const char* gemmBackendName(GemmBackend backend);

// coupling: declared in native/ops/coupling.h.

// ------------------------------------------------------------- elementwise
// Math as native/ops/elementwise.h. X, Y: (N, M) row-major; v: (M); r: (N).
void axpy(int64_t n, float alpha, const float* x, float* y, Stream stream = nullptr);
void scale(int64_t n, float alpha, const float* x, float* out, Stream stream = nullptr);
void reluBackward(int64_t n, const float* h, float* dh, Stream stream = nullptr);
void columnSum(int64_t N, int64_t M, const float* X, float beta, float* v, Stream stream = nullptr);
void rowSum(int64_t N, int64_t M, const float* X, float* r, Stream stream = nullptr);
void logSoftmaxRows(int64_t N, int64_t M, const float* X, float* Y, Stream stream = nullptr);
void logSoftmaxRowsBackward(int64_t N, int64_t M, const float* Y, const float* dY, float* dX,
                            Stream stream = nullptr);
void packColumns(int64_t N, const float* X, int64_t ldx, int64_t c0, int64_t W0, const float* Z,
                 int64_t P, float* out, Stream stream = nullptr);
void unpackColumnsBackward(int64_t N, const float* dOut, int64_t W0, int64_t P, float* dX,
                           int64_t ldx, int64_t c0, float* dZ, Stream stream = nullptr);
// dst[i] = value for i in [0, n) (any float, NaN included).
void fill(int64_t n, float value, float* dst, Stream stream = nullptr);

// mixture head: declared in native/ops/mixture_head.h.

// Parameter folding (native/ops/fold.h), batch assembly and loss sums
// (native/ops/batch.h) and Adam (native/ops/adam.h) are declared with their
// CPU references.

}  // namespace cuda
}  // namespace hgad
