// One registration per op, for both backends. An op's wrapper reads its sizes
// and scalars, then calls dispatch(); the argument at `first` says where the
// op runs:
//   * a Float32Array or Float64Array: the CPU reference in that float type
//     (every other array of the call must have the same type);
//   * a DeviceBuffer (builds with CUDA): the CUDA kernel, queued on the
//     CudaStream at argument `streamAt` (null, undefined or absent: the legacy
//     default stream).
// The body gets an argument reader `a` whose type says which (use
// `if constexpr (decltype(a)::device)`):
//   a.array(i, name, n[, optional])  T* (host) or float* (device), checked to hold n elements
//   a.ints(i, name, n[, optional])   int32_t*: an Int32Array, or a device buffer of int32
//   a.stream()                       the stream (device readers only)
//   decltype(a)::Float               the element type: float or double on the host
//                                    (int32_t for ops that allow Int32Array data), float on the device
// A C++ exception from the kernel becomes a JS Error "op: cause".
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "args.h"
#ifdef HGAD_WITH_CUDA
#include "cuda_resources.h"
#endif

namespace hgad::napi {

template <typename T>
struct HostArgs {
  static constexpr bool device = false;
  using Float = T;
  const Napi::CallbackInfo& info;
  T* array(size_t i, const char* name, int64_t n, bool optional = false) const {
    return getArray<T>(info, i, name, n, optional);
  }
  int32_t* ints(size_t i, const char* name, int64_t n, bool optional = false) const {
    return getArray<int32_t>(info, i, name, n, optional);
  }
};

#ifdef HGAD_WITH_CUDA
struct DeviceArgs {
  static constexpr bool device = true;
  using Float = float;
  const Napi::CallbackInfo& info;
  cuda::Stream stream_;
  float* array(size_t i, const char* name, int64_t n, bool optional = false) const {
    return deviceArg(info, i, name, n, optional);
  }
  int32_t* ints(size_t i, const char* name, int64_t n, bool optional = false) const {
    return intArg(info, i, name, n, optional);
  }
  cuda::Stream stream() const { return stream_; }
};
#endif

// Which host element types an op accepts at `first`.
enum class HostTypes { Floats, FloatsAndInt32 };

template <HostTypes Accept = HostTypes::Floats, typename Body>
Napi::Value dispatch(const Napi::CallbackInfo& info, const char* op, size_t first, const char* firstName,
                     size_t streamAt, Body&& body) {
  const Napi::Value v = info[first];
  try {
#ifdef HGAD_WITH_CUDA
    if (isDeviceBuffer(info.Env(), v)) {
      body(DeviceArgs{info, streamArg(info, streamAt)});
      return info.Env().Undefined();
    }
#else
    (void)streamAt;
#endif
    const DType d = dtypeOf(v);
    if (d == DType::Float32) {
      body(HostArgs<float>{info});
    } else if (d == DType::Float64) {
      body(HostArgs<double>{info});
    } else if constexpr (Accept == HostTypes::FloatsAndInt32) {
      if (d != DType::Int32) throwType(info.Env(), "a Float32Array, Float64Array, Int32Array or DeviceBuffer", firstName, v);
      body(HostArgs<int32_t>{info});
    } else {
      throwType(info.Env(), "a Float32Array, Float64Array or DeviceBuffer", firstName, v);
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + e.what());
  }
  return info.Env().Undefined();
}

// Registration, next to each wrapper: HGAD_OP("name", Wrapper) at namespace
// scope adds the function to the list that addon.cc exports when the addon
// loads, so a new op (or binding file) needs no edit elsewhere.
bool addOp(const char* name, Napi::Function::Callback fn);
void registerOps(Napi::Env env, Napi::Object exports);
#define HGAD_OP_CONCAT2(a, b) a##b
#define HGAD_OP_CONCAT(a, b) HGAD_OP_CONCAT2(a, b)
#define HGAD_OP(name, fn) \
  [[maybe_unused]] static const bool HGAD_OP_CONCAT(hgadOp_, __LINE__) = ::hgad::napi::addOp(name, fn)

}  // namespace hgad::napi
