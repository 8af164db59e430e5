// Argument checking at the N-API boundary: every pointer handed to a kernel
// comes from a typed array whose type and length were checked here first.
// Messages read "Expected X for Y but received Z", as in the TypeScript layer.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

namespace hgad::napi {

std::string describe(const Napi::Value& v);

[[noreturn]] inline void throwType(Napi::Env env, const std::string& what, const char* name,
                                   const Napi::Value& got) {
  throw Napi::TypeError::New(env, "Expected " + what + " for " + name + " but received " + describe(got));
}

[[noreturn]] inline void throwRange(Napi::Env env, const std::string& what, const char* name,
                                    const std::string& got) {
  throw Napi::RangeError::New(env, "Expected " + what + " for " + name + " but received " + got);
}

enum class DType { Float32, Float64, Int32, Other };

DType dtypeOf(const Napi::Value& v);
const char* dtypeName(DType d);

// Sizes and strides are capped at 2^31 - 1, so that the products of two of
// them (and the extents computed from them) cannot overflow int64.
int64_t getInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min = 0);
// A byte count (of a whole buffer, never multiplied by another size): an
// integer in [min, 2^50].
int64_t getByteCount(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min = 0);
double getNumber(const Napi::CallbackInfo& info, size_t i, const char* name, bool finite = true);
bool getBool(const Napi::CallbackInfo& info, size_t i, const char* name);

// A float array argument of the call's dtype with at least `need` elements;
// null/undefined is accepted (returns nullptr) only when `optional`.
template <typename T>
T* getArray(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need, bool optional = false);

// The float dtype of the call, taken from argument i (Float32Array or Float64Array).
DType callDType(const Napi::CallbackInfo& info, size_t i, const char* name);

// "(a, b, c)": the sizes of a call, for error messages.
inline std::string dims(std::initializer_list<int64_t> d) {
  std::string s = "(";
  for (auto it = d.begin(); it != d.end(); ++it) s += (it == d.begin() ? "" : ", ") + std::to_string(*it);
  return s + ")";
}

// K * M below 2^31, so that K * M * C (each factor below 2^31) fits int64.
inline void checkKM(const Napi::CallbackInfo& info, int64_t K, int64_t M) {
  if (K * M > 2147483647) throwRange(info.Env(), "K * M below 2^31", "K, M", dims({K, M}));
}

}  // namespace hgad::napi
