// Row-major general matrix product with a fused epilogue:
//   C = epilogue(beta * C + op(A) * op(B)),  epilogue(v) = relu?(v + bias[col])
// op(A) is (M, K): A itself (lda >= K) or, with transA, the transpose of a
// stored (K, M) matrix (lda >= M). op(B) is (K, N): B (ldb >= N) or, with
// transB, the transpose of a stored (N, K) matrix (ldb >= K). bias may be null
// (length N). beta = 0 never reads C, so C may hold garbage or NaN.
// The float overload is the optimised hot path (packed, cache-blocked, AVX2/FMA
// or AVX-512 chosen at run time, threaded); the double overload is the plain
// reference used for gradient checks. gemmReference<T> is the naive reference
// every optimised path is tested against.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stream.h"

namespace hgad {

struct GemmShape {
  bool transA = false, transB = false;
  int64_t M = 0, N = 0, K = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

void gemm(const GemmShape& s, const float* A, const float* B, float beta, float* C,
          const float* bias, bool relu);
void gemm(const GemmShape& s, const double* A, const double* B, double beta, double* C,
          const double* bias, bool relu);

template <typename T>
void gemmReference(const GemmShape& s, const T* A, const T* B, T beta, T* C, const T* bias,
                   bool relu) {
  for (int64_t i = 0; i < s.M; ++i) {
    for (int64_t j = 0; j < s.N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        T a = s.transA ? A[k * s.lda + i] : A[i * s.lda + k];
        T b = s.transB ? B[j * s.ldb + k] : B[k * s.ldb + j];
        acc += static_cast<double>(a) * static_cast<double>(b);
      }
      T v = static_cast<T>(acc);
      if (beta != T(0)) v += beta * C[i * s.ldc + j];
      if (bias) v += bias[j];
      if (relu && v < T(0)) v = T(0);
      C[i * s.ldc + j] = v;
    }
  }
}

// Name of the kernel the float path uses now ("avx512", "avx2", "portable").
const char* gemmKernelName();

// The kernels this CPU can run, best first (always ends with "portable").
std::vector<std::string> gemmKernelsSupported();

// Forces the float path onto one kernel ("auto": the best this CPU runs), for
// every thread of the process. Returns false, changing nothing, when the name
// is unknown or the CPU lacks the instructions.
bool setGemmKernel(const std::string& name);

// Packed float products run so far in this process and their total wall time
// (the small ones computed directly are not counted).
struct GemmProfile {
  int64_t calls;
  double seconds;
};
GemmProfile gemmProfile();

namespace cuda {
// The same product on float device buffers. The CPU has one implementation
// per float type (the kernel in force, setGemmKernel); the device has several,
// chosen per call by `backend` (the binding's trailing optional argument,
// which host calls check and ignore).
enum class GemmBackend {
  kAuto,        // cuBLAS when libcublas.so can be loaded at run time, else kTiled
  kTiled,       // the hand-written FP32 SGEMM (128x128x8 tiles, 8x8 per thread)
  kTiledTf32,   // hand-written, tensor cores in TF32 (10-bit mantissa inputs)
  kCublas,      // cuBLAS FP32 (throws if cuBLAS cannot be loaded)
  kCublasTf32,  // cuBLAS with TF32 tensor-op math
};
void gemm(const GemmShape& s, const float* A, const float* B, float beta, float* C,
          const float* bias, bool relu, Stream stream = nullptr,
          GemmBackend backend = GemmBackend::kAuto);
// Whether cuBLAS was found (loads it on the first call), and what kAuto uses.
bool cublasAvailable();
// cuBLAS handles held now: one per live stream that ran a cuBLAS GEMM.
size_t cublasHandleCount();
const char* gemmBackendName(GemmBackend backend);
}  // namespace cuda

}  // namespace hgad
