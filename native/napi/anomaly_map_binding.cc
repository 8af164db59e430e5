// N-API registration of the anomaly-map ops (native/ops/anomaly_map.h): one
// function per op for both backends. Host Float32Array/Float64Array arguments
// run the CPU template (float type from the first array); DeviceBuffers run
// the CUDA kernel on the trailing stream argument.
#include <napi.h>

#include <string>

#include "anomaly_map.h"
#include "args.h"
#ifdef HGAD_WITH_CUDA
#include "cuda_resources.h"
#endif

namespace hgad::napi {
namespace {

// Radius above which the Gaussian's weights would not fit a block's shared memory.
constexpr int64_t kMaxRadius = 4096;

// Calls host(T{}) for typed arrays, device() for device buffers.
template <typename Host, typename Device>
Napi::Value dispatch(const Napi::CallbackInfo& info, size_t i, const char* name, Host&& host, Device&& device) {
  if (info[i].IsTypedArray()) {
    if (callDType(info, i, name) == DType::Float32) host(float{});
    else host(double{});
    return info.Env().Undefined();
  }
#ifdef HGAD_WITH_CUDA
  device();
  return info.Env().Undefined();
#else
  (void)device;
  throwType(info.Env(), "a Float32Array or Float64Array", name, info[i]);
#endif
}

#ifdef HGAD_WITH_CUDA
#define HGAD_DEVICE_CALL(label, body) [&] { guarded(info, label, [&] { body; }); }
#else
#define HGAD_DEVICE_CALL(label, body) [&] {}
#endif

// mapMax(n, x, m, stream?)
Napi::Value MapMax(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n", 1);
  return dispatch(info, 1, "x", [&](auto tag) {
    using T = decltype(tag);
    const T* x = getArray<T>(info, 1, "x", n);
    T* m = getArray<T>(info, 2, "m", 1);
    mapMax<T>(n, x, m);
  }, HGAD_DEVICE_CALL("mapMax (" + std::to_string(n) + ")",
                      cuda::mapMax(n, deviceArg(info, 1, "x", n), deviceArg(info, 2, "m", 1), streamArg(info, 3))));
}

// mapShift(n, x, m, mode, y, stream?)
Napi::Value MapShift(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  const int64_t mode = getInt(info, 3, "mode");
  if (mode != kExpMinusMax && mode != kMaxMinus) throwRange(info.Env(), "0 (exp(x - max)) or 1 (max - x)", "mode", std::to_string(mode));
  const int32_t md = static_cast<int32_t>(mode);
  return dispatch(info, 1, "x", [&](auto tag) {
    using T = decltype(tag);
    const T* x = getArray<T>(info, 1, "x", n);
    const T* m = getArray<T>(info, 2, "m", 1);
    T* y = getArray<T>(info, 4, "y", n);
    mapShift<T>(n, x, m, md, y);
  }, HGAD_DEVICE_CALL("mapShift (" + std::to_string(n) + ")",
                      cuda::mapShift(n, deviceArg(info, 1, "x", n), deviceArg(info, 2, "m", 1), md,
                                     deviceArg(info, 4, "y", n), streamArg(info, 5))));
}

// upsampleBilinear(B, h, w, H, W, x, beta, y, stream?)
Napi::Value UpsampleBilinear(const Napi::CallbackInfo& info) {
  const int64_t B = getInt(info, 0, "B", 1), h = getInt(info, 1, "h", 1), w = getInt(info, 2, "w", 1);
  const int64_t H = getInt(info, 3, "H", 1), W = getInt(info, 4, "W", 1);
  const double beta = getNumber(info, 6, "beta");
  if (B * h > 2147483647 || B * H > 2147483647) throwRange(info.Env(), "B*h and B*H below 2^31", "B, h, H", std::to_string(B) + ", " + std::to_string(h) + ", " + std::to_string(H));
  return dispatch(info, 5, "x", [&](auto tag) {
    using T = decltype(tag);
    const T* x = getArray<T>(info, 5, "x", B * h * w);
    T* y = getArray<T>(info, 7, "y", B * H * W);
    upsampleBilinear<T>(B, h, w, H, W, x, static_cast<T>(beta), y);
  }, HGAD_DEVICE_CALL("upsampleBilinear", cuda::upsampleBilinear(B, h, w, H, W, deviceArg(info, 5, "x", B * h * w),
                                                                   static_cast<float>(beta), deviceArg(info, 7, "y", B * H * W),
                                                                   streamArg(info, 8))));
}

// gaussianBlur(B, H, W, sigma, truncate, x, work, y, stream?)
Napi::Value GaussianBlur(const Napi::CallbackInfo& info) {
  const int64_t B = getInt(info, 0, "B", 1), H = getInt(info, 1, "H", 1), W = getInt(info, 2, "W", 1);
  const double sigma = getNumber(info, 3, "sigma"), truncate = getNumber(info, 4, "truncate");
  if (!(sigma > 0)) throwRange(info.Env(), "a number > 0", "sigma", std::to_string(sigma));
  if (!(truncate >= 0)) throwRange(info.Env(), "a number >= 0", "truncate", std::to_string(truncate));
  if (gaussianRadius(sigma, truncate) > kMaxRadius) {
    throwRange(info.Env(), "a radius int(truncate * sigma + 0.5) of at most 4096", "sigma, truncate", std::to_string(sigma) + ", " + std::to_string(truncate));
  }
  if (B * H > 2147483647) throwRange(info.Env(), "B*H below 2^31", "B, H", std::to_string(B) + ", " + std::to_string(H));
  const int64_t n = B * H * W;
  return dispatch(info, 5, "x", [&](auto tag) {
    using T = decltype(tag);
    const T* x = getArray<T>(info, 5, "x", n);
    T* work = getArray<T>(info, 6, "work", n);
    T* y = getArray<T>(info, 7, "y", n);
    if (y == x || y == work || work == x) throwRange(info.Env(), "distinct arrays", "x, work, y", "aliasing arrays");
    gaussianBlur<T>(B, H, W, static_cast<T>(sigma), static_cast<T>(truncate), x, work, y);
  }, HGAD_DEVICE_CALL("gaussianBlur", cuda::gaussianBlur(B, H, W, static_cast<float>(sigma), static_cast<float>(truncate),
                                                           deviceArg(info, 5, "x", n), deviceArg(info, 6, "work", n),
                                                           deviceArg(info, 7, "y", n), streamArg(info, 8))));
}

// mapProduct(n, a, b, y, stream?)
Napi::Value MapProduct(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  return dispatch(info, 1, "a", [&](auto tag) {
    using T = decltype(tag);
    const T* a = getArray<T>(info, 1, "a", n);
    const T* b = getArray<T>(info, 2, "b", n);
    T* y = getArray<T>(info, 3, "y", n);
    mapProduct<T>(n, a, b, y);
  }, HGAD_DEVICE_CALL("mapProduct (" + std::to_string(n) + ")",
                      cuda::mapProduct(n, deviceArg(info, 1, "a", n), deviceArg(info, 2, "b", n), deviceArg(info, 3, "y", n),
                                       streamArg(info, 4))));
}

#undef HGAD_DEVICE_CALL

}  // namespace

void registerAnomalyMap(Napi::Env env, Napi::Object exports) {
  exports["mapMax"] = Napi::Function::New(env, MapMax, "mapMax");
  exports["mapShift"] = Napi::Function::New(env, MapShift, "mapShift");
  exports["upsampleBilinear"] = Napi::Function::New(env, UpsampleBilinear, "upsampleBilinear");
  exports["gaussianBlur"] = Napi::Function::New(env, GaussianBlur, "gaussianBlur");
  exports["mapProduct"] = Napi::Function::New(env, MapProduct, "mapProduct");
}

}  // namespace hgad::napi
