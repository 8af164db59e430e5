// N-API surface of the CUDA backend (native/cuda/cuda_ops.h): streams and
// device buffers with an explicit dispose() and a finalizer as the safety
// net, host<->device copies, and the ops on device buffers. Every op takes an
// optional trailing stream (a CudaStream; null or undefined for the legacy
// default stream) and only enqueues work, except the copies to and from the
// host. Every CUDA failure (no driver, out of memory, a kernel fault) becomes
// a JS Error naming the op and the sizes; the process stays alive. Without
// CUDA compiled in nothing is registered and cudaCompiled is false.
#include <napi.h>

#include "args.h"

#ifdef HGAD_WITH_CUDA
#include <memory>
#include <string>
#include <utility>

#include "cuda_ops.h"
#include "gemm_args.h"

namespace hgad::napi {
namespace {

// A stream shared by its CudaStream and by the buffers allocated on it: it is
// destroyed when the last of them lets go, so every stream-ordered free runs
// on a live stream whatever the order of dispose() calls and finalizers.
struct StreamHandle {
  cuda::Stream stream;
  explicit StreamHandle(cuda::Stream s) : stream(s) {}
  ~StreamHandle() {
    try {
      cuda::streamDestroy(stream);
    } catch (...) {
      // A context already lost to a kernel fault: nothing left to destroy.
    }
  }
  StreamHandle(const StreamHandle&) = delete;
  StreamHandle& operator=(const StreamHandle&) = delete;
};
using StreamRef = std::shared_ptr<StreamHandle>;

// The classes' constructors, per Node environment (the main thread and each
// worker thread load the addon into an environment of their own; a reference
// made in one environment is invalid in another and dies with it).
struct CudaEnvData {
  Napi::FunctionReference stream;
  Napi::FunctionReference buffer;
};

CudaEnvData& envData(Napi::Env env) { return *env.GetInstanceData<CudaEnvData>(); }

class CudaStream : public Napi::ObjectWrap<CudaStream> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaStream",
                       {InstanceMethod("synchronize", &CudaStream::Synchronize),
                        InstanceMethod("dispose", &CudaStream::Dispose),
                        InstanceAccessor("disposed", &CudaStream::Disposed, nullptr)});
  }

  explicit CudaStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaStream>(info) {
    try {
      handle_ = std::make_shared<StreamHandle>(cuda::streamCreate());
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("cudaStreamCreate: ") + e.what());
    }
  }

  // The live stream, or a JS Error naming the argument when it was disposed.
  const StreamRef& handle(Napi::Env env, const char* name) const {
    if (!handle_) throw Napi::Error::New(env, std::string(name) + ": the CUDA stream was disposed");
    return handle_;
  }

 private:
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    const StreamRef& h = handle(info.Env(), "CudaStream.synchronize");
    try {
      cuda::streamSynchronize(h->stream);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("CudaStream.synchronize: ") + e.what());
    }
    return info.Env().Undefined();
  }
  // Work already queued still completes; buffers allocated on the stream keep
  // it alive until they are freed.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    handle_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !handle_); }

  StreamRef handle_;
};

// The stream argument i: null/undefined (or absent) is the legacy default stream.
StreamRef streamRefArg(const Napi::CallbackInfo& info, size_t i, const char* name = "stream") {
  Napi::Value v = info[i];
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(envData(info.Env()).stream.Value()))
    throwType(info.Env(), "a CudaStream, null or undefined", name, v);
  return CudaStream::Unwrap(v.As<Napi::Object>())->handle(info.Env(), name);
}

