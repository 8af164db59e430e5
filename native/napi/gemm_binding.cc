// N-API registration of the general matrix product (native/ops/gemm.h), one
// for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include <algorithm>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "gemm.h"

namespace hgad::napi {
namespace {

// Checks a leading dimension against the length of the rows it strides over.
void checkLd(Napi::Env env, const char* name, int64_t ld, int64_t rowLength) {
  if (ld < std::max<int64_t>(1, rowLength))
    throwRange(env, "a leading dimension >= " + std::to_string(rowLength), name, std::to_string(ld));
}

// Elements spanned by `rows` rows of `cols` values at stride `ld`.
int64_t extent(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

// The device GEMM implementation, argument 15: undefined or null for kAuto,
// else an integer code of cuda::GemmBackend. The host has one implementation
// (the CPU kernel in force, setGemmKernel), so there the code is checked and
// has no effect: a caller passes the same arguments to both backends.
int64_t gemmBackendArg(const Napi::CallbackInfo& info) {
  const int64_t code = info[15].IsUndefined() || info[15].IsNull() ? 0 : getInt(info, 15, "backend");
  if (code > static_cast<int64_t>(cuda::GemmBackend::kCublasTf32))
    throwRange(info.Env(), "a backend in 0..4", "backend", std::to_string(code));
  return code;
}

// gemm(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu, stream?, backend?)
//   A: (M, K) or, with transA, (K, M), row stride lda;  B: (K, N) or (N, K), ldb
//   C: (M, N), row stride ldc;  bias: (N) or null
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmShape s;
  s.transA = getBool(info, 0, "transA");
  s.transB = getBool(info, 1, "transB");
  s.M = getInt(info, 2, "M");
  s.N = getInt(info, 3, "N");
  s.K = getInt(info, 4, "K");
  s.lda = getInt(info, 6, "lda", 1);
  s.ldb = getInt(info, 8, "ldb", 1);
  s.ldc = getInt(info, 11, "ldc", 1);
  const double beta = getNumber(info, 9, "beta");
  const bool relu = getBool(info, 13, "relu");
  const int64_t aRows = s.transA ? s.K : s.M, aCols = s.transA ? s.M : s.K;
  const int64_t bRows = s.transB ? s.N : s.K, bCols = s.transB ? s.K : s.N;
  checkLd(info.Env(), "lda", s.lda, aCols);
  checkLd(info.Env(), "ldb", s.ldb, bCols);
  checkLd(info.Env(), "ldc", s.ldc, s.N);
  const auto backend = static_cast<cuda::GemmBackend>(gemmBackendArg(info));
  return dispatch(info, "gemm", 5, "A", 14, [&](auto a) {
    using T = typename decltype(a)::Float;
    const T* A = a.array(5, "A", extent(aRows, aCols, s.lda));
    const T* B = a.array(7, "B", extent(bRows, bCols, s.ldb));
    T* C = a.array(10, "C", extent(s.M, s.N, s.ldc));
    const T* bias = a.array(12, "bias", s.N, true);
    if constexpr (decltype(a)::device) cuda::gemm(s, A, B, static_cast<float>(beta), C, bias, relu, a.stream(), backend);
    else gemm(s, A, B, static_cast<T>(beta), C, bias, relu);
  });
}
HGAD_OP("gemm", Gemm);

}  // namespace
}  // namespace hgad::napi
