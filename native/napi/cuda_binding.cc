// N-API surface of the CUDA backend (native/cuda/cuda_ops.h): device buffers
// with an explicit dispose() and a finalizer as the safety net, host<->device
// copies, and the fused ops on device buffers. Every CUDA failure (no driver,
// out of memory, a kernel fault) becomes a JS Error naming the op and the
// sizes; the process stays alive. Without CUDA compiled in nothing is
// registered and cudaCompiled is false.
#include <napi.h>

#include "args.h"

#ifdef HGAD_WITH_CUDA
#include <string>

#include "cuda_ops.h"
#include "gemm_args.h"

namespace hgad::napi {
namespace {

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceBuffer",
                       {InstanceMethod("dispose", &DeviceBuffer::Dispose),
                        InstanceAccessor("byteLength", &DeviceBuffer::ByteLength, nullptr),
                        InstanceAccessor("disposed", &DeviceBuffer::Disposed, nullptr)});
  }

  explicit DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    int64_t bytes = getInt(info, 0, "bytes", 1);
    try {
      ptr_ = cuda::deviceAlloc(static_cast<size_t>(bytes));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("cudaAlloc(") + std::to_string(bytes) + " bytes): " + e.what());
    }
    bytes_ = static_cast<size_t>(bytes);
  }

  ~DeviceBuffer() override { release(); }

  float* data(Napi::Env env, const char* name, size_t needBytes) const {
    if (!ptr_) throw Napi::Error::New(env, std::string(name) + ": the device buffer was disposed");
    if (needBytes > bytes_)
      throwRange(env, "a device buffer of at least " + std::to_string(needBytes) + " bytes", name,
                 std::to_string(bytes_) + " bytes");
    return static_cast<float*>(ptr_);
  }

 private:
  void release() {
    if (!ptr_) return;
    try {
      cuda::deviceFree(ptr_);
    } catch (...) {
      // A context already lost to a kernel fault: nothing left to free.
    }
    ptr_ = nullptr;
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
  Napi::Value ByteLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(bytes_)); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

Napi::FunctionReference* DeviceBuffer::constructor = nullptr;

// The device buffer argument i, holding at least `elements` floats (or null when optional).
float* deviceArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t elements, bool optional = false) {
  Napi::Value v = info[i];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(DeviceBuffer::constructor->Value()))
    throwType(info.Env(), "a DeviceBuffer", name, v);
  return DeviceBuffer::Unwrap(v.As<Napi::Object>())->data(info.Env(), name, static_cast<size_t>(elements) * sizeof(float));
}

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, const std::string& what, F&& f) {
  try {
    f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), what + ": " + e.what());
  }
  return info.Env().Undefined();
}

std::string dims(std::initializer_list<int64_t> d) {
  std::string s = "(";
  for (auto it = d.begin(); it != d.end(); ++it) s += (it == d.begin() ? "" : ", ") + std::to_string(*it);
  return s + ")";
}

// The host side of a copy: a Float32Array or an Int32Array (4-byte elements).
uint8_t* hostWords(const Napi::CallbackInfo& info, size_t i, int64_t* count) {
  DType d = dtypeOf(info[i]);
  if (d != DType::Float32 && d != DType::Int32) throwType(info.Env(), "a Float32Array or an Int32Array", "host", info[i]);
  auto ta = info[i].As<Napi::TypedArray>();
  *count = static_cast<int64_t>(ta.ElementLength());
  return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
}

// cudaUpload(deviceBuffer, hostArray) / cudaDownload(deviceBuffer, hostArray)
Napi::Value Upload(const Napi::CallbackInfo& info) {
  int64_t n = 0;
  const uint8_t* src = hostWords(info, 1, &n);
  float* dst = deviceArg(info, 0, "device", n);
  return guarded(info, "cudaUpload" + dims({n}), [&] { cuda::copyHostToDeviceStaged(dst, src, n * 4); });
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  int64_t n = 0;
  uint8_t* dst = hostWords(info, 1, &n);
  const float* src = deviceArg(info, 0, "device", n);
  return guarded(info, "cudaDownload" + dims({n}), [&] { cuda::copyDeviceToHostStaged(dst, src, n * 4); });
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return guarded(info, "cudaSynchronize", [&] { cuda::streamSynchronize(nullptr); });
}