cuda::Stream streamArg(const Napi::CallbackInfo& info, size_t i, const char* name = "stream") {
  StreamRef r = streamRefArg(info, i, name);
  return r ? r->stream : nullptr;
}

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceBuffer",
                       {InstanceMethod("dispose", &DeviceBuffer::Dispose),
                        InstanceAccessor("byteLength", &DeviceBuffer::ByteLength, nullptr),
                        InstanceAccessor("disposed", &DeviceBuffer::Disposed, nullptr)});
  }

  // new DeviceBuffer(bytes, stream?): allocated in the order of `stream`, and
  // freed on it.
  explicit DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    int64_t bytes = getByteCount(info, 0, "bytes", 1);
    StreamRef stream = streamRefArg(info, 1);
    try {
      ptr_ = cuda::deviceAlloc(static_cast<size_t>(bytes), stream ? stream->stream : nullptr);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("cudaAlloc(") + std::to_string(bytes) + " bytes): " + e.what());
    }
    bytes_ = static_cast<size_t>(bytes);
    stream_ = std::move(stream);
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
      cuda::deviceFree(ptr_, stream_ ? stream_->stream : nullptr);
    } catch (...) {
      // A context already lost to a kernel fault: nothing left to free.
    }
    ptr_ = nullptr;
    stream_.reset();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
  Napi::Value ByteLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(bytes_)); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  StreamRef stream_;
};


// The device buffer argument i, holding at least `elements` 4-byte elements (or null when optional).
float* deviceArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t elements, bool optional = false) {
  Napi::Value v = info[i];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(envData(info.Env()).buffer.Value()))
    throwType(info.Env(), "a DeviceBuffer", name, v);
  return DeviceBuffer::Unwrap(v.As<Napi::Object>())->data(info.Env(), name, static_cast<size_t>(elements) * sizeof(float));
}

// A device buffer of int32 values (labels, indices).
int32_t* intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t elements, bool optional = false) {
  return reinterpret_cast<int32_t*>(deviceArg(info, i, name, elements, optional));
}

// An integer argument that may be left out (undefined or null): `fallback` then.
int64_t optionalInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t fallback) {
  return info[i].IsUndefined() || info[i].IsNull() ? fallback : getInt(info, i, name);
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

// K * M below 2^31, so that K * M * C (each factor below 2^31) fits int64.
void checkKM(const Napi::CallbackInfo& info, int64_t K, int64_t M) {
  if (K * M > 2147483647) throwRange(info.Env(), "K * M below 2^31", "K, M", dims({K, M}));
}

// The host side of a copy: a Float32Array or an Int32Array (4-byte elements).
uint8_t* hostWords(const Napi::CallbackInfo& info, size_t i, int64_t* count) {
  DType d = dtypeOf(info[i]);
  if (d != DType::Float32 && d != DType::Int32) throwType(info.Env(), "a Float32Array or an Int32Array", "host", info[i]);
  auto ta = info[i].As<Napi::TypedArray>();
  *count = static_cast<int64_t>(ta.ElementLength());
  return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
}

// cudaUpload(device, host, stream?, offsetElements = 0): host -> device elements
// [offset, offset + host.length); returns once host may be reused.
Napi::Value Upload(const Napi::CallbackInfo& info) {
  int64_t n = 0;
  const uint8_t* src = hostWords(info, 1, &n);
  const cuda::Stream stream = streamArg(info, 2);
  const int64_t off = optionalInt(info, 3, "offsetElements", 0);
  float* dst = deviceArg(info, 0, "device", off + n);
  return guarded(info, "cudaUpload" + dims({n, off}), [&] { cuda::copyHostToDeviceStaged(dst + off, src, n * 4, stream); });
}

// cudaDownload(device, host, stream?, offsetElements = 0): device elements
// [offset, offset + host.length) -> host; returns once host is filled.
Napi::Value Download(const Napi::CallbackInfo& info) {
  int64_t n = 0;
  uint8_t* dst = hostWords(info, 1, &n);
  const cuda::Stream stream = streamArg(info, 2);
  const int64_t off = optionalInt(info, 3, "offsetElements", 0);
  const float* src = deviceArg(info, 0, "device", off + n);
  return guarded(info, "cudaDownload" + dims({n, off}), [&] { cuda::copyDeviceToHostStaged(dst, src + off, n * 4, stream); });
}

// cudaSynchronize(): waits for the whole device, every stream included.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return guarded(info, "cudaSynchronize", [&] { cuda::deviceSynchronize(); });
}

