#include "args.h"

#include <cmath>

namespace hgad::napi {

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::string s = std::to_string(d);
    if (d == std::floor(d) && std::fabs(d) < 9e18) s = std::to_string(static_cast<long long>(d));
    return s;
  }
  if (v.IsString()) return "a string";
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    const char* kind = "TypedArray";
    switch (ta.TypedArrayType()) {
      case napi_float32_array: kind = "Float32Array"; break;
      case napi_float64_array: kind = "Float64Array"; break;
      case napi_int32_array: kind = "Int32Array"; break;
      case napi_uint8_array: kind = "Uint8Array"; break;
      default: break;
    }
    return std::string("a ") + kind + " of length " + std::to_string(ta.ElementLength());
  }
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

DType dtypeOf(const Napi::Value& v) {
  if (!v.IsTypedArray()) return DType::Other;
  switch (v.As<Napi::TypedArray>().TypedArrayType()) {
    case napi_float32_array: return DType::Float32;
    case napi_float64_array: return DType::Float64;
    case napi_int32_array: return DType::Int32;
    default: return DType::Other;
  }
}

const char* dtypeName(DType d) {
  switch (d) {
    case DType::Float32: return "a Float32Array";
    case DType::Float64: return "a Float64Array";
    case DType::Int32: return "an Int32Array";
    default: return "a typed array";
  }
}

namespace {
// An integer argument in [min, max]; `maxText` describes max ("below 2^31").
int64_t integerIn(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, double max,
                  const char* maxText) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throwType(info.Env(), "an integer", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min))
    throwRange(info.Env(), "an integer >= " + std::to_string(min), name, describe(v));
  if (d > max) throwRange(info.Env(), std::string("an integer ") + maxText, name, describe(v));
  return static_cast<int64_t>(d);
}
}  // namespace

int64_t getInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min) {
  return integerIn(info, i, name, min, 2147483647.0, "below 2^31");
}

int64_t getByteCount(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min) {
  return integerIn(info, i, name, min, 1125899906842624.0, "up to 2^50");
}

double getNumber(const Napi::CallbackInfo& info, size_t i, const char* name, bool finite) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throwType(info.Env(), "a number", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (finite && !std::isfinite(d)) throwRange(info.Env(), "a finite number", name, describe(v));
  return d;
}

bool getBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) throwType(info.Env(), "a boolean", name, v);
  return v.As<Napi::Boolean>().Value();
}

DType callDType(const Napi::CallbackInfo& info, size_t i, const char* name) {
  DType d = dtypeOf(info[i]);
  if (d != DType::Float32 && d != DType::Float64)
    throwType(info.Env(), "a Float32Array or Float64Array", name, info[i]);
  return d;
}

template <typename T>
T* getArray(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need, bool optional) {
  Napi::Value v = info[i];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  constexpr DType want = std::is_same_v<T, float> ? DType::Float32
                         : std::is_same_v<T, double> ? DType::Float64 : DType::Int32;
  if (dtypeOf(v) != want) throwType(info.Env(), dtypeName(want), name, v);
  auto ta = v.As<Napi::TypedArray>();
  if (static_cast<int64_t>(ta.ElementLength()) < need)
    throwRange(info.Env(), "at least " + std::to_string(need) + " elements", name,
               std::to_string(ta.ElementLength()));
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return reinterpret_cast<T*>(base + ta.ByteOffset());
}

template float* getArray<float>(const Napi::CallbackInfo&, size_t, const char*, int64_t, bool);
template double* getArray<double>(const Napi::CallbackInfo&, size_t, const char*, int64_t, bool);
template int32_t* getArray<int32_t>(const Napi::CallbackInfo&, size_t, const char*, int64_t, bool);

}  // namespace hgad::napi
