// N-API registrations of the elementwise, row and column ops
// (native/ops/elementwise.h), one per op for host arrays and device buffers
// (native/napi/dispatch.h). X, Y: (N, M) row-major; v: (M); r: (N).
#include <napi.h>

#include <string>

#include "args.h"
#include "dispatch.h"
#include "elementwise.h"

namespace hgad::napi {
namespace {

// The flat ops (n, alpha, x, y, stream?) with n elements each:
//   axpy(n, alpha, x, y):    y += alpha x
//   scale(n, alpha, x, out): out = alpha x (out may be x)
template <bool Accumulate>
Napi::Value ScaledFlat(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  const double alpha = getNumber(info, 1, "alpha");
  return dispatch(info, Accumulate ? "axpy" : "scale", 2, "x", 4, [&](auto a) {
    using T = typename decltype(a)::Float;
    auto* x = a.array(2, "x", n);
    const auto k = static_cast<T>(alpha);
    auto* y = a.array(3, Accumulate ? "y" : "out", n);
    if constexpr (decltype(a)::device) (Accumulate ? cuda::axpy : cuda::scale)(n, k, x, y, a.stream());
    else (Accumulate ? axpy<T> : scale<T>)(n, k, x, y);
  });
}
HGAD_OP("axpy", ScaledFlat<true>);
HGAD_OP("scale", ScaledFlat<false>);

// reluBackward(n, h, dh, stream?): dh *= (h > 0)
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const int64_t n = getInt(info, 0, "n");
  return dispatch(info, "reluBackward", 1, "h", 3, [&](auto a) {
    auto* h = a.array(1, "h", n);
    auto* dh = a.array(2, "dh", n);
    if constexpr (decltype(a)::device) cuda::reluBackward(n, h, dh, a.stream());
    else reluBackward(n, h, dh);
  });
}
HGAD_OP("reluBackward", ReluBackward);

// columnSum(N, M, X, beta, v, stream?): v = beta v + sum over the rows of X
Napi::Value ColumnSum(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  const double beta = getNumber(info, 3, "beta");
  return dispatch(info, "columnSum", 2, "X", 5, [&](auto a) {
    using T = typename decltype(a)::Float;
    auto* X = a.array(2, "X", N * M);
    auto* v = a.array(4, "v", M);
    if constexpr (decltype(a)::device) cuda::columnSum(N, M, X, static_cast<float>(beta), v, a.stream());
    else columnSum(N, M, X, static_cast<T>(beta), v);
  });
}
HGAD_OP("columnSum", ColumnSum);

// The row ops (N, M, X, out, stream?), M >= 1:
//   rowSum(N, M, X, r):          r (N) = the sum of each row of X
//   logSoftmaxRows(N, M, X, Y):  Y (N, M) = X - logsumexp of its row (Y may be X)
template <bool Softmax>
Napi::Value RowOp(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M", 1);
  return dispatch(info, Softmax ? "logSoftmaxRows" : "rowSum", 2, "X", 4, [&](auto a) {
    using T = typename decltype(a)::Float;
    auto* X = a.array(2, "X", N * M);
    auto* out = a.array(3, Softmax ? "Y" : "r", Softmax ? N * M : N);
    if constexpr (decltype(a)::device) (Softmax ? cuda::logSoftmaxRows : cuda::rowSum)(N, M, X, out, a.stream());
    else (Softmax ? logSoftmaxRows<T> : rowSum<T>)(N, M, X, out);
  });
}
HGAD_OP("rowSum", RowOp<false>);
HGAD_OP("logSoftmaxRows", RowOp<true>);

// logSoftmaxRowsBackward(N, M, Y, dY, dX, stream?); dX may be dY
Napi::Value LogSoftmaxRowsBackward(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M", 1);
  return dispatch(info, "logSoftmaxRowsBackward", 2, "Y", 5, [&](auto a) {
    auto* Y = a.array(2, "Y", N * M);
    auto* dY = a.array(3, "dY", N * M);
    auto* dX = a.array(4, "dX", N * M);
    if constexpr (decltype(a)::device) cuda::logSoftmaxRowsBackward(N, M, Y, dY, dX, a.stream());
    else logSoftmaxRowsBackward(N, M, Y, dY, dX);
  });
}
HGAD_OP("logSoftmaxRowsBackward", LogSoftmaxRowsBackward);

void checkColumns(const Napi::CallbackInfo& info, int64_t c0, int64_t W0, int64_t ldx) {
  if (c0 + W0 > ldx) throwRange(info.Env(), "c0 + W0 <= ldx", "columns", std::to_string(c0 + W0));
}

// packColumns(N, X, ldx, c0, W0, Z, P, out, stream?); Z may be null when P = 0
//   X: (N, ldx)  Z: (N, P)  out: (N, W0 + P)
Napi::Value PackColumns(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), ldx = getInt(info, 2, "ldx", 1), c0 = getInt(info, 3, "c0"),
                W0 = getInt(info, 4, "W0"), P = getInt(info, 6, "P");
  checkColumns(info, c0, W0, ldx);
  return dispatch(info, "packColumns", 1, "X", 8, [&](auto a) {
    auto* X = a.array(1, "X", N * ldx);
    auto* Z = a.array(5, "Z", N * P, P == 0);
    auto* out = a.array(7, "out", N * (W0 + P));
    if constexpr (decltype(a)::device) cuda::packColumns(N, X, ldx, c0, W0, Z, P, out, a.stream());
    else packColumns(N, X, ldx, c0, W0, Z, P, out);
  });
}
HGAD_OP("packColumns", PackColumns);

// unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ, stream?); dZ may be null
//   dOut: (N, W0 + P)  dX: (N, ldx)  dZ: (N, P)
Napi::Value UnpackColumnsBackward(const Napi::CallbackInfo& info) {
  const int64_t N = getInt(info, 0, "N"), W0 = getInt(info, 2, "W0"), P = getInt(info, 3, "P"),
                ldx = getInt(info, 5, "ldx", 1), c0 = getInt(info, 6, "c0");
  checkColumns(info, c0, W0, ldx);
  return dispatch(info, "unpackColumnsBackward", 1, "dOut", 8, [&](auto a) {
    auto* dOut = a.array(1, "dOut", N * (W0 + P));
    auto* dX = a.array(4, "dX", N * ldx);
    auto* dZ = a.array(7, "dZ", N * P, true);
    if constexpr (decltype(a)::device) cuda::unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ, a.stream());
    else unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ);
  });
}
HGAD_OP("unpackColumnsBackward", UnpackColumnsBackward);

// firstNonFinite(x) -> the index of the first NaN or infinity, or -1. Host
// arrays only: a check of data the host already holds (a device tensor is
// downloaded by its backend first).
Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  const bool single = callDType(info, 0, "x") == DType::Float32;
  const auto n = static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength());
  const int64_t idx = single ? firstNonFinite(n, getArray<float>(info, 0, "x", n))
                             : firstNonFinite(n, getArray<double>(info, 0, "x", n));
  return Napi::Number::New(info.Env(), static_cast<double>(idx));
}
HGAD_OP("firstNonFinite", FirstNonFinite);

}  // namespace
}  // namespace hgad::napi
