// N-API registration of row replication (native/ops/rows.h), one function for
// host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include <string>

#include "args.h"
#include "dispatch.h"
#include "rows.h"

namespace hgad::napi {
namespace {

// repeatRows(copies, R, P, table, y, stream?): y (copies * R, P) = the table (R, P) once per copy.
Napi::Value RepeatRows(const Napi::CallbackInfo& info) {
  const int64_t copies = getInt(info, 0, "copies"), R = getInt(info, 1, "R"), P = getInt(info, 2, "P");
  if (R > 0 && P > 0 && copies > (int64_t(1) << 50) / (R * P)) {
    throwRange(info.Env(), "copies * R * P below 2^50", "copies, R, P", std::to_string(copies) + ", " + std::to_string(R) + ", " + std::to_string(P));
  }
  const int64_t n = copies * R * P;
  return dispatch(info, "repeatRows", 3, "table", 5, [&](auto a) {
    const auto* table = a.array(3, "table", R * P);
    auto* y = a.array(4, "y", n);
    if (n > 0 && table < y + n && y < table + R * P) throwRange(info.Env(), "arrays that do not overlap", "table, y", "overlapping arrays");
    if constexpr (decltype(a)::device) cuda::repeatRows(copies, R, P, table, y, a.stream());
    else repeatRows(copies, R, P, table, y);
  });
}
HGAD_OP("repeatRows", RepeatRows);

}  // namespace
}  // namespace hgad::napi
