// N-API registrations of halfToFloat / floatToHalf (native/ops/half.h), one
// per op for host arrays and device buffers (native/napi/dispatch.h), placed
// by the float argument. Float16 data is a Uint16Array on the host; on a
// device it is a DeviceBuffer of at least 2n bytes (two halves per 4-byte
// element, uploaded through an Int32Array view).
#include <napi.h>

#include <string>

#include "args.h"
#include "dispatch.h"
#include "half.h"

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

// The float16 argument: host Uint16Array, or a device buffer of (n + 1) / 2 4-byte elements.
template <typename A>
uint16_t* halves(const A& a, const Napi::CallbackInfo& info, size_t i, const char* name, int64_t n) {
  if constexpr (A::device) return reinterpret_cast<uint16_t*>(a.array(i, name, (n + 1) / 2));
  else return halfArray(info, i, name, n);
}

// halfToFloat(n, h, out, stream?): out[i] = h[i] as a float, i < n
Napi::Value HalfToFloat(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  return dispatch(info, "halfToFloat", 2, "out", 3, [&](auto a) {
    const uint16_t* h = halves(a, info, 1, "h", n);
    auto* out = a.array(2, "out", n);
    if constexpr (decltype(a)::device) cuda::halfToFloat(n, h, out, a.stream());
    else halfToFloat(n, h, out);
  });
}
HGAD_OP("halfToFloat", HalfToFloat);

// floatToHalf(n, x, h, stream?): h[i] = x[i] rounded to binary16, i < n
Napi::Value FloatToHalf(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  return dispatch(info, "floatToHalf", 1, "x", 3, [&](auto a) {
    const auto* x = a.array(1, "x", n);
    uint16_t* h = halves(a, info, 2, "h", n);
    if constexpr (decltype(a)::device) cuda::floatToHalf(n, x, h, a.stream());
    else floatToHalf(n, x, h);
  });
}
HGAD_OP("floatToHalf", FloatToHalf);

}  // namespace

}  // namespace hgad::napi