// cudaStreamWait(waiter, signaler): work queued on waiter from now on waits for
// the work queued on signaler so far (no host wait).
Napi::Value StreamWait(const Napi::CallbackInfo& info) {
  const cuda::Stream waiter = streamArg(info, 0, "waiter"), signaler = streamArg(info, 1, "signaler");
  return guarded(info, "cudaStreamWait", [&] { cuda::streamWait(waiter, signaler); });
}

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

// cudaCouplingForward(N, C, x, a, clamp, logdetIn, logdetConst, y, logdetOut, stream?) and the inverse
template <bool Inverse>
Napi::Value CouplingTransform(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), C = getInt(info, 1, "C", 2);
  float clamp = static_cast<float>(getNumber(info, 4, "clamp"));
  float ldc = static_cast<float>(getNumber(info, 6, "logdetConst"));
  const cuda::Stream stream = streamArg(info, 9);
  const float* in = deviceArg(info, 2, Inverse ? "y" : "x", N * C);
  const float* a = deviceArg(info, 3, "a", N * 2 * (C / 2));
  const float* ldIn = deviceArg(info, 5, "logdetIn", N, true);
  float* out = deviceArg(info, 7, Inverse ? "x" : "y", N * C);
  float* ldOut = deviceArg(info, 8, "logdetOut", N);
  return guarded(info, std::string(Inverse ? "cudaCouplingInverse" : "cudaCouplingForward") + dims({N, C}), [&] {
    if (Inverse) cuda::couplingInverse(N, C, in, a, clamp, ldIn, ldc, out, ldOut, stream);
    else cuda::couplingForward(N, C, in, a, clamp, ldIn, ldc, out, ldOut, stream);
  });
}

// cudaCouplingBackward(N, C, x, a, clamp, dy, dlogdet, dx, da, stream?)
Napi::Value CouplingBackward(const Napi::CallbackInfo& info) {
  int64_t N = getInt(info, 0, "N"), C = getInt(info, 1, "C", 2);
  float clamp = static_cast<float>(getNumber(info, 4, "clamp"));
  const cuda::Stream stream = streamArg(info, 9);
  const float* x = deviceArg(info, 2, "x", N * C);
  const float* a = deviceArg(info, 3, "a", N * 2 * (C / 2));
  const float* dy = deviceArg(info, 5, "dy", N * C);
  const float* dld = deviceArg(info, 6, "dlogdet", N, true);
  float* dx = deviceArg(info, 7, "dx", N * C);
  float* da = deviceArg(info, 8, "da", N * 2 * (C / 2));
  return guarded(info, "cudaCouplingBackward" + dims({N, C}), [&] { cuda::couplingBackward(N, C, x, a, clamp, dy, dld, dx, da, stream); });
}

// cudaAdamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step, stream?)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 11);
  int64_t n = getInt(info, 0, "n");
  float* p = deviceArg(info, 1, "p", n);
  const float* g = deviceArg(info, 2, "g", n);
  float* m = deviceArg(info, 3, "m", n);
  float* v = deviceArg(info, 4, "v", n);
  float lr = static_cast<float>(getNumber(info, 5, "lr")), b1 = static_cast<float>(getNumber(info, 6, "beta1")),
        b2 = static_cast<float>(getNumber(info, 7, "beta2")), eps = static_cast<float>(getNumber(info, 8, "eps")),
        wd = static_cast<float>(getNumber(info, 9, "weightDecay"));
  int64_t step = getInt(info, 10, "step", 1);
  return guarded(info, "cudaAdamStep" + dims({n}), [&] { cuda::adamStep(n, p, g, m, v, lr, b1, b2, eps, wd, step, stream); });
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

