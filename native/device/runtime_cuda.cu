// The CUDA runtime behind `Runtime` (runtime.h): each call is the runtime
// call of the same name. A leaked singleton: destroying it at exit could
// call into a runtime that is already torn down.
#include <cuda_runtime.h>

#include "runtime.h"

namespace hgad {
namespace cuda {
namespace {

static_assert(Runtime::kSuccess == cudaSuccess, "Runtime::kSuccess is cudaSuccess");
static_assert(Runtime::kOutOfMemory == cudaErrorMemoryAllocation, "kOutOfMemory is cudaErrorMemoryAllocation");
static_assert(Runtime::kNotReady == cudaErrorNotReady, "kNotReady is cudaErrorNotReady");

cudaStream_t rawStream(Stream s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t rawEvent(Event e) { return static_cast<cudaEvent_t>(e); }

class CudaRuntime final : public Runtime {
 public:
  int getDevice(int* device) const override { return cudaGetDevice(device); }
  int setDevice(int device) const override { return cudaSetDevice(device); }
  int malloc(void** ptr, size_t bytes) const override { return cudaMalloc(ptr, bytes); }
  int free(void* ptr) const override { return cudaFree(ptr); }
  int mallocHost(void** ptr, size_t bytes) const override { return cudaMallocHost(ptr, bytes); }
  int freeHost(void* ptr) const override { return cudaFreeHost(ptr); }
  int streamCreate(Stream* stream) const override {
    cudaStream_t s = nullptr;
    const cudaError_t st = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    *stream = s;
    return st;
  }
  int streamDestroy(Stream stream) const override { return cudaStreamDestroy(rawStream(stream)); }
  int eventCreate(Event* event) const override {
    cudaEvent_t e = nullptr;
    const cudaError_t st = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    *event = e;
    return st;
  }
  int eventRecord(Event event, Stream stream) const override { return cudaEventRecord(rawEvent(event), rawStream(stream)); }
  int eventQuery(Event event) const override { return cudaEventQuery(rawEvent(event)); }
  int eventSynchronize(Event event) const override { return cudaEventSynchronize(rawEvent(event)); }
  int eventDestroy(Event event) const override { return cudaEventDestroy(rawEvent(event)); }
  int streamWaitEvent(Stream stream, Event event) const override {
    return cudaStreamWaitEvent(rawStream(stream), rawEvent(event), 0);
  }
  void clearError() const override { cudaGetLastError(); }
  const char* errorName(int status) const override { return cudaGetErrorName(static_cast<cudaError_t>(status)); }
  const char* errorString(int status) const override {
    return cudaGetErrorString(static_cast<cudaError_t>(status));
  }
};

}  // namespace

const Runtime& cudaRuntime() {
  static const CudaRuntime* r = new CudaRuntime();
  return *r;
}

}  // namespace cuda
}  // namespace hgad
