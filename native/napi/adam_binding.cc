// N-API registration of the Adam step (native/ops/adam.h) for host arrays and
// device buffers (native/napi/dispatch.h).
#include <napi.h>

#include "adam.h"
#include "args.h"
#include "dispatch.h"

namespace hgad::napi {
namespace {

// adamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step, stream?)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  const double lr = getNumber(info, 5, "lr"), beta1 = getNumber(info, 6, "beta1"), beta2 = getNumber(info, 7, "beta2"),
               eps = getNumber(info, 8, "eps"), weightDecay = getNumber(info, 9, "weightDecay");
  const int64_t step = getInt(info, 10, "step", 1);
  return dispatch(info, "adamStep", 1, "p", 11, [&](auto a) {
    auto* p = a.array(1, "p", n);
    auto* g = a.array(2, "g", n);
    auto* m = a.array(3, "m", n);
    auto* v = a.array(4, "v", n);
    if constexpr (decltype(a)::device) cuda::adamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step, a.stream());
    else adamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step);
  });
}
HGAD_OP("adamStep", AdamStep);

}  // namespace
}  // namespace hgad::napi
