// Module entry: memory alignment helpers, thread pool control, build/device
// information, the CUDA resources and the ops (each registered by HGAD_OP next
// to its wrapper, native/napi/dispatch.h). Context-aware, so the addon loads in
// worker threads too.
#include <napi.h>

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "dispatch.h"
#include "device.h"
#include "gemm.h"
#include "threadpool.h"

namespace hgad::napi {

void registerCuda(Napi::Env env, Napi::Object exports);

namespace {
struct OpEntry {
  const char* name;
  Napi::Function::Callback fn;
};
std::vector<OpEntry>& opList() {
  static std::vector<OpEntry> list;
  return list;
}
}  // namespace

bool addOp(const char* name, Napi::Function::Callback fn) {
  opList().push_back({name, fn});
  return true;
}

void registerOps(Napi::Env env, Napi::Object exports) {
  for (const OpEntry& op : opList()) exports[op.name] = Napi::Function::New(env, op.fn, op.name);
}

namespace {

constexpr size_t kAlignment = 64;

// Host tensors live in ArrayBuffers allocated by JavaScript, so that V8's
// collector frees them as it goes, even inside a long synchronous loop (the
// finalizers of external buffers would wait for the event loop). These two
// helpers let the TypeScript side place its views on 64-byte boundaries.

// alignOffset(arrayBuffer) -> bytes to skip from the buffer's start to reach a 64-byte boundary
Napi::Value AlignOffset(const Napi::CallbackInfo& info) {
  if (!info[0].IsArrayBuffer()) throwType(info.Env(), "an ArrayBuffer", "buffer", info[0]);
  auto address = reinterpret_cast<uintptr_t>(info[0].As<Napi::ArrayBuffer>().Data());
  return Napi::Number::New(info.Env(), static_cast<double>((kAlignment - address % kAlignment) % kAlignment));
}

// addressModulo(typedArray, m) -> the address of its first element modulo m
Napi::Value AddressModulo(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throwType(info.Env(), "a typed array", "array", info[0]);
  int64_t m = getInt(info, 1, "modulus", 1);
  auto ta = info[0].As<Napi::TypedArray>();
  auto address = reinterpret_cast<uintptr_t>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  return Napi::Number::New(info.Env(), static_cast<double>(address % static_cast<uintptr_t>(m)));
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

// setGemmKernel(name): "auto" or one of gemmKernels(); anything else is a RangeError.
Napi::Value SetGemmKernel(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throwType(info.Env(), "a string", "kernel", info[0]);
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!setGemmKernel(name)) {
    std::string choices = "\"auto\"";
    for (const std::string& k : gemmKernelsSupported()) choices += ", \"" + k + "\"";
    throwRange(info.Env(), "a GEMM kernel this CPU supports (" + choices + ")", "kernel", "\"" + name + "\"");
  }
  return info.Env().Undefined();
}

// gemmProfile() -> {calls, seconds}: the packed float products so far.
Napi::Value GemmProfileValue(const Napi::CallbackInfo& info) {
  const GemmProfile p = gemmProfile();
  Napi::Object o = Napi::Object::New(info.Env());
  o["calls"] = static_cast<double>(p.calls);
  o["seconds"] = p.seconds;
  return o;
}

Napi::Value GemmKernels(const Napi::CallbackInfo& info) {
  const std::vector<std::string> names = gemmKernelsSupported();
  Napi::Array list = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) list[i] = names[i];
  return list;
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
  // Keep tensor-sized blocks (the ArrayBuffers of the TypeScript layer) in the
  // heap rather than in fresh mmaps: a training step allocates and frees many
  // of them, and each new mapping costs page faults on first touch.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
  exports["alignOffset"] = Napi::Function::New(env, AlignOffset, "alignOffset");
  exports["addressModulo"] = Napi::Function::New(env, AddressModulo, "addressModulo");
  exports["threadCount"] = Napi::Function::New(env, ThreadCount, "threadCount");
  exports["setThreadCount"] = Napi::Function::New(env, SetThreadCount, "setThreadCount");
  exports["setGemmKernel"] = Napi::Function::New(env, SetGemmKernel, "setGemmKernel");
  exports["gemmProfile"] = Napi::Function::New(env, GemmProfileValue, "gemmProfile");
  exports["gemmKernels"] = Napi::Function::New(env, GemmKernels, "gemmKernels");
  exports["buildInfo"] = Napi::Function::New(env, BuildInfo, "buildInfo");
  exports["cudaDevices"] = Napi::Function::New(env, CudaDevices, "cudaDevices");
  registerCuda(env, exports);
  registerOps(env, exports);
  return exports;
}

NODE_API_MODULE(hgad, Init)
