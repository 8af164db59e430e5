// cuBLAS, when present, loaded at run time with dlopen so that the build
// needs no cuBLAS headers or libraries and the addon loads without them.
// Only the C entry points used are declared here. Row-major C = A B is the
// column-major C^T = B^T A^T, so the operands are passed swapped:
//   cublasSgemm(opB, opA, n = N, m = M, k = K, B, ldb, A, lda, C, ldc).
// FLOPs 2 M N K; FP32 math by default (CUBLAS_DEFAULT_MATH), TF32 tensor-op
// math only when asked. The handles (one per (device, stream), used under a
// lock, destroyed with their stream) are kept by a HandleCache
// (handle_cache.h), so GEMMs of two models running at once on their own
// streams cannot race on a handle's workspace.
#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "gemm_kernels.cuh"
#include "handle_cache.h"

namespace hgad {
namespace cuda {
namespace detail {
namespace {

using Handle = void*;
using SetMathModeFn = int (*)(Handle, int);
using SgemmFn = int (*)(Handle, int, int, int, int, int, const float*, const float*, int,
                        const float*, int, const float*, float*, int);

constexpr int kOpN = 0, kOpT = 1;                // cublasOperation_t
constexpr int kDefaultMath = 0, kTf32Math = 3;   // cublasMath_t

struct Cublas {
  bool loaded = false;
  HandleApi api;
  SetMathModeFn setMathMode = nullptr;
  SgemmFn sgemm = nullptr;
  std::unique_ptr<HandleCache> handles;  // set once the entry points are loaded
};

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
      l->api.create = reinterpret_cast<decltype(l->api.create)>(dlsym(h, "cublasCreate_v2"));
      l->api.destroy = reinterpret_cast<decltype(l->api.destroy)>(dlsym(h, "cublasDestroy_v2"));
      l->api.setStream = reinterpret_cast<decltype(l->api.setStream)>(dlsym(h, "cublasSetStream_v2"));
      l->setMathMode = reinterpret_cast<SetMathModeFn>(dlsym(h, "cublasSetMathMode"));
      l->sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cublasSgemm_v2"));
      if (l->api.create && l->api.destroy && l->api.setStream && l->setMathMode && l->sgemm) {
        l->handles = std::make_unique<HandleCache>(cudaRuntime(), l->api);
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
  if (l && l->loaded) l->handles->releaseStream(stream);
}

void cublasGemmRowMajor(const GemmShape& s, const float* A, const float* B, float beta, float* C,
                        cudaStream_t stream, bool tf32) {
  Cublas& l = lib();
  if (!l.loaded) throw CudaError("gemm: cuBLAS was requested but libcublas could not be loaded");
  int dev = 0;
  HGAD_CUDA_CHECK(cudaGetDevice(&dev), "gemm(cublas)", "");
  int st = 0;
  const char* call = nullptr;
  const HandleError e = l.handles->with(dev, stream, [&](Handle h) {
    st = l.setMathMode(h, tf32 ? kTf32Math : kDefaultMath);
    if (st != 0) {
      call = "cublasSetMathMode";
      return;
    }
    const float one = 1.0f;
    st = l.sgemm(h, s.transB ? kOpT : kOpN, s.transA ? kOpT : kOpN, static_cast<int>(s.N),
                 static_cast<int>(s.M), static_cast<int>(s.K), &one, B, static_cast<int>(s.ldb), A,
                 static_cast<int>(s.lda), &beta, C, static_cast<int>(s.ldc));
    if (st != 0) call = "cublasSgemm_v2";
  });
  if (e.status != 0) throwCublas(e.status, e.call, s);
  if (st != 0) throwCublas(st, call, s);
}

}  // namespace detail

size_t cublasHandleCount() {
  detail::Cublas* l = detail::loadedLib.load();
  return l && l->loaded ? l->handles->count() : 0;
}

}  // namespace cuda
}  // namespace hgad
