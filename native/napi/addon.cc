// Module entry: memory allocation, thread pool control, build/device
// information, and the op wrappers (ops_binding.cc). Context-aware, so the
// addon loads in worker threads too.
#include <napi.h>

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <algorithm>
#include <cstring>
#include <string>

#include "args.h"
#include "device.h"
#include "gemm.h"
#include "threadpool.h"

namespace hgad::napi {

void registerOps(Napi::Env env, Napi::Object exports);

namespace {

constexpr size_t kAlignment = 64;

// alloc(length, dtype, fill?) -> a typed array over 64-byte aligned memory,
// freed by the garbage collector's finalizer. Without `fill` the memory is
// left uninitialised (callers that overwrite every element skip the pass).
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t length = getInt(info, 0, "length");
  if (!info[1].IsString()) throwType(env, "\"float32\", \"float64\" or \"int32\"", "dtype", info[1]);
  std::string dtype = info[1].As<Napi::String>().Utf8Value();
  size_t item = dtype == "float64" ? 8 : (dtype == "float32" || dtype == "int32") ? 4 : 0;
  if (item == 0) throwType(env, "\"float32\", \"float64\" or \"int32\"", "dtype", info[1]);
  if (length > (int64_t(1) << 40) / static_cast<int64_t>(item))
    throwRange(env, "a length below 2^40 bytes", "length", std::to_string(length));
  size_t bytes = static_cast<size_t>(length) * item;
  size_t padded = ((bytes == 0 ? 1 : bytes) + kAlignment - 1) / kAlignment * kAlignment;
  void* data = std::aligned_alloc(kAlignment, padded);
  if (!data) throw Napi::Error::New(env, "alloc: out of host memory for " + std::to_string(bytes) + " bytes");
  bool hasFill = info.Length() > 2 && !info[2].IsUndefined();
  if (hasFill) {
    double fill = getNumber(info, 2, "fill", false);
    if (fill == 0) {
      std::memset(data, 0, padded);
    } else if (dtype == "float32") {
      std::fill_n(static_cast<float*>(data), length, static_cast<float>(fill));
    } else if (dtype == "float64") {
      std::fill_n(static_cast<double*>(data), length, fill);
    } else {
      std::fill_n(static_cast<int32_t*>(data), length, static_cast<int32_t>(fill));
    }
  }
  // Tell V8 how much memory the buffer holds, so that garbage collection (which
  // frees these buffers) keeps pace with allocation.
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(padded));
  auto buffer = Napi::ArrayBuffer::New(
      env, data, bytes,
      [](Napi::Env finalizeEnv, void* p, size_t* size) {
        std::free(p);
        Napi::MemoryManagement::AdjustExternalMemory(finalizeEnv, -static_cast<int64_t>(*size));
        delete size;
      },
      new size_t(padded));
  if (dtype == "float32") return Napi::Float32Array::New(env, length, buffer, 0);
  if (dtype == "float64") return Napi::Float64Array::New(env, length, buffer, 0);
  return Napi::Int32Array::New(env, length, buffer, 0);
}

Napi::Value ThreadCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), threadCount());
}

Napi::Value SetThreadCount(const Napi::CallbackInfo& info) {
  int64_t n = getInt(info, 0, "threads", 1);
  if (n > 256) throwRange(info.Env(), "at most 256", "threads", std::to_string(n));
  setThreadCount(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o["cudaCompiled"] = cudaCompiled();
  o["cudaArchs"] = cudaArchitectures();
  o["gemmKernel"] = gemmKernelName();
  o["threads"] = threadCount();
  return o;
}

Napi::Value CudaDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string error;
  auto devices = cudaDevices(&error);
  Napi::Object o = Napi::Object::New(env);
  Napi::Array list = Napi::Array::New(env, devices.size());
  for (size_t i = 0; i < devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d["index"] = devices[i].index;
    d["name"] = devices[i].name;
    d["totalMemory"] = static_cast<double>(devices[i].totalMemory);
    d["computeCapability"] = std::to_string(devices[i].major) + "." + std::to_string(devices[i].minor);
    d["multiprocessors"] = devices[i].multiprocessors;
    list[i] = d;
  }
  o["devices"] = list;
  o["error"] = error.empty() ? env.Null() : Napi::String::New(env, error);
  return o;
}

}  // namespace
}  // namespace hgad::napi

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace hgad::napi;
#if defined(__GLIBC__)
  // Keep tensor-sized blocks in the heap rather than in fresh mmaps: a training
  // step allocates and frees many of them, and each new mapping costs page
  // faults on first touch.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
  exports["alloc"] = Napi::Function::New(env, Alloc, "alloc");
  exports["threadCount"] = Napi::Function::New(env, ThreadCount, "threadCount");
  exports["setThreadCount"] = Napi::Function::New(env, SetThreadCount, "setThreadCount");
  exports["buildInfo"] = Napi::Function::New(env, BuildInfo, "buildInfo");
  exports["cudaDevices"] = Napi::Function::New(env, CudaDevices, "cudaDevices");
  registerOps(env, exports);
  return exports;
}

NODE_API_MODULE(hgad, Init)
