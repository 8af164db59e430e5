// The CUDA resources as the op bindings see them (native/napi/cuda_resources.cc):
// stream and device buffer arguments, checked and unwrapped, and the guard
// that turns a CUDA failure into a JS Error naming the op and its sizes.
#pragma once
#ifdef HGAD_WITH_CUDA
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "args.h"
#include "device_api.h"

namespace hgad::napi {

// The stream argument i: a CudaStream, or null/undefined (or absent) for the
// legacy default stream.
cuda::Stream streamArg(const Napi::CallbackInfo& info, size_t i, const char* name = "stream");

// Whether v is a DeviceBuffer of this environment.
bool isDeviceBuffer(Napi::Env env, const Napi::Value& v);

// The device buffer argument i, holding at least `elements` 4-byte elements (or null when optional).
float* deviceArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t elements, bool optional = false);

// A device buffer of int32 values (labels, indices).
inline int32_t* intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t elements, bool optional = false) {
  return reinterpret_cast<int32_t*>(deviceArg(info, i, name, elements, optional));
}

// An integer argument that may be left out (undefined or null): `fallback` then.
inline int64_t optionalInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t fallback) {
  return info[i].IsUndefined() || info[i].IsNull() ? fallback : getInt(info, i, name);
}

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, const std::string& what, F&& f) {
  try {
    f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), what + ": " + e.what());
  }
  return info.Env().Undefined();
}

// Registration of the resources (classes, copies, device queries); the ops
// register themselves (HGAD_OP, native/napi/dispatch.h).
void registerCudaResources(Napi::Env env, Napi::Object exports);

}  // namespace hgad::napi
#endif
