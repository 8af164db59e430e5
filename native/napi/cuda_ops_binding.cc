// N-API surface of the CUDA ops (native/cuda/cuda_ops.h) on device buffers.
// Every op takes an optional trailing stream (a CudaStream; null or undefined
// for the legacy default stream) and only enqueues work. Streams, buffers and
// copies are in cuda_resources.cc.
#ifdef HGAD_WITH_CUDA
#include <napi.h>

#include <string>
#include <utility>

#include "cuda_resources.h"
#include "gemm_args.h"

namespace hgad::napi {
namespace {

// cudaGemm(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu, backend, stream?)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmArgs g(info);
  int64_t backend = getInt(info, 14, "backend");
  if (backend > static_cast<int64_t>(cuda::GemmBackend::kCublasTf32)) throwRange(info.Env(), "a backend in 0..4", "backend", std::to_string(backend));
  const cuda::Stream stream = streamArg(info, 15);
  const float* A = deviceArg(info, 5, "A", g.needA);
  const float* B = deviceArg(info, 7, "B", g.needB);
  float* C = deviceArg(info, 10, "C", g.needC);
  const float* bias = deviceArg(info, 12, "bias", g.s.N, true);
  return guarded(info, "cudaGemm" + dims({g.s.M, g.s.N, g.s.K}), [&] {
    cuda::gemm(g.s, A, B, static_cast<float>(g.beta), C, bias, g.relu, stream, static_cast<cuda::GemmBackend>(backend));
  });
}

// ------------------------------------------------------------- elementwise

// cudaAxpy(n, alpha, x, y, stream?): y += alpha x
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t n = getInt(info, 0, "n");
  const float alpha = static_cast<float>(getNumber(info, 1, "alpha"));
  const float* x = deviceArg(info, 2, "x", n);
  float* y = deviceArg(info, 3, "y", n);
  return guarded(info, "cudaAxpy" + dims({n}), [&] { cuda::axpy(n, alpha, x, y, stream); });
}

// cudaScale(n, alpha, x, out, stream?): out = alpha x
Napi::Value Scale(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t n = getInt(info, 0, "n");
  const float alpha = static_cast<float>(getNumber(info, 1, "alpha"));
  const float* x = deviceArg(info, 2, "x", n);
  float* out = deviceArg(info, 3, "out", n);
  return guarded(info, "cudaScale" + dims({n}), [&] { cuda::scale(n, alpha, x, out, stream); });
}

// cudaReluBackward(n, h, dh, stream?): dh *= (h > 0)
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 3);
  const int64_t n = getInt(info, 0, "n");
  const float* h = deviceArg(info, 1, "h", n);
  float* dh = deviceArg(info, 2, "dh", n);
  return guarded(info, "cudaReluBackward" + dims({n}), [&] { cuda::reluBackward(n, h, dh, stream); });
}

// cudaColumnSum(N, M, X, beta, v, stream?): v = beta v + sum over rows of X
Napi::Value ColumnSum(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 5);
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  const float beta = static_cast<float>(getNumber(info, 3, "beta"));
  const float* X = deviceArg(info, 2, "X", N * M);
  float* v = deviceArg(info, 4, "v", M);
  return guarded(info, "cudaColumnSum" + dims({N, M}), [&] { cuda::columnSum(N, M, X, beta, v, stream); });
}

// cudaRowSum(N, M, X, r, stream?)
Napi::Value RowSum(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  const float* X = deviceArg(info, 2, "X", N * M);
  float* r = deviceArg(info, 3, "r", N);
  return guarded(info, "cudaRowSum" + dims({N, M}), [&] { cuda::rowSum(N, M, X, r, stream); });
}

// cudaLogSoftmaxRows(N, M, X, Y, stream?); Y may be X
Napi::Value LogSoftmaxRows(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  const float* X = deviceArg(info, 2, "X", N * M);
  float* Y = deviceArg(info, 3, "Y", N * M);
  return guarded(info, "cudaLogSoftmaxRows" + dims({N, M}), [&] { cuda::logSoftmaxRows(N, M, X, Y, stream); });
}

// cudaLogSoftmaxRowsBackward(N, M, Y, dY, dX, stream?); dX may be dY
Napi::Value LogSoftmaxRowsBackward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 5);
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  const float* Y = deviceArg(info, 2, "Y", N * M);
  const float* dY = deviceArg(info, 3, "dY", N * M);
  float* dX = deviceArg(info, 4, "dX", N * M);
  return guarded(info, "cudaLogSoftmaxRowsBackward" + dims({N, M}), [&] { cuda::logSoftmaxRowsBackward(N, M, Y, dY, dX, stream); });
}

// cudaPackColumns(N, X, ldx, c0, W0, Z, P, out, stream?); Z may be null when P = 0
Napi::Value PackColumns(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 8);
  const int64_t N = getInt(info, 0, "N"), ldx = getInt(info, 2, "ldx", 1), c0 = getInt(info, 3, "c0"),
                W0 = getInt(info, 4, "W0"), P = getInt(info, 6, "P");
  if (c0 + W0 > ldx) throwRange(info.Env(), "c0 + W0 <= ldx", "columns", std::to_string(c0 + W0));
  const float* X = deviceArg(info, 1, "X", N * ldx);
  const float* Z = deviceArg(info, 5, "Z", N * P, P == 0);
  float* out = deviceArg(info, 7, "out", N * (W0 + P));
  return guarded(info, "cudaPackColumns" + dims({N, ldx, c0, W0, P}), [&] { cuda::packColumns(N, X, ldx, c0, W0, Z, P, out, stream); });
}

// cudaUnpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ, stream?); dZ may be null
Napi::Value UnpackColumnsBackward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 8);
  const int64_t N = getInt(info, 0, "N"), W0 = getInt(info, 2, "W0"), P = getInt(info, 3, "P"),
                ldx = getInt(info, 5, "ldx", 1), c0 = getInt(info, 6, "c0");
  if (c0 + W0 > ldx) throwRange(info.Env(), "c0 + W0 <= ldx", "columns", std::to_string(c0 + W0));
  const float* dOut = deviceArg(info, 1, "dOut", N * (W0 + P));
  float* dX = deviceArg(info, 4, "dX", N * ldx);
  float* dZ = deviceArg(info, 7, "dZ", N * P, true);
  return guarded(info, "cudaUnpackColumnsBackward" + dims({N, W0, P, ldx, c0}), [&] {
    cuda::unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ, stream);
  });
}

}  // namespace

void registerCudaOps(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"cudaGemm", Gemm},
      {"cudaAxpy", Axpy},
      {"cudaScale", Scale},
      {"cudaReluBackward", ReluBackward},
      {"cudaColumnSum", ColumnSum},
      {"cudaRowSum", RowSum},
      {"cudaLogSoftmaxRows", LogSoftmaxRows},
      {"cudaLogSoftmaxRowsBackward", LogSoftmaxRowsBackward},
      {"cudaPackColumns", PackColumns},
      {"cudaUnpackColumnsBackward", UnpackColumnsBackward},
  };
  for (const auto& [name, fn] : fns) exports[name] = Napi::Function::New(env, fn, name);
}

}  // namespace hgad::napi
#endif
