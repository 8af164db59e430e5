// N-API surface of the CUDA resources (native/device/device_api.h): streams and
// device buffers with an explicit dispose() and a finalizer as the safety
// net, host<->device copies, fills and device-to-device copies, device
// selection and allocator statistics. The ops take device buffers through
// their one registration each (dispatch.h). Every CUDA failure (no driver, out of memory, a kernel
// fault) becomes a JS Error naming the call and the sizes; the process stays
// alive. Without CUDA compiled in nothing is registered and cudaCompiled is
// false.
#include <napi.h>

#include "args.h"

#ifdef HGAD_WITH_CUDA
#include <memory>
#include <string>
#include <utility>

#include "cuda_resources.h"

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


}  // namespace

// The stream of the call being checked on this thread: the buffers its ops
// then read or write are recorded as used by it (cuda::recordStream) when it
// is not their allocation stream. Every op reads its stream before its
// buffers, so this is always the current call's.
static thread_local cuda::Stream callStream = nullptr;

cuda::Stream streamArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  StreamRef r = streamRefArg(info, i, name);
  callStream = r ? r->stream : nullptr;
  // The stream's device runs the call (a stream belongs to the device current
  // at its creation), whatever device another backend of this thread selected.
  try {
    cuda::useStreamDevice(callStream);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
  }
  return callStream;
}

namespace {

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

  // The memory for a call on `stream`, recorded as used by that stream when it
  // is not the allocation stream, so that its free waits for that work too.
  float* data(Napi::Env env, const char* name, size_t needBytes, cuda::Stream stream) const {
    if (!ptr_) throw Napi::Error::New(env, std::string(name) + ": the device buffer was disposed");
    if (needBytes > bytes_)
      throwRange(env, "a device buffer of at least " + std::to_string(needBytes) + " bytes", name,
                 std::to_string(bytes_) + " bytes");
    if (stream != (stream_ ? stream_->stream : nullptr)) {
      try {
        cuda::recordStream(ptr_, stream);
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, std::string(name) + ": " + e.what());
      }
    }
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


}  // namespace

// The device buffer argument i, holding at least `elements` 4-byte elements (or null when optional).
bool isDeviceBuffer(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(envData(env).buffer.Value());
}

float* deviceArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t elements, bool optional) {
  Napi::Value v = info[i];
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!isDeviceBuffer(info.Env(), v)) throwType(info.Env(), "a DeviceBuffer", name, v);
  return DeviceBuffer::Unwrap(v.As<Napi::Object>())->data(info.Env(), name, static_cast<size_t>(elements) * sizeof(float),
                                                         callStream);
}


namespace {

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


// cudaFill(n, value, buf, offsetElements = 0, stream?): buf[offset, offset + n) = value (NaN allowed)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  const cuda::Stream stream = streamArg(info, 4);
  const int64_t n = getInt(info, 0, "n");
  const float value = static_cast<float>(getNumber(info, 1, "value", false));
  const int64_t off = optionalInt(info, 3, "offsetElements", 0);
  float* buf = deviceArg(info, 2, "buf", off + n);
  return guarded(info, "cudaFill" + dims({n, off}), [&] { cuda::fill(n, value, buf + off, stream); });
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

void registerCudaResources(Napi::Env env, Napi::Object exports) {
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
      {"cudaFill", Fill},
      {"cudaCopy", Copy},
      {"cudaSetDevice", SetDevice},
      {"cudaCublasAvailable", CublasAvailable},
      {"cudaAllocatorStats", AllocatorStats},
  };
  for (const auto& [name, fn] : fns) exports[name] = Napi::Function::New(env, fn, name);
}

void registerCuda(Napi::Env env, Napi::Object exports) { registerCudaResources(env, exports); }

}  // namespace hgad::napi

#else

namespace hgad::napi {
void registerCuda(Napi::Env, Napi::Object) {}
}  // namespace hgad::napi

#endif
