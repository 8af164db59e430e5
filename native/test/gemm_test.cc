// Standalone check of the float GEMM against gemmReference<float> (which
// accumulates in double), followed by a benchmark on the flow's layer shapes.
// Build: g++ -O3 -std=c++17 -pthread -I native/ops -I native/cpu native/cpu/gemm.cc
//          native/cpu/gemm_deep.cc native/cpu/gemm_select.cc native/cpu/threadpool.cc native/test/gemm_test.cc
//          -o /tmp/gemm_test
// Usage: gemm_test [--no-bench] [--bench-only]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gemm.h"
#include "threadpool.h"

using hgad::GemmShape;

namespace {

struct Case {
  const char* name;
  bool transA, transB;
  int64_t M, N, K;
  int64_t pad;  // extra elements per stored row (ld = row length + pad)
  float beta;
  bool bias, relu;
  int64_t checkRows;  // 0: check every row; else that many rows spread over M
};

std::vector<float> randomVec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

GemmShape makeShape(bool tA, bool tB, int64_t M, int64_t N, int64_t K, int64_t pad) {
  GemmShape s;
  s.transA = tA;
  s.transB = tB;
  s.M = M;
  s.N = N;
  s.K = K;
  s.lda = (tA ? M : K) + pad;
  s.ldb = (tB ? K : N) + pad;
  s.ldc = N + pad;
  return s;
}

bool runCase(const Case& c, std::mt19937& rng) {
  const GemmShape s = makeShape(c.transA, c.transB, c.M, c.N, c.K, c.pad);
  const int64_t aRows = c.transA ? c.K : c.M, bRows = c.transB ? c.N : c.K;
  std::vector<float> A = randomVec(static_cast<size_t>(std::max<int64_t>(1, aRows * s.lda)), rng);
  std::vector<float> B = randomVec(static_cast<size_t>(std::max<int64_t>(1, bRows * s.ldb)), rng);
  std::vector<float> bias = randomVec(static_cast<size_t>(std::max<int64_t>(1, c.N)), rng);
  std::vector<float> C0 = randomVec(static_cast<size_t>(std::max<int64_t>(1, c.M * s.ldc)), rng);
  if (c.beta == 0.0f) std::fill(C0.begin(), C0.end(), std::numeric_limits<float>::quiet_NaN());
  // Padding between rows must come back untouched.
  const float sentinel = 12345.0f;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < s.ldc; ++j) C0[i * s.ldc + j] = sentinel;

  std::vector<float> C = C0;
  hgad::gemm(s, A.data(), B.data(), c.beta, C.data(), c.bias ? bias.data() : nullptr, c.relu);

  std::vector<int64_t> rows;
  if (c.checkRows == 0 || c.checkRows >= c.M) {
    for (int64_t i = 0; i < c.M; ++i) rows.push_back(i);
  } else {
    for (int64_t t = 0; t < c.checkRows; ++t) rows.push_back(t * (c.M - 1) / (c.checkRows - 1));
  }

  const double scale = std::sqrt(static_cast<double>(std::max<int64_t>(1, c.K)));
  double maxErr = 0.0;
  int64_t bad = 0;
  std::vector<float> ref(static_cast<size_t>(s.ldc));
  for (int64_t i : rows) {
    GemmShape r = s;
    r.M = 1;
    const float* Ai = c.transA ? A.data() + i : A.data() + i * s.lda;
    std::copy(C0.begin() + i * s.ldc, C0.begin() + (i + 1) * s.ldc, ref.begin());
    hgad::gemmReference<float>(r, Ai, B.data(), c.beta, ref.data(), c.bias ? bias.data() : nullptr,
                               c.relu);
    for (int64_t j = 0; j < s.ldc; ++j) {
      const double got = C[i * s.ldc + j];
      if (j >= c.N) {
        if (got != sentinel) ++bad;
        continue;
      }
      const double want = ref[j];
      const double err = std::fabs(got - want);
      const double tol = (1e-4 + 1e-4 * std::fabs(want)) * scale;
      if (!(err <= tol)) ++bad;
      if (err > maxErr || std::isnan(err)) maxErr = err;
    }
  }
  std::printf("%-4s %-10s tA=%d tB=%d M=%-5lld N=%-5lld K=%-5lld ld+%lld beta=%g bias=%d relu=%d"
              "  max|err|=%.2e\n",
              bad ? "FAIL" : "ok", c.name, c.transA, c.transB, static_cast<long long>(c.M),
              static_cast<long long>(c.N), static_cast<long long>(c.K),
              static_cast<long long>(c.pad), c.beta, c.bias, c.relu, maxErr);
  return bad == 0;
}

bool checkDouble() {
  // The double path is the reference itself; check its beta = 0 contract.
  GemmShape s = makeShape(false, false, 3, 4, 5, 0);
  std::vector<double> A(15, 1.0), B(20, 2.0), C(12, std::numeric_limits<double>::quiet_NaN());
  hgad::gemm(s, A.data(), B.data(), 0.0, C.data(), nullptr, false);
  bool ok = std::all_of(C.begin(), C.end(), [](double v) { return v == 10.0; });
  std::printf("%-4s double     beta=0 over NaN\n", ok ? "ok" : "FAIL");
  return ok;
}

