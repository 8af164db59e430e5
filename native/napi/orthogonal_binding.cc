// N-API registration of the Haar rotation (native/ops/orthogonal.h), one
// function for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include <string>

#include "args.h"
#include "dispatch.h"
#include "orthogonal.h"

namespace hgad::napi {
namespace {

// haarOrthogonal(C, a, q, stream?): q (C, C) row-major from the Gaussian a (C, C) column-major (overwritten).
Napi::Value HaarOrthogonal(const Napi::CallbackInfo& info) {
  const int64_t C = getInt(info, 0, "C");
  if (C > 65536) throwRange(info.Env(), "an integer <= 65536", "C", std::to_string(C));
  return dispatch(info, "haarOrthogonal", 1, "a", 3, [&](auto x) {
    auto* a = x.array(1, "a", C * C);
    auto* q = x.array(2, "q", C * C);
    if (C > 0 && a < q + C * C && q < a + C * C) throwRange(info.Env(), "arrays that do not overlap", "a, q", "overlapping arrays");
    if constexpr (decltype(x)::device) cuda::haarOrthogonal(C, a, q, x.stream());
    else haarOrthogonal(C, a, q);
  });
}
HGAD_OP("haarOrthogonal", HaarOrthogonal);

}  // namespace
}  // namespace hgad::napi
