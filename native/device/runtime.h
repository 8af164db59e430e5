// The CUDA runtime calls that the device-resource bookkeeping makes (the
// allocator, pinned cache, staging buffers, stream registry and cuBLAS handle
// cache), behind a small interface, so that the bookkeeping is plain C++: the
// addon drives it with the real runtime (runtime_cuda.cu), and
// native/test/device_lifetimes_test.cc with a fake one that simulates two
// devices, streams at reused addresses, events that complete later and
// allocation failures, on a machine without a GPU or a driver.
// No CUDA header is needed to include this file.
#pragma once
#include <cstddef>
#include <sstream>
#include <string>

#include "device_api.h"

namespace hgad {
namespace cuda {

using Event = void*;  // a cudaEvent_t

// Each call returns a cudaError_t as an int (Runtime::kSuccess and the codes
// below keep their CUDA values; runtime_cuda.cu checks that they match).
class Runtime {
 public:
  static constexpr int kSuccess = 0, kOutOfMemory = 2, kNotReady = 600;
  virtual ~Runtime() = default;
  virtual int getDevice(int* device) const = 0;
  virtual int setDevice(int device) const = 0;
  virtual int malloc(void** ptr, size_t bytes) const = 0;  // on the current device
  virtual int free(void* ptr) const = 0;
  virtual int mallocHost(void** ptr, size_t bytes) const = 0;  // page-locked
  virtual int freeHost(void* ptr) const = 0;
  virtual int streamCreate(Stream* stream) const = 0;  // non-blocking, on the current device
  virtual int streamDestroy(Stream stream) const = 0;
  virtual int eventCreate(Event* event) const = 0;  // timing disabled, on the current device
  virtual int eventRecord(Event event, Stream stream) const = 0;
  virtual int eventQuery(Event event) const = 0;  // kSuccess once complete, kNotReady before
  virtual int eventSynchronize(Event event) const = 0;
  virtual int eventDestroy(Event event) const = 0;
  // Work queued on `stream` from now on waits for `event`'s last record (no host wait).
  virtual int streamWaitEvent(Stream stream, Event event) const = 0;
  // Resets the runtime's sticky last error (cudaGetLastError), after a failure
  // that is handled rather than thrown.
  virtual void clearError() const = 0;
  virtual const char* errorName(int status) const = 0;
  virtual const char* errorString(int status) const = 0;
};

// The CUDA runtime itself (runtime_cuda.cu); only in builds with CUDA.
const Runtime& cudaRuntime();

namespace detail {

// "N=16384 C=200": built only when an error is thrown.
inline void appendSizes(std::ostringstream&) {}
template <typename V, typename... Rest>
void appendSizes(std::ostringstream& o, const char* name, V value, Rest... rest) {
  o << (o.tellp() > 0 ? " " : "") << name << "=" << value;
  appendSizes(o, rest...);
}
template <typename... Args>
std::string sizes(Args... args) {
  std::ostringstream o;
  appendSizes(o, args...);
  return o.str();
}

// "CUDA error in op (sizes): message [name]", the one form of every CUDA failure.
[[noreturn]] inline void throwCudaStatus(const char* op, const std::string& sizes, const char* message,
                                         const char* name) {
  std::ostringstream o;
  o << "CUDA error in " << op;
  if (!sizes.empty()) o << " (" << sizes << ")";
  o << ": " << message << " [" << name << "]";
  throw CudaError(o.str());
}

// Makes `device` current on `rt` for the guard's scope and restores the
// previous one; a negative device (the legacy default stream's) changes nothing.
class DeviceGuard {
 public:
  DeviceGuard(const Runtime& rt, int device) : rt_(rt), device_(device) {
    rt_.getDevice(&previous_);
    if (device_ >= 0 && device_ != previous_) rt_.setDevice(device_);
  }
  ~DeviceGuard() {
    if (device_ >= 0 && device_ != previous_) rt_.setDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  const Runtime& rt_;
  int device_;
  int previous_ = 0;
};

}  // namespace detail

// Checks a call of `rt`; the sizes expression is evaluated only on failure.
#define HGAD_RT_CHECK(rt, expr, op, sizesExpr)                                                  \
  do {                                                                                          \
    const int hgad_rt_st_ = (expr);                                                             \
    if (hgad_rt_st_ != ::hgad::cuda::Runtime::kSuccess) {                                      \
      (rt).clearError();                                                                        \
      ::hgad::cuda::detail::throwCudaStatus(op, sizesExpr, (rt).errorString(hgad_rt_st_),      \
                                            (rt).errorName(hgad_rt_st_));                       \
    }                                                                                           \
  } while (0)

}  // namespace cuda
}  // namespace hgad