// cudaGemm(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu, backend)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmArgs g(info);
  int64_t backend = getInt(info, 14, "backend");
  if (backend > static_cast<int64_t>(cuda::GemmBackend::kCublasTf32)) throwRange(info.Env(), "a backend in 0..4", "backend", std::to_string(backend));
  const float* A = deviceArg(info, 5, "A", g.needA);
  const float* B = deviceArg(info, 7, "B", g.needB);
  float* C = deviceArg(info, 10, "C", g.needC);
  const float* bias = deviceArg(info, 12, "bias", g.s.N, true);
  return guarded(info, "cudaGemm" + dims({g.s.M, g.s.N, g.s.K}), [&] {
    cuda::gemm(g.s, A, B, static_cast<float>(g.beta), C, bias, g.relu, nullptr, static_cast<cuda::GemmBackend>(backend));
  });
}

// cudaCouplingForward(N, C, x, a, clamp, logdetIn, logdetConst, y, logdetOut) and the inverse
template <bool Inverse>
Napi::Value CouplingTransform(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), C = getInt(info, 1, "C", 2);
  float clamp = static_cast<float>(getNumber(info, 4, "clamp"));
  float ldc = static_cast<float>(getNumber(info, 6, "logdetConst"));
  const float* in = deviceArg(info, 2, Inverse ? "y" : "x", N * C);
  const float* a = deviceArg(info, 3, "a", N * 2 * (C / 2));
  const float* ldIn = deviceArg(info, 5, "logdetIn", N, true);
  float* out = deviceArg(info, 7, Inverse ? "x" : "y", N * C);
  float* ldOut = deviceArg(info, 8, "logdetOut", N);
  return guarded(info, std::string(Inverse ? "cudaCouplingInverse" : "cudaCouplingForward") + dims({N, C}), [&] {
    if (Inverse) cuda::couplingInverse(N, C, in, a, clamp, ldIn, ldc, out, ldOut);
    else cuda::couplingForward(N, C, in, a, clamp, ldIn, ldc, out, ldOut);
  });
}

// cudaCouplingBackward(N, C, x, a, clamp, dy, dlogdet, dx, da)
Napi::Value CouplingBackward(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), C = getInt(info, 1, "C", 2);
  float clamp = static_cast<float>(getNumber(info, 4, "clamp"));
  const float* x = deviceArg(info, 2, "x", N * C);
  const float* a = deviceArg(info, 3, "a", N * 2 * (C / 2));
  const float* dy = deviceArg(info, 5, "dy", N * C);
  const float* dld = deviceArg(info, 6, "dlogdet", N, true);
  float* dx = deviceArg(info, 7, "dx", N * C);
  float* da = deviceArg(info, 8, "da", N * 2 * (C / 2));
  return guarded(info, "cudaCouplingBackward" + dims({N, C}), [&] { cuda::couplingBackward(N, C, x, a, clamp, dy, dld, dx, da); });
}

// cudaAdamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  int64_t n = getInt(info, 0, "n");
  float* p = deviceArg(info, 1, "p", n);
  const float* g = deviceArg(info, 2, "g", n);
  float* m = deviceArg(info, 3, "m", n);
  float* v = deviceArg(info, 4, "v", n);
  float lr = static_cast<float>(getNumber(info, 5, "lr")), b1 = static_cast<float>(getNumber(info, 6, "beta1")),
        b2 = static_cast<float>(getNumber(info, 7, "beta2")), eps = static_cast<float>(getNumber(info, 8, "eps")),
        wd = static_cast<float>(getNumber(info, 9, "weightDecay"));
  int64_t step = getInt(info, 10, "step", 1);
  return guarded(info, "cudaAdamStep" + dims({n}), [&] { cuda::adamStep(n, p, g, m, v, lr, b1, b2, eps, wd, step); });
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
    if (s.K * s.M > 2147483647) throwRange(info.Env(), "K * M below 2^31", "K, M", dims({s.K, s.M}));
    z = deviceArg(info, 4, "z", s.N * s.C);
    logdet = deviceArg(info, 5, "logdet", s.N);
    labels = reinterpret_cast<const int32_t*>(deviceArg(info, 6, "labels", s.N, true));
    Y = deviceArg(info, 7, "Y", s.N * s.K, true);
    cent = deviceArg(info, 8, "centres", s.K * s.M * s.C);
    lpi = deviceArg(info, 9, "logPriorInter", s.K);
    lpa = deviceArg(info, 10, "logPriorIntra", s.K * s.M);
  }
};

// cudaMixtureHeadForward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, Lg, Le, Lmi, Lgi, logp)
Napi::Value MixtureForward(const Napi::CallbackInfo& info) {
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
    cuda::mixtureHeadForward(a.s, a.z, a.logdet, a.labels, a.Y, a.cent, a.lpi, a.lpa, Lg, Le, Lmi, Lgi, logp);
  });
}

// cudaMixtureHeadBackward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, wg, we, wmi, wgi, wz,
//                         dz, dlogdet, dcent, dlpi, dlpa)
Napi::Value MixtureBackward(const Napi::CallbackInfo& info) {
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
    cuda::mixtureHeadBackward(s, a.z, a.logdet, a.labels, a.Y, a.cent, a.lpi, a.lpa, w, dz, dlogdet, dcent, dlpi, dlpa);
  });
}

Napi::Value AllocatorStats(const Napi::CallbackInfo& info) {
  auto st = cuda::allocatorStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o["bytesInUse"] = static_cast<double>(st.bytesInUse);
  o["bytesCached"] = static_cast<double>(st.bytesCached);
  o["driverAllocations"] = static_cast<double>(st.driverAllocations);
  o["cacheHits"] = static_cast<double>(st.cacheHits);
  return o;
}

}  // namespace

void registerCuda(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DeviceBuffer::Define(env);
  DeviceBuffer::constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports["DeviceBuffer"] = ctor;
  exports["cudaUpload"] = Napi::Function::New(env, Upload, "cudaUpload");
  exports["cudaDownload"] = Napi::Function::New(env, Download, "cudaDownload");
  exports["cudaSynchronize"] = Napi::Function::New(env, Synchronize, "cudaSynchronize");
  exports["cudaGemm"] = Napi::Function::New(env, Gemm, "cudaGemm");
  exports["cudaCouplingForward"] = Napi::Function::New(env, CouplingTransform<false>, "cudaCouplingForward");
  exports["cudaCouplingInverse"] = Napi::Function::New(env, CouplingTransform<true>, "cudaCouplingInverse");
  exports["cudaCouplingBackward"] = Napi::Function::New(env, CouplingBackward, "cudaCouplingBackward");
  exports["cudaMixtureHeadForward"] = Napi::Function::New(env, MixtureForward, "cudaMixtureHeadForward");
  exports["cudaMixtureHeadBackward"] = Napi::Function::New(env, MixtureBackward, "cudaMixtureHeadBackward");
  exports["cudaAdamStep"] = Napi::Function::New(env, AdamStep, "cudaAdamStep");
  exports["cudaAllocatorStats"] = Napi::Function::New(env, AllocatorStats, "cudaAllocatorStats");
}

}  // namespace hgad::napi

#else

namespace hgad::napi {
void registerCuda(Napi::Env, Napi::Object) {}
}  // namespace hgad::napi

#endif
