// N-API registrations of the parameter folding ops (native/ops/fold.h), one
// per op for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include "args.h"
#include "dispatch.h"
#include "fold.h"

namespace hgad::napi {
namespace {

// affineFold(C, R, g, offset, W, b, logdetConst, inverse, stream?)
Napi::Value AffineFold(const Napi::CallbackInfo& info) {
  const int64_t C = getInt(info, 0, "C", 1);
  const bool inverse = getBool(info, 7, "inverse");
  return dispatch(info, "affineFold", 1, "R", 8, [&](auto a) {
    auto* R = a.array(1, "R", C * C);
    auto* g = a.array(2, "g", C);
    auto* offset = a.array(3, "offset", C);
    auto* W = a.array(4, "W", C * C);
    auto* b = a.array(5, "b", C);
    auto* logdetConst = a.array(6, "logdetConst", 1);
    if constexpr (decltype(a)::device) cuda::affineFold(C, R, g, offset, W, b, logdetConst, inverse, a.stream());
    else affineFold(C, R, g, offset, W, b, logdetConst, inverse);
  });
}
HGAD_OP("affineFold", AffineFold);

// affineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset, stream?); dConst may be null
Napi::Value AffineFoldBackward(const Napi::CallbackInfo& info) {
  const int64_t C = getInt(info, 0, "C", 1);
  return dispatch(info, "affineFoldBackward", 1, "R", 8, [&](auto a) {
    auto* R = a.array(1, "R", C * C);
    auto* g = a.array(2, "g", C);
    auto* dW = a.array(3, "dW", C * C);
    auto* db = a.array(4, "db", C);
    auto* dConst = a.array(5, "dConst", 1, true);
    auto* dg = a.array(6, "dg", C);
    auto* dOffset = a.array(7, "dOffset", C);
    if constexpr (decltype(a)::device) cuda::affineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset, a.stream());
    else affineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset);
  });
}
HGAD_OP("affineFoldBackward", AffineFoldBackward);

// centresCompose(K, M, C, mu, muDelta, cent, stream?); muDelta may be null when M = 1
Napi::Value CentresCompose(const Napi::CallbackInfo& info) {
  const int64_t K = getInt(info, 0, "K", 1), M = getInt(info, 1, "M", 1), C = getInt(info, 2, "C", 1);
  checkKM(info, K, M);
  return dispatch(info, "centresCompose", 3, "mu", 6, [&](auto a) {
    auto* mu = a.array(3, "mu", K * C);
    auto* muDelta = a.array(4, "muDelta", K * (M - 1) * C, M == 1);
    auto* cent = a.array(5, "cent", K * M * C);
    if constexpr (decltype(a)::device) cuda::centresCompose(K, M, C, mu, muDelta, cent, a.stream());
    else centresCompose(K, M, C, mu, muDelta, cent);
  });
}
HGAD_OP("centresCompose", CentresCompose);

// centresComposeBackward(K, M, C, dcent, dmu, dDelta, stream?); dDelta may be null
Napi::Value CentresComposeBackward(const Napi::CallbackInfo& info) {
  const int64_t K = getInt(info, 0, "K", 1), M = getInt(info, 1, "M", 1), C = getInt(info, 2, "C", 1);
  checkKM(info, K, M);
  return dispatch(info, "centresComposeBackward", 3, "dcent", 6, [&](auto a) {
    auto* dcent = a.array(3, "dcent", K * M * C);
    auto* dmu = a.array(4, "dmu", K * C);
    auto* dDelta = a.array(5, "dDelta", K * (M - 1) * C, true);
    if constexpr (decltype(a)::device) cuda::centresComposeBackward(K, M, C, dcent, dmu, dDelta, a.stream());
    else centresComposeBackward(K, M, C, dcent, dmu, dDelta);
  });
}
HGAD_OP("centresComposeBackward", CentresComposeBackward);

}  // namespace
}  // namespace hgad::napi
