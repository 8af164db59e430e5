// N-API registrations of the affine coupling ops (native/ops/coupling.h), one
// per op for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include "args.h"
#include "coupling.h"
#include "dispatch.h"

namespace hgad::napi {
namespace {

// couplingForward(N, C, x, a, clamp, logdetIn, logdetConst (1 element), y, logdetOut, stream?) and
// couplingInverse(N, C, y, a, clamp, logdetIn, logdetConst, x, logdetOut, stream?)
template <bool Inverse>
Napi::Value CouplingTransform(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), C = getInt(info, 1, "C", 2);
  const double clamp = getNumber(info, 4, "clamp");
  const char* inName = Inverse ? "y" : "x";
  return dispatch(info, Inverse ? "couplingInverse" : "couplingForward", 2, inName, 9, [&](auto a) {
    using T = typename decltype(a)::Float;
    const T* in = a.array(2, inName, N * C);
    const T* sub = a.array(3, "a", N * 2 * (C / 2));
    const T* ldIn = a.array(5, "logdetIn", N, true);
    const T* k = a.array(6, "logdetConst", 1);
    T* out = a.array(7, Inverse ? "x" : "y", N * C);
    T* ldOut = a.array(8, "logdetOut", N);
    const T cl = static_cast<T>(clamp);
    if constexpr (decltype(a)::device) {
      if (Inverse) cuda::couplingInverse(N, C, in, sub, cl, ldIn, k, out, ldOut, a.stream());
      else cuda::couplingForward(N, C, in, sub, cl, ldIn, k, out, ldOut, a.stream());
    } else {
      if (Inverse) couplingInverse<T>(N, C, in, sub, cl, ldIn, k, out, ldOut);
      else couplingForward<T>(N, C, in, sub, cl, ldIn, k, out, ldOut);
    }
  });
}
HGAD_OP("couplingForward", CouplingTransform<false>);
HGAD_OP("couplingInverse", CouplingTransform<true>);

// couplingBackward(N, C, x, a, clamp, dy, dlogdet, dx, da, stream?); dlogdet may be null
Napi::Value CouplingBackward(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), C = getInt(info, 1, "C", 2);
  const double clamp = getNumber(info, 4, "clamp");
  return dispatch(info, "couplingBackward", 2, "x", 9, [&](auto a) {
    using T = typename decltype(a)::Float;
    const T* x = a.array(2, "x", N * C);
    const T* sub = a.array(3, "a", N * 2 * (C / 2));
    const T* dy = a.array(5, "dy", N * C);
    const T* dld = a.array(6, "dlogdet", N, true);
    T* dx = a.array(7, "dx", N * C);
    T* da = a.array(8, "da", N * 2 * (C / 2));
    const T cl = static_cast<T>(clamp);
    if constexpr (decltype(a)::device) cuda::couplingBackward(N, C, x, sub, cl, dy, dld, dx, da, a.stream());
    else couplingBackward<T>(N, C, x, sub, cl, dy, dld, dx, da);
  });
}
HGAD_OP("couplingBackward", CouplingBackward);

}  // namespace

}  // namespace hgad::napi