// cudaAdd(n, a, b, out, stream?): out = a + b
Napi::Value Add(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t n = getInt(info, 0, "n");
  const float* a = deviceArg(info, 1, "a", n);
  const float* b = deviceArg(info, 2, "b", n);
  float* out = deviceArg(info, 3, "out", n);
  return guarded(info, "cudaAdd" + dims({n}), [&] { cuda::add(n, a, b, out, stream); });
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

// cudaRowSum(N, M, X, r, stream?) and cudaLogSumExpRows(N, M, X, r, stream?)
template <bool LogSumExp>
Napi::Value RowReduce(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t N = getInt(info, 0, "N"), M = getInt(info, 1, "M");
  const float* X = deviceArg(info, 2, "X", N * M);
  float* r = deviceArg(info, 3, "r", N);
  return guarded(info, std::string(LogSumExp ? "cudaLogSumExpRows" : "cudaRowSum") + dims({N, M}), [&] {
    if (LogSumExp) cuda::logSumExpRows(N, M, X, r, stream);
    else cuda::rowSum(N, M, X, r, stream);
  });
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

// cudaFill(n, value, buf, offsetElements = 0, stream?): buf[offset, offset + n) = value (NaN allowed)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t n = getInt(info, 0, "n");
  const float value = static_cast<float>(getNumber(info, 1, "value", false));
  const int64_t off = optionalInt(info, 3, "offsetElements", 0);
  float* buf = deviceArg(info, 2, "buf", off + n);
  return guarded(info, "cudaFill" + dims({n, off}), [&] { cuda::fill(n, value, buf + off, stream); });
}

// cudaHalfToFloat(n, h, out, stream?): out (n floats) = h (n binary16 values, packed two to a 4-byte element)
Napi::Value HalfToFloat(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 3);
  const int64_t n = getInt(info, 0, "n");
  const auto* h = reinterpret_cast<const uint16_t*>(deviceArg(info, 1, "h", (n + 1) / 2));
  float* out = deviceArg(info, 2, "out", n);
  return guarded(info, "cudaHalfToFloat" + dims({n}), [&] { cuda::halfToFloat(n, h, out, stream); });
}

// cudaCopy(n, src, srcOffset, dst, dstOffset, stream?): n 4-byte elements,
// device to device; the two ranges must not overlap.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 5);
  const int64_t n = getInt(info, 0, "n"), so = getInt(info, 2, "srcOffset"), dso = getInt(info, 4, "dstOffset");
  const float* src = deviceArg(info, 1, "src", so + n);
  float* dst = deviceArg(info, 3, "dst", dso + n);
  if (n > 0 && src == dst && so < dso + n && dso < so + n)
    throwRange(info.Env(), "a range not overlapping the source range [" + std::to_string(so) + ", " + std::to_string(so + n) + ")",
               "dstOffset", std::to_string(dso));
  return guarded(info, "cudaCopy" + dims({n, so, dso}), [&] { cuda::copyDeviceToDevice(dst + dso, src + so, static_cast<size_t>(n) * 4, stream); });
}

// ---------------------------------------------------- parameter folding, glue

// cudaAffineFold(C, R, g, offset, W, b, logdetConst, inverse, stream?)
Napi::Value AffineFold(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 8);
  const int64_t C = getInt(info, 0, "C", 1);
  const bool inverse = getBool(info, 7, "inverse");
  const float* R = deviceArg(info, 1, "R", C * C);
  const float* g = deviceArg(info, 2, "g", C);
  const float* offset = deviceArg(info, 3, "offset", C);
  float* W = deviceArg(info, 4, "W", C * C);
  float* b = deviceArg(info, 5, "b", C);
  float* ldc = deviceArg(info, 6, "logdetConst", 1);
  return guarded(info, std::string("cudaAffineFold") + (inverse ? " inverse" : "") + dims({C}), [&] {
    cuda::affineFold(C, R, g, offset, W, b, ldc, inverse, stream);
  });
}

// cudaAffineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset, stream?); dConst may be null
Napi::Value AffineFoldBackward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 8);
  const int64_t C = getInt(info, 0, "C", 1);
  const float* R = deviceArg(info, 1, "R", C * C);
  const float* g = deviceArg(info, 2, "g", C);
  const float* dW = deviceArg(info, 3, "dW", C * C);
  const float* db = deviceArg(info, 4, "db", C);
  const float* dConst = deviceArg(info, 5, "dConst", 1, true);
  float* dg = deviceArg(info, 6, "dg", C);
  float* dOffset = deviceArg(info, 7, "dOffset", C);
  return guarded(info, "cudaAffineFoldBackward" + dims({C}), [&] {
    cuda::affineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset, stream);
  });
}

// cudaCentresCompose(K, M, C, mu, muDelta, cent, stream?); muDelta may be null when M = 1
Napi::Value CentresCompose(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 6);
  const int64_t K = getInt(info, 0, "K", 1), M = getInt(info, 1, "M", 1), C = getInt(info, 2, "C", 1);
  checkKM(info, K, M);
  const float* mu = deviceArg(info, 3, "mu", K * C);
  const float* muDelta = deviceArg(info, 4, "muDelta", K * (M - 1) * C, M == 1);
  float* cent = deviceArg(info, 5, "cent", K * M * C);
  return guarded(info, "cudaCentresCompose" + dims({K, M, C}), [&] { cuda::centresCompose(K, M, C, mu, muDelta, cent, stream); });
}

// cudaCentresComposeBackward(K, M, C, dcent, dmu, dDelta, stream?); dDelta may be null
Napi::Value CentresComposeBackward(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 6);
  const int64_t K = getInt(info, 0, "K", 1), M = getInt(info, 1, "M", 1), C = getInt(info, 2, "C", 1);
  checkKM(info, K, M);
  const float* dcent = deviceArg(info, 3, "dcent", K * M * C);
  float* dmu = deviceArg(info, 4, "dmu", K * C);
  float* dDelta = deviceArg(info, 5, "dDelta", K * (M - 1) * C, true);
  return guarded(info, "cudaCentresComposeBackward" + dims({K, M, C}), [&] {
    cuda::centresComposeBackward(K, M, C, dcent, dmu, dDelta, stream);
  });
}

// cudaGatherRows(n, C, src, srcRows, idx, dst, stream?): dst[i, :] = src[idx[i], :]
// (32-bit words; a row whose index is outside [0, srcRows) is written as zeros)
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 6);
  const int64_t n = getInt(info, 0, "n"), C = getInt(info, 1, "C"), srcRows = getInt(info, 3, "srcRows");
  const float* src = deviceArg(info, 2, "src", srcRows * C);
  const int32_t* idx = intArg(info, 4, "idx", n);
  float* dst = deviceArg(info, 5, "dst", n * C);
  return guarded(info, "cudaGatherRows" + dims({n, C, srcRows}), [&] { cuda::gatherRows(n, C, src, srcRows, idx, dst, stream); });
}

// cudaOneHot(N, K, labels, smoothing, Y, stream?)
Napi::Value OneHot(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 5);
  const int64_t N = getInt(info, 0, "N"), K = getInt(info, 1, "K", 1);
  const float smoothing = static_cast<float>(getNumber(info, 3, "smoothing"));
  const int32_t* labels = intArg(info, 2, "labels", N);
  float* Y = deviceArg(info, 4, "Y", N * K);
  return guarded(info, "cudaOneHot" + dims({N, K}), [&] { cuda::oneHot(N, K, labels, smoothing, Y, stream); });
}

