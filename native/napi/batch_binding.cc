// N-API registrations of the batch assembly and loss sums (native/ops/batch.h),
// one per op for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include "args.h"
#include "batch.h"
#include "dispatch.h"

namespace hgad::napi {
namespace {

// gatherRows(n, C, src, srcRows, idx, dst, stream?): dst[i, :] = src[idx[i], :];
// float32, float64 or int32 rows (any 32-bit rows on a device).
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n"), C = getInt(info, 1, "C"), srcRows = getInt(info, 3, "srcRows");
  return dispatch<HostTypes::FloatsAndInt32>(info, "gatherRows", 2, "src", 6, [&](auto a) {
    auto* src = a.array(2, "src", srcRows * C);
    const int32_t* idx = a.ints(4, "idx", n);
    auto* dst = a.array(5, "dst", n * C);
    if constexpr (decltype(a)::device) cuda::gatherRows(n, C, src, srcRows, idx, dst, a.stream());
    else gatherRows(n, C, src, srcRows, idx, dst);
  });
}
HGAD_OP("gatherRows", GatherRows);

// oneHot(N, K, labels, smoothing, Y, stream?)
Napi::Value OneHot(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), K = getInt(info, 1, "K", 1);
  const double smoothing = getNumber(info, 3, "smoothing");
  return dispatch(info, "oneHot", 4, "Y", 5, [&](auto a) {
    const int32_t* labels = a.ints(2, "labels", N);
    auto* Y = a.array(4, "Y", N * K);
    if constexpr (decltype(a)::device) cuda::oneHot(N, K, labels, smoothing, Y, a.stream());
    else oneHot(N, K, labels, smoothing, Y);
  });
}
HGAD_OP("oneHot", OneHot);

// lossSums(N, Lg, Le, Lmi, Lgi, logp, out, stream?); Lgi and logp may be null;
// out: 5 doubles (a Float64Array, or a device buffer of at least 10 4-byte elements).
Napi::Value LossSums(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N");
  return dispatch(info, "lossSums", 1, "Lg", 7, [&](auto a) {
    auto* Lg = a.array(1, "Lg", N);
    auto* Le = a.array(2, "Le", N);
    auto* Lmi = a.array(3, "Lmi", N);
    auto* Lgi = a.array(4, "Lgi", N, true);
    auto* logp = a.array(5, "logp", N, true);
    if constexpr (decltype(a)::device) {
      double* out = reinterpret_cast<double*>(a.array(6, "out", 10));
      cuda::lossSums(N, Lg, Le, Lmi, Lgi, logp, out, a.stream());
    } else {
      lossSums(N, Lg, Le, Lmi, Lgi, logp, getArray<double>(info, 6, "out", 5));
    }
  });
}
HGAD_OP("lossSums", LossSums);

}  // namespace
}  // namespace hgad::napi
