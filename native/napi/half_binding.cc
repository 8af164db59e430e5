// halfToFloat / floatToHalf (native/ops/half.h): one registration each,
// dispatching on the arguments: host TypedArrays run the CPU kernels, device
// buffers (a trailing optional stream) the CUDA kernels. Float16 data is a
// Uint16Array on the host; on the device it is a DeviceBuffer of at least 2n
// bytes (uploaded through an Int32Array view, two halves to an element).
#include <napi.h>

#include <string>

#include "args.h"
#include "half.h"
#ifdef HGAD_WITH_CUDA
#include "cuda_resources.h"
#endif

namespace hgad::napi {
namespace {

// A Uint16Array argument (binary16 bit patterns) with at least `need` elements.
uint16_t* halfArray(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    throwType(info.Env(), "a Uint16Array (float16 bit patterns)", name, v);
  auto ta = v.As<Napi::TypedArray>();
  if (static_cast<int64_t>(ta.ElementLength()) < need)
    throwRange(info.Env(), "at least " + std::to_string(need) + " elements", name, std::to_string(ta.ElementLength()));
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return reinterpret_cast<uint16_t*>(base + ta.ByteOffset());
}

// Device buffers when argument i is neither a typed array nor missing.
bool onDevice(const Napi::CallbackInfo& info, size_t i) { return info[i].IsObject() && !info[i].IsTypedArray(); }

Napi::Value noDevice(const Napi::CallbackInfo& info, const char* name) {
  throwType(info.Env(), "a host typed array (this build has no CUDA)", name, info[1]);
}

// halfToFloat(n, h, out, stream?): out[i] = h[i] as a float, i < n
Napi::Value HalfToFloat(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  if (onDevice(info, 1)) {
#ifdef HGAD_WITH_CUDA
    const cuda::Stream stream = streamArg(info, 3);
    const auto* h = reinterpret_cast<const uint16_t*>(deviceArg(info, 1, "h", (n + 1) / 2));
    float* out = deviceArg(info, 2, "out", n);
    return guarded(info, "halfToFloat" + dims({n}), [&] { cuda::halfToFloat(n, h, out, stream); });
#else
    return noDevice(info, "h");
#endif
  }
  const uint16_t* h = halfArray(info, 1, "h", n);
  if (callDType(info, 2, "out") == DType::Float32) halfToFloat<float>(n, h, getArray<float>(info, 2, "out", n));
  else halfToFloat<double>(n, h, getArray<double>(info, 2, "out", n));
  return info.Env().Undefined();
}

// floatToHalf(n, x, h, stream?): h[i] = x[i] rounded to binary16, i < n
Napi::Value FloatToHalf(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  if (onDevice(info, 1)) {
#ifdef HGAD_WITH_CUDA
    const cuda::Stream stream = streamArg(info, 3);
    const float* x = deviceArg(info, 1, "x", n);
    auto* h = reinterpret_cast<uint16_t*>(deviceArg(info, 2, "h", (n + 1) / 2));
    return guarded(info, "floatToHalf" + dims({n}), [&] { cuda::floatToHalf(n, x, h, stream); });
#else
    return noDevice(info, "x");
#endif
  }
  uint16_t* h = halfArray(info, 2, "h", n);
  if (callDType(info, 1, "x") == DType::Float32) floatToHalf<float>(n, getArray<float>(info, 1, "x", n), h);
  else floatToHalf<double>(n, getArray<double>(info, 1, "x", n), h);
  return info.Env().Undefined();
}

}  // namespace

void registerHalf(Napi::Env env, Napi::Object exports) {
  exports["halfToFloat"] = Napi::Function::New(env, HalfToFloat, "halfToFloat");
  exports["floatToHalf"] = Napi::Function::New(env, FloatToHalf, "floatToHalf");
}

}  // namespace hgad::napi