// cudaLossSums(N, Lg, Le, Lmi, Lgi, logp, out, stream?); Lgi and logp may be null
Napi::Value LossSums(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 7);
  const int64_t N = getInt(info, 0, "N");
  const float* Lg = deviceArg(info, 1, "Lg", N);
  const float* Le = deviceArg(info, 2, "Le", N);
  const float* Lmi = deviceArg(info, 3, "Lmi", N);
  const float* Lgi = deviceArg(info, 4, "Lgi", N, true);
  const float* logp = deviceArg(info, 5, "logp", N, true);
  float* out = deviceArg(info, 6, "out", 5);
  return guarded(info, "cudaLossSums" + dims({N}), [&] { cuda::lossSums(N, Lg, Le, Lmi, Lgi, logp, out, stream); });
}

// cudaSetDevice(index): the device the calling thread's CUDA calls use.
Napi::Value SetDevice(const Napi::CallbackInfo& info) {
  const int64_t index = getInt(info, 0, "index");
  return guarded(info, "cudaSetDevice" + dims({index}), [&] { cuda::setDevice(static_cast<int>(index)); });
}

// cudaCublasAvailable(): whether libcublas could be loaded (what gemm backend 0 uses).
Napi::Value CublasAvailable(const Napi::CallbackInfo& info) {
  bool ok = false;
  guarded(info, "cudaCublasAvailable", [&] { ok = cuda::cublasAvailable(); });
  return Napi::Boolean::New(info.Env(), ok);
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
  Napi::Function streamCtor = CudaStream::Define(env);
  Napi::Function ctor = DeviceBuffer::Define(env);
  env.SetInstanceData(new CudaEnvData{Napi::Persistent(streamCtor), Napi::Persistent(ctor)});
  exports["CudaStream"] = streamCtor;
  exports["DeviceBuffer"] = ctor;
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"cudaUpload", Upload},
      {"cudaDownload", Download},
      {"cudaSynchronize", Synchronize},
      {"cudaStreamWait", StreamWait},
      {"cudaGemm", Gemm},
      {"cudaCouplingForward", CouplingTransform<false>},
      {"cudaCouplingInverse", CouplingTransform<true>},
      {"cudaCouplingBackward", CouplingBackward},
      {"cudaMixtureHeadForward", MixtureForward},
      {"cudaMixtureHeadBackward", MixtureBackward},
      {"cudaAdamStep", AdamStep},
      {"cudaAxpy", Axpy},
      {"cudaAdd", Add},
      {"cudaScale", Scale},
      {"cudaReluBackward", ReluBackward},
      {"cudaColumnSum", ColumnSum},
      {"cudaRowSum", RowReduce<false>},
      {"cudaLogSumExpRows", RowReduce<true>},
      {"cudaLogSoftmaxRows", LogSoftmaxRows},
      {"cudaLogSoftmaxRowsBackward", LogSoftmaxRowsBackward},
      {"cudaPackColumns", PackColumns},
      {"cudaUnpackColumnsBackward", UnpackColumnsBackward},
      {"cudaFill", Fill},
      {"cudaCopy", Copy},
      {"cudaHalfToFloat", HalfToFloat},
      {"cudaAffineFold", AffineFold},
      {"cudaAffineFoldBackward", AffineFoldBackward},
      {"cudaCentresCompose", CentresCompose},
      {"cudaCentresComposeBackward", CentresComposeBackward},
      {"cudaGatherRows", GatherRows},
      {"cudaOneHot", OneHot},
      {"cudaLossSums", LossSums},
      {"cudaSetDevice", SetDevice},
      {"cudaCublasAvailable", CublasAvailable},
      {"cudaAllocatorStats", AllocatorStats},
  };
  for (const auto& [name, fn] : fns) exports[name] = Napi::Function::New(env, fn, name);
}

}  // namespace hgad::napi

#else

namespace hgad::napi {
void registerCuda(Napi::Env, Napi::Object) {}
}  // namespace hgad::napi

#endif
