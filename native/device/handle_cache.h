// The cuBLAS handles' bookkeeping: one handle per (device, stream), created
// on first use and bound to its stream, used under the cache's lock (a
// handle's math mode is per-call state), so a handle's workspace only ever
// serves one stream. A stream's handles are destroyed with the stream
// (releaseStream, called by DeviceResources::destroyStream before the stream
// goes): a new stream at a reused address never inherits a stale handle, and
// eviction never meets a handle whose stream is gone. At most `maxHandles`
// are kept; beyond that the least recently used is destroyed (with its own
// device current). Plain C++: the cuBLAS entry points come in as `HandleApi`
// (gemm_cublas.cu loads them with dlopen), the device switches go through
// `Runtime`.
#pragma once
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <utility>

#include "runtime.h"

namespace hgad {
namespace cuda {

struct HandleApi {
  int (*create)(void** handle) = nullptr;   // cublasCreate_v2
  int (*destroy)(void* handle) = nullptr;   // cublasDestroy_v2
  int (*setStream)(void* handle, Stream stream) = nullptr;  // cublasSetStream_v2
};

// A cuBLAS call that failed: its status and the entry point's name.
struct HandleError {
  int status;
  const char* call;
};

class HandleCache {
 public:
  HandleCache(const Runtime& rt, const HandleApi& api, size_t maxHandles = 32)
      : rt_(rt), api_(api), max_(maxHandles) {}

  // Runs f(handle) under the lock with the handle of (device, stream);
  // returns HandleError{status, call} when creating or binding it fails.
  template <typename F>
  HandleError with(int device, Stream stream, F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    void* h = nullptr;
    const HandleError e = acquireLocked(device, stream, &h);
    if (e.status != 0) return e;
    f(h);
    return HandleError{0, nullptr};
  }
  // Destroys every handle bound to `stream` (any device).
  void releaseStream(Stream stream);
  size_t count();

 private:
  HandleError acquireLocked(int device, Stream stream, void** handle);
  void destroyOn(int device, void* handle);

  const Runtime& rt_;
  HandleApi api_;
  size_t max_;
  std::mutex mu_;
  // (device, stream) -> handle, most recently used first
  std::list<std::pair<std::pair<int, Stream>, void*>> handles_;
};

}  // namespace cuda
}  // namespace hgad
