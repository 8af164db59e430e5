// N-API registrations of the anomaly-map ops (native/ops/anomaly_map.h), one
// per op for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include <string>

#include "anomaly_map.h"
#include "args.h"
#include "dispatch.h"

namespace hgad::napi {
namespace {

// Radius above which the Gaussian's weights would not fit a block's shared memory.
constexpr int64_t kMaxRadius = 4096;

// mapMax(n, x, m, stream?)
Napi::Value MapMax(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n", 1);
  return dispatch(info, "mapMax", 1, "x", 3, [&](auto a) {
    auto* x = a.array(1, "x", n);
    auto* m = a.array(2, "m", 1);
    if constexpr (decltype(a)::device) cuda::mapMax(n, x, m, a.stream());
    else mapMax(n, x, m);
  });
}
HGAD_OP("mapMax", MapMax);

// mapShift(n, x, m, mode, y, stream?)
Napi::Value MapShift(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  const int64_t mode = getInt(info, 3, "mode");
  if (mode != kExpMinusMax && mode != kMaxMinus) throwRange(info.Env(), "0 (exp(x - max)) or 1 (max - x)", "mode", std::to_string(mode));
  const int32_t md = static_cast<int32_t>(mode);
  return dispatch(info, "mapShift", 1, "x", 5, [&](auto a) {
    auto* x = a.array(1, "x", n);
    auto* m = a.array(2, "m", 1);
    auto* y = a.array(4, "y", n);
    if constexpr (decltype(a)::device) cuda::mapShift(n, x, m, md, y, a.stream());
    else mapShift(n, x, m, md, y);
  });
}
HGAD_OP("mapShift", MapShift);

// upsampleBilinear(B, h, w, H, W, x, beta, y, stream?)
Napi::Value UpsampleBilinear(const Napi::CallbackInfo& info) {
  const int64_t B = getInt(info, 0, "B", 1), h = getInt(info, 1, "h", 1), w = getInt(info, 2, "w", 1);
  const int64_t H = getInt(info, 3, "H", 1), W = getInt(info, 4, "W", 1);
  const double beta = getNumber(info, 6, "beta");
  if (B * h > 2147483647 || B * H > 2147483647) {
    throwRange(info.Env(), "B*h and B*H below 2^31", "B, h, H", std::to_string(B) + ", " + std::to_string(h) + ", " + std::to_string(H));
  }
  return dispatch(info, "upsampleBilinear", 5, "x", 8, [&](auto a) {
    using T = typename decltype(a)::Float;
    auto* x = a.array(5, "x", B * h * w);
    auto* y = a.array(7, "y", B * H * W);
    if constexpr (decltype(a)::device) cuda::upsampleBilinear(B, h, w, H, W, x, static_cast<float>(beta), y, a.stream());
    else upsampleBilinear(B, h, w, H, W, x, static_cast<T>(beta), y);
  });
}
HGAD_OP("upsampleBilinear", UpsampleBilinear);

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
  return dispatch(info, "gaussianBlur", 5, "x", 8, [&](auto a) {
    using T = typename decltype(a)::Float;
    auto* x = a.array(5, "x", n);
    auto* work = a.array(6, "work", n);
    auto* y = a.array(7, "y", n);
    if (y == x || y == work || work == x) throwRange(info.Env(), "distinct arrays", "x, work, y", "aliasing arrays");
    if constexpr (decltype(a)::device) {
      cuda::gaussianBlur(B, H, W, static_cast<float>(sigma), static_cast<float>(truncate), x, work, y, a.stream());
    } else {
      gaussianBlur(B, H, W, static_cast<T>(sigma), static_cast<T>(truncate), x, work, y);
    }
  });
}
HGAD_OP("gaussianBlur", GaussianBlur);

// mapProduct(n, a, b, y, stream?)
Napi::Value MapProduct(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  return dispatch(info, "mapProduct", 1, "a", 4, [&](auto a) {
    auto* x = a.array(1, "a", n);
    auto* z = a.array(2, "b", n);
    auto* y = a.array(3, "y", n);
    if constexpr (decltype(a)::device) cuda::mapProduct(n, x, z, y, a.stream());
    else mapProduct(n, x, z, y);
  });
}
HGAD_OP("mapProduct", MapProduct);

}  // namespace

}  // namespace hgad::napi
