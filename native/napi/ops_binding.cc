// N-API wrappers of the op ABI. Each wrapper reads its arguments, checks every
// length against the shapes it was given, then calls the kernel. The float
// type of a call is taken from its first array argument; every other array
// must have the same type.
#include <napi.h>

#include <cmath>
#include <string>

#include "args.h"
#include "elementwise.h"
#include "gemm.h"
#include "gemm_args.h"

namespace hgad::napi {
namespace {

template <typename F>
Napi::Value withFloat(const Napi::CallbackInfo& info, size_t i, const char* name, F&& f) {
  if (callDType(info, i, name) == DType::Float32) {
    f(float{});
  } else {
    f(double{});
  }
  return info.Env().Undefined();
}

// gemm(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmArgs g(info);
  return withFloat(info, 5, "A", [&](auto tag) {
    using T = decltype(tag);
    const T* A = getArray<T>(info, 5, "A", g.needA);
    const T* B = getArray<T>(info, 7, "B", g.needB);
    T* C = getArray<T>(info, 10, "C", g.needC);
    const T* bias = getArray<T>(info, 12, "bias", g.s.N, true);
    gemm(g.s, A, B, static_cast<T>(g.beta), C, bias, g.relu);
  });
}

int64_t lengthOf(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int64_t>(info[i].As<Napi::TypedArray>().ElementLength());
}

// axpy(alpha, x, y): y += alpha * x
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  double alpha = getNumber(info, 0, "alpha");
  return withFloat(info, 1, "x", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = lengthOf(info, 1);
    const T* x = getArray<T>(info, 1, "x", n);
    T* y = getArray<T>(info, 2, "y", n);
    axpy<T>(n, static_cast<T>(alpha), x, y);
  });
}

// scale(alpha, x, out)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  double alpha = getNumber(info, 0, "alpha");
  return withFloat(info, 1, "x", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = lengthOf(info, 1);
    const T* x = getArray<T>(info, 1, "x", n);
    T* out = getArray<T>(info, 2, "out", n);
    scale<T>(n, static_cast<T>(alpha), x, out);
  });
}

// reluBackward(h, dh)
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  return withFloat(info, 0, "h", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = lengthOf(info, 0);
    const T* h = getArray<T>(info, 0, "h", n);
    T* dh = getArray<T>(info, 1, "dh", n);
    reluBackward<T>(n, h, dh);
  });
}

// columnSum(N, M, X, beta, v)
Napi::Value ColumnSum(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  double beta = getNumber(info, 3, "beta");
  return withFloat(info, 2, "X", [&](auto tag) {
    using T = decltype(tag);
    const T* X = getArray<T>(info, 2, "X", N * M);
    T* v = getArray<T>(info, 4, "v", M);
    columnSum<T>(N, M, X, static_cast<T>(beta), v);
  });
}

// Row kernels of the form f(N, M, X, out) with out of length N or N*M.
template <bool FullOut>
Napi::Value RowKernel(const Napi::CallbackInfo& info, void (*f32)(int64_t, int64_t, const float*, float*),
                      void (*f64)(int64_t, int64_t, const double*, double*)) {
  int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M", FullOut ? 0 : 1);
  return withFloat(info, 2, "X", [&](auto tag) {
    using T = decltype(tag);
    const T* X = getArray<T>(info, 2, "X", N * M);
    T* out = getArray<T>(info, 3, "out", FullOut ? N * M : N);
    if constexpr (std::is_same_v<T, float>) f32(N, M, X, out); else f64(N, M, X, out);
  });
}

Napi::Value RowSum(const Napi::CallbackInfo& info) {
  return RowKernel<false>(info, rowSum<float>, rowSum<double>);
}
Napi::Value LogSoftmaxRows(const Napi::CallbackInfo& info) {
  return RowKernel<true>(info, logSoftmaxRows<float>, logSoftmaxRows<double>);
}

// logSoftmaxRowsBackward(N, M, Y, dY, dX)
Napi::Value LogSoftmaxRowsBackward(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M", 1);
  return withFloat(info, 2, "Y", [&](auto tag) {
    using T = decltype(tag);
    const T* Y = getArray<T>(info, 2, "Y", N * M);
    const T* dY = getArray<T>(info, 3, "dY", N * M);
    T* dX = getArray<T>(info, 4, "dX", N * M);
    logSoftmaxRowsBackward<T>(N, M, Y, dY, dX);
  });
}

// packColumns(N, X, ldx, c0, W0, Z, P, out)
Napi::Value PackColumns(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), ldx = getInt(info, 2, "ldx", 1), c0 = getInt(info, 3, "c0"),
          W0 = getInt(info, 4, "W0"), P = getInt(info, 6, "P");
  if (c0 + W0 > ldx) throwRange(info.Env(), "c0 + W0 <= ldx", "columns", std::to_string(c0 + W0));
  return withFloat(info, 1, "X", [&](auto tag) {
    using T = decltype(tag);
    const T* X = getArray<T>(info, 1, "X", N * ldx);
    const T* Z = getArray<T>(info, 5, "Z", N * P, P == 0);
    T* out = getArray<T>(info, 7, "out", N * (W0 + P));
    packColumns<T>(N, X, ldx, c0, W0, Z, P, out);
  });
}

// unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ)
Napi::Value UnpackColumnsBackward(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), W0 = getInt(info, 2, "W0"), P = getInt(info, 3, "P"),
          ldx = getInt(info, 5, "ldx", 1), c0 = getInt(info, 6, "c0");
  if (c0 + W0 > ldx) throwRange(info.Env(), "c0 + W0 <= ldx", "columns", std::to_string(c0 + W0));
  return withFloat(info, 1, "dOut", [&](auto tag) {
    using T = decltype(tag);
    const T* dOut = getArray<T>(info, 1, "dOut", N * (W0 + P));
    T* dX = getArray<T>(info, 4, "dX", N * ldx);
    T* dZ = getArray<T>(info, 7, "dZ", N * P, true);
    unpackColumnsBackward<T>(N, dOut, W0, P, dX, ldx, c0, dZ);
  });
}

// firstNonFinite(x) -> index or -1
Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  int64_t idx = -1;
  withFloat(info, 0, "x", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = lengthOf(info, 0);
    idx = firstNonFinite<T>(n, getArray<T>(info, 0, "x", n));
  });
  return Napi::Number::New(info.Env(), static_cast<double>(idx));
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
  exports["gemm"] = Napi::Function::New(env, Gemm, "gemm");
  exports["axpy"] = Napi::Function::New(env, Axpy, "axpy");
  exports["scale"] = Napi::Function::New(env, Scale, "scale");
  exports["reluBackward"] = Napi::Function::New(env, ReluBackward, "reluBackward");
  exports["columnSum"] = Napi::Function::New(env, ColumnSum, "columnSum");
  exports["rowSum"] = Napi::Function::New(env, RowSum, "rowSum");
  exports["logSoftmaxRows"] = Napi::Function::New(env, LogSoftmaxRows, "logSoftmaxRows");
  exports["logSoftmaxRowsBackward"] = Napi::Function::New(env, LogSoftmaxRowsBackward, "logSoftmaxRowsBackward");
  exports["packColumns"] = Napi::Function::New(env, PackColumns, "packColumns");
  exports["unpackColumnsBackward"] = Napi::Function::New(env, UnpackColumnsBackward, "unpackColumnsBackward");
  exports["firstNonFinite"] = Napi::Function::New(env, FirstNonFinite, "firstNonFinite");
}

}  // namespace hgad::napi
