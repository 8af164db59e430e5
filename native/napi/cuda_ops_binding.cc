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

// Shared arguments of the mixture head: (N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa);
// labels is a DeviceBuffer holding int32 class ids.
struct DeviceMixtureArgs {
  MixtureShape s;
  const float *z, *logdet, *Y, *cent, *lpi, *lpa;
  const int32_t* labels;

  explicit DeviceMixtureArgs(const Napi::CallbackInfo& info) {
    s.N = getInt(info, 0, "N");
    s.C = getInt(info, 1, "C", 1);
    s.K = getInt(info, 2, "K", 1);
    s.M = getInt(info, 3, "M", 1);
    checkKM(info, s.K, s.M);
    z = deviceArg(info, 4, "z", s.N * s.C);
    logdet = deviceArg(info, 5, "logdet", s.N);
    labels = intArg(info, 6, "labels", s.N, true);
    Y = deviceArg(info, 7, "Y", s.N * s.K, true);
    cent = deviceArg(info, 8, "centres", s.K * s.M * s.C);
    lpi = deviceArg(info, 9, "logPriorInter", s.K);
    lpa = deviceArg(info, 10, "logPriorIntra", s.K * s.M);
  }
};

// cudaMixtureHeadForward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, Lg, Le, Lmi, Lgi, logp, stream?)
Napi::Value MixtureForward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 16);
  DeviceMixtureArgs a(info);
  const int64_t N = a.s.N;
  float* Lg = deviceArg(info, 11, "Lg", N, true);
  float* Le = deviceArg(info, 12, "Le", N, true);
  float* Lmi = deviceArg(info, 13, "Lmi", N, true);
  float* Lgi = deviceArg(info, 14, "Lgi", N, true);
  float* logp = deviceArg(info, 15, "logp", N, true);
  if (Lmi && !a.Y) throwType(info.Env(), "a Y buffer when Lmi is wanted", "Y", info[7]);
  if ((Lgi || logp) && !a.labels) throwType(info.Env(), "labels when Lgi or logp is wanted", "labels", info[6]);
  return guarded(info, "cudaMixtureHeadForward" + dims({a.s.N, a.s.C, a.s.K, a.s.M}), [&] {
    cuda::mixtureHeadForward(a.s, a.z, a.logdet, a.labels, a.Y, a.cent, a.lpi, a.lpa, Lg, Le, Lmi, Lgi, logp, stream);
  });
}

// cudaMixtureHeadBackward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, wg, we, wmi, wgi, wz,
//                         dz, dlogdet, dcent, dlpi, dlpa, stream?)
Napi::Value MixtureBackward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 21);
  DeviceMixtureArgs a(info);
  MixtureWeights<float> w;
  w.g = static_cast<float>(getNumber(info, 11, "weights.g"));
  w.e = static_cast<float>(getNumber(info, 12, "weights.e"));
  w.mi = static_cast<float>(getNumber(info, 13, "weights.mi"));
  w.gi = static_cast<float>(getNumber(info, 14, "weights.gi"));
  w.z = static_cast<float>(getNumber(info, 15, "weights.z"));
  if (w.mi != 0.0f && !a.Y) throwType(info.Env(), "a Y buffer when weights.mi is not 0", "Y", info[7]);
  if ((w.gi != 0.0f || w.z != 0.0f) && !a.labels) throwType(info.Env(), "labels when weights.gi or weights.z is not 0", "labels", info[6]);
  const MixtureShape& s = a.s;
  float* dz = deviceArg(info, 16, "dz", s.N * s.C);
  float* dlogdet = deviceArg(info, 17, "dlogdet", s.N);
  float* dcent = deviceArg(info, 18, "dcent", s.K * s.M * s.C);
  float* dlpi = deviceArg(info, 19, "dlpi", s.K);
  float* dlpa = deviceArg(info, 20, "dlpa", s.K * s.M);
  return guarded(info, "cudaMixtureHeadBackward" + dims({s.N, s.C, s.K, s.M}), [&] {
    cuda::mixtureHeadBackward(s, a.z, a.logdet, a.labels, a.Y, a.cent, a.lpi, a.lpa, w, dz, dlogdet, dcent, dlpi, dlpa, stream);
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
      {"cudaMixtureHeadForward", MixtureForward},
      {"cudaMixtureHeadBackward", MixtureBackward},
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