struct BenchShape {
  const char* name;
  bool transA, transB;
  int64_t M, N, K;
  float beta;
  bool bias;
};

const BenchShape kBench[] = {
    {"fwd 356->712", false, true, 16384, 712, 356, 0.0f, true},
    {"fwd 712->200", false, true, 16384, 200, 712, 0.0f, true},
    {"fwd 200->200", false, true, 16384, 200, 200, 0.0f, true},
    {"dX = dY W", false, false, 16384, 356, 712, 0.0f, false},
    {"dW += dY^T X 712x356", true, false, 712, 356, 16384, 1.0f, false},
    {"dW += dY^T X 200x712", true, false, 200, 712, 16384, 1.0f, false},
};

void bench(std::mt19937& rng) {
  std::printf("\nbenchmark: kernel=%s threads=%d (median of 9 after 2 warm-up runs)\n",
              hgad::gemmKernelName(), hgad::threadCount());
  for (const BenchShape& b : kBench) {
    const GemmShape s = makeShape(b.transA, b.transB, b.M, b.N, b.K, 0);
    std::vector<float> A = randomVec(static_cast<size_t>(b.M * b.K), rng);
    std::vector<float> B = randomVec(static_cast<size_t>(b.K * b.N), rng);
    std::vector<float> C = randomVec(static_cast<size_t>(b.M * b.N), rng);
    std::vector<float> bias = randomVec(static_cast<size_t>(b.N), rng);
    std::vector<double> secs;
    for (int it = 0; it < 11; ++it) {
      const auto t0 = std::chrono::steady_clock::now();
      hgad::gemm(s, A.data(), B.data(), b.beta, C.data(), b.bias ? bias.data() : nullptr, false);
      const auto t1 = std::chrono::steady_clock::now();
      if (it >= 2) secs.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    std::sort(secs.begin(), secs.end());
    const double med = secs[secs.size() / 2];
    std::printf("  %-22s tA=%d tB=%d M=%-5lld N=%-4lld K=%-5lld %7.2f ms  %6.1f GFLOP/s\n", b.name,
                b.transA, b.transB, static_cast<long long>(b.M), static_cast<long long>(b.N),
                static_cast<long long>(b.K), med * 1e3, 2.0 * b.M * b.N * b.K / med * 1e-9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool doTests = true, doBench = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-bench") == 0) doBench = false;
    if (std::strcmp(argv[i], "--bench-only") == 0) doTests = false;
  }
  std::mt19937 rng(1234);
  int failures = 0, total = 0;
  // Every kernel this CPU runs is checked (an AVX-512 machine checks its AVX2
  // and portable kernels too); the benchmark runs on the default one.
  for (const std::string& kernel : hgad::gemmKernelsSupported()) {
    if (!doTests) break;
    hgad::setGemmKernel(kernel);
    std::printf("gemm kernel: %s, threads: %d\n", hgad::gemmKernelName(), hgad::threadCount());
    struct Dims {
      const char* name;
      int64_t M, N, K, pad;
    };
    const Dims small[] = {{"1x1x1", 1, 1, 1, 0},       {"7x5x3", 7, 5, 3, 0},
                          {"13x37x19", 13, 37, 19, 3}, {"K=0", 9, 11, 0, 2},
                          {"M=0", 0, 5, 4, 0},         {"N=0", 5, 0, 4, 0},
                          {"edges", 29, 45, 67, 1},    {"packed", 100, 83, 300, 5},
                          {"kblocks", 61, 150, 700, 2}};
    for (const Dims& d : small)
      for (int t = 0; t < 4; ++t)
        for (float beta : {0.0f, 1.0f})
          for (int variant = 0; variant < 4; ++variant) {
            const Case c{d.name, (t & 2) != 0, (t & 1) != 0, d.M, d.N, d.K, d.pad,
                         beta, (variant & 1) != 0, (variant & 2) != 0, 0};
            ++total;
            if (!runCase(c, rng)) ++failures;
          }
    // Beta other than 0/1 and the full epilogue on a threaded size.
    for (int t = 0; t < 4; ++t) {
      const Case c{"beta=0.5", (t & 2) != 0, (t & 1) != 0, 300, 170, 260, 7, 0.5f, true, true, 0};
      ++total;
      if (!runCase(c, rng)) ++failures;
    }
    for (const BenchShape& b : kBench)
      for (int variant = 0; variant < 2; ++variant) {
        const Case c{b.name, b.transA, b.transB, b.M, b.N, b.K, 0,
                     b.beta, variant == 1 || b.bias, variant == 1, 48};
        ++total;
        if (!runCase(c, rng)) ++failures;
      }
  }
  hgad::setGemmKernel("auto");
  if (doTests) {
    ++total;
    if (!checkDouble()) ++failures;
    std::printf("\n%d/%d cases passed\n", total - failures, total);
  }
  if (doBench) bench(rng);
  return failures == 0 ? 0 : 1;
}
