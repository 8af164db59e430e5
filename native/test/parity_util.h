// Helpers for cuda_parity_test.cu (host-only C++; no CUDA types): device
// buffers on the caching allocator, random fills, NaN poisoning, element-
// wise comparison with |got - ref| <= atol + rtol |ref| and one result line
// per case, and a threaded float64 GEMM reference for the large shapes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "device_api.h"
#include "gemm.h"

namespace parity {

namespace cu = hgad::cuda;

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(std::max<size_t>(n, 1)) {
    p_ = static_cast<T*>(cu::deviceAlloc(n_ * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& h) : DeviceBuffer(h.size()) { upload(h); }
  ~DeviceBuffer() { cu::deviceFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return p_; }
  void upload(const std::vector<T>& h) {
    cu::copyHostToDevice(p_, h.data(), h.size() * sizeof(T));
    cu::streamSynchronize(nullptr);
  }
  std::vector<T> download(size_t n) const {
    std::vector<T> h(n);
    cu::copyDeviceToHost(h.data(), p_, n * sizeof(T));
    cu::streamSynchronize(nullptr);
    return h;
  }
  // All bits set: a NaN in float, so an element the kernel skips fails the check.
  void poison() { cu::fillBytes(p_, 0xFF, n_ * sizeof(T)); }

 private:
  size_t n_;
  T* p_ = nullptr;
};

inline std::vector<float> randomFloats(size_t n, std::mt19937_64& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<double> toDouble(const std::vector<float>& v) { return {v.begin(), v.end()}; }

struct Tally {
  int passed = 0, failed = 0;
};

// Compares every element; atol is absolute, or relative to max|ref| when scaleAtol.
inline bool check(Tally& t, const std::string& name, const std::vector<float>& got,
                  const std::vector<double>& ref, double atol, double rtol, bool scaleAtol = false) {
  double maxRef = 0.0;
  for (double r : ref) maxRef = std::max(maxRef, std::fabs(r));
  const double a = scaleAtol ? atol * std::max(maxRef, 1e-30) : atol;
  size_t bad = 0, firstBad = 0;
  double maxErr = 0.0;
  bool sizeOk = got.size() == ref.size();
  for (size_t i = 0; sizeOk && i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
    const double err = std::fabs(g - r);
    const bool ok = (std::isnan(r) && std::isnan(g)) || (std::isinf(r) && g == r) ||
                    (std::isfinite(g) && err <= a + rtol * std::fabs(r));
    if (std::isfinite(err)) maxErr = std::max(maxErr, err);
    if (!ok && bad++ == 0) firstBad = i;
  }
  const bool pass = sizeOk && bad == 0;
  (pass ? t.passed : t.failed)++;
  std::printf("%s %-58s n=%-9zu maxErr=%.3g atol=%.3g rtol=%.1g", pass ? "PASS" : "FAIL",
              name.c_str(), ref.size(), maxErr, a, rtol);
  if (!sizeOk) std::printf("  size %zu != %zu", got.size(), ref.size());
  if (bad)
    std::printf("  %zu bad, first [%zu] got %.9g ref %.9g", bad, firstBad,
                static_cast<double>(got[firstBad]), ref[firstBad]);
  std::printf("\n");
  std::fflush(stdout);
  return pass;
}

inline void record(Tally& t, const std::string& name, bool ok, const std::string& detail) {
  (ok ? t.passed : t.failed)++;
  std::printf("%s %-58s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  std::fflush(stdout);
}

// Float64 reference GEMM, the same epilogue order as hgad::gemmReference,
// threaded over rows; op(B) is transposed first so both reads are contiguous.
inline void gemmReferenceThreaded(const hgad::GemmShape& s, const std::vector<double>& A,
                                  const std::vector<double>& B, double beta, std::vector<double>& C,
                                  const double* bias, bool relu) {
  std::vector<double> bt(static_cast<size_t>(s.N * s.K)), at(static_cast<size_t>(s.M * s.K));
  for (int64_t j = 0; j < s.N; ++j)
    for (int64_t k = 0; k < s.K; ++k) bt[j * s.K + k] = s.transB ? B[j * s.ldb + k] : B[k * s.ldb + j];
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t k = 0; k < s.K; ++k) at[i * s.K + k] = s.transA ? A[k * s.lda + i] : A[i * s.lda + k];
  const int threads = std::max(1u, std::min(32u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < s.M; i += threads)
        for (int64_t j = 0; j < s.N; ++j) {
          const double* a = &at[i * s.K];
          const double* b = &bt[j * s.K];
          double acc = 0;
          for (int64_t k = 0; k < s.K; ++k) acc += a[k] * b[k];
          double v = acc;
          double& c = C[i * s.ldc + j];
          if (beta != 0) v += beta * c;
          if (bias) v += bias[j];
          if (relu && v < 0) v = 0;
          c = v;
        }
    });
  for (auto& th : pool) th.join();
}

}  // namespace parity
