// cuBLAS, when present, loaded at run time with dlopen so that the build
// needs no cuBLAS headers or libraries and the addon loads without them.
// Only the C entry points used are declared here. Row-major C = A B is the
// column-major C^T = B^T A^T, so the operands are passed swapped:
//   cublasSgemm(opB, opA, n = N, m = M, k = K, B, ldb, A, lda, C, ldc).
// FLOPs 2 M N K; FP32 math by default (CUBLAS_DEFAULT_MATH), TF32 tensor-op
// math only when asked. One handle per (device, stream), created on first use
// and guarded by a mutex (a handle's math mode is per-call state): a handle's
// workspace is then only ever used by one stream, so GEMMs of two models
// running at once on their own streams cannot race on it. A stream's handle
// is destroyed with the stream (cublasReleaseStream, called by streamDestroy
// before the stream goes), so a new stream at a reused address never inherits
// a stale handle and eviction never meets a handle whose stream is gone. At
// most kMaxHandles are kept; the least recently used is destroyed beyond that
// (cublasDestroy waits for the device first).
#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <mutex>
#include <utility>

#include "gemm_kernels.cuh"

namespace hgad {
namespace cuda {
namespace detail {
namespace {

using Handle = void*;
using CreateFn = int (*)(Handle*);
using DestroyFn = int (*)(Handle);
using SetStreamFn = int (*)(Handle, cudaStream_t);
using SetMathModeFn = int (*)(Handle, int);
using SgemmFn = int (*)(Handle, int, int, int, int, int, const float*, const float*, int,
                        const float*, int, const float*, float*, int);

constexpr int kOpN = 0, kOpT = 1;                // cublasOperation_t
constexpr int kDefaultMath = 0, kTf32Math = 3;   // cublasMath_t

struct Cublas {
  bool loaded = false;
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  SetStreamFn setStream = nullptr;
  SetMathModeFn setMathMode = nullptr;
  SgemmFn sgemm = nullptr;
  std::mutex mu;
  // (device, stream) -> handle, most recently used first
  std::list<std::pair<std::pair<int, cudaStream_t>, Handle>> handles;
};

constexpr size_t kMaxHandles = 32;

// Set once lib() has run: releasing a stream's handle must not load cuBLAS.
std::atomic<Cublas*> loadedLib{nullptr};

Cublas& lib() {
  static Cublas* c = [] {
    Cublas* l = new Cublas();
    // HGAD_CUBLAS_PATH first, then the loader's search path, then the toolkit.
    const char* names[] = {std::getenv("HGAD_CUBLAS_PATH"), "libcublas.so.13", "libcublas.so.12",
                           "libcublas.so", "/usr/local/cuda/lib64/libcublas.so.13",
                           "/usr/local/cuda/lib64/libcublas.so.12"};
    for (const char* name : names) {
      if (!name || !*name) continue;
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      l->create = reinterpret_cast<CreateFn>(dlsym(h, "cublasCreate_v2"));
      l->destroy = reinterpret_cast<DestroyFn>(dlsym(h, "cublasDestroy_v2"));
      l->setStream = reinterpret_cast<SetStreamFn>(dlsym(h, "cublasSetStream_v2"));
      l->setMathMode = reinterpret_cast<SetMathModeFn>(dlsym(h, "cublasSetMathMode"));
      l->sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cublasSgemm_v2"));
      if (l->create && l->destroy && l->setStream && l->setMathMode && l->sgemm) {
        l->loaded = true;
        break;
      }
      dlclose(h);
    }
    loadedLib.store(l);
    return l;
  }();
  return *c;
}

// Destroys a handle with its device current.
void destroyOn(Cublas& l, int device, Handle h) {
  int current = 0;
  cudaGetDevice(&current);
  if (current != device) cudaSetDevice(device);
  l.destroy(h);
  if (current != device) cudaSetDevice(current);
  cudaGetLastError();
}

[[noreturn]] void throwCublas(int status, const char* call, const GemmShape& s) {
  throw CudaError(std::string("cuBLAS error in gemm: ") + call + " returned status " +
                  std::to_string(status) + " (" +
                  sizes("M", s.M, "N", s.N, "K", s.K, "transA", s.transA, "transB", s.transB,
                        "lda", s.lda, "ldb", s.ldb, "ldc", s.ldc) +
                  ")");
}

}  // namespace

bool cublasLoad() { return lib().loaded; }

void cublasReleaseStream(cudaStream_t stream) {
  Cublas* l = loadedLib.load();
  if (!l || !l->loaded) return;
  std::lock_guard<std::mutex> lock(l->mu);
  for (auto it = l->handles.begin(); it != l->handles.end();) {
    if (it->first.second == stream) {
      destroyOn(*l, it->first.first, it->second);
      it = l->handles.erase(it);
    } else {
      ++it;
    }
  }
}

void cublasGemmRowMajor(const GemmShape& s, const float* A, const float* B, float beta, float* C,
                        cudaStream_t stream, bool tf32) {
  Cublas& l = lib();
  int dev = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&dev), "gemm(cublas)", "");
  std::lock_guard<std::mutex> lock(l.mu);
  const std::pair<int, cudaStream_t> key(dev, stream);
  Handle h = nullptr;
  for (auto it = l.handles.begin(); it != l.handles.end(); ++it) {
    if (it->first == key) {
      h = it->second;
      l.handles.splice(l.handles.begin(), l.handles, it);
      break;
    }
  }
  if (!h) {
    const int st = l.create(&h);
    if (st != 0) throwCublas(st, "cublasCreate_v2", s);
    const int sst = l.setStream(h, stream);
    if (sst != 0) {
      l.destroy(h);
      throwCublas(sst, "cublasSetStream_v2", s);
    }
    l.handles.emplace_front(key, h);
    if (l.handles.size() > kMaxHandles) {
      // The least recently used handle, destroyed with its own device current.
      const auto& last = l.handles.back();
      destroyOn(l, last.first.first, last.second);
      l.handles.pop_back();
    }
  }
  int st = 0;
  st = l.setMathMode(h, tf32 ? kTf32Math : kDefaultMath);
  if (st != 0) throwCublas(st, "cublasSetMathMode", s);
  const float one = 1.0f;
  st = l.sgemm(h, s.transB ? kOpT : kOpN, s.transA ? kOpT : kOpN, static_cast<int>(s.N),
               static_cast<int>(s.M), static_cast<int>(s.K), &one, B, static_cast<int>(s.ldb), A,
               static_cast<int>(s.lda), &beta, C, static_cast<int>(s.ldc));
  if (st != 0) throwCublas(st, "cublasSgemm_v2", s);
}

}  // namespace detail

size_t cublasHandleCount() {
  detail::Cublas* l = detail::loadedLib.load();
  if (!l) return 0;
  std::lock_guard<std::mutex> lock(l->mu);
  return l->handles.size();
}

}  // namespace cuda
}  // namespace hgad
