// Single-thread GEMM rates on the flow's shapes, by CPU time: every kernel
// this CPU runs and, when its library loads, OpenBLAS's cblas_sgemm,
// interleaved run by run. On a shared machine wall-clock rates swing with
// the other jobs' load; the CPU time of one thread counts only the cycles it
// ran (what is left is their share of the caches and memory), so these rates
// hold to a few percent where wall-clock ones do not.
// Build: g++ -O3 -fno-trapping-math -std=gnu++17 -pthread -I native/ops -I native/cpu
//          native/cpu/gemm.cc native/cpu/gemm_deep.cc native/cpu/gemm_select.cc native/cpu/threadpool.cc
//          native/test/gemm_cpu_bench.cc -ldl
//          -o /tmp/gemm_cpu_bench
// Usage: [OPENBLAS_CORETYPE=Haswell] [HGAD_BENCH_ONLY=dW] gemm_cpu_bench [runs] [libopenblas path]
// OPENBLAS_NUM_THREADS is set to 1 here (a waiting OpenBLAS thread spins, which
// CPU time would count); the default library is Debian's pthread OpenBLAS.
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "gemm.h"
#include "threadpool.h"

namespace {

// cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                       float*, int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

bool gWall = false;

double cpuSeconds() {
  timespec t;
  clock_gettime(gWall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Shape {
  const char* name;
  bool transA, transB;
  int64_t M, N, K;
  bool bias, relu;
};

// As bench/scenarios.ts gemmScenarios at N = 16384.
const Shape kShapes[] = {
    {"subnet1 fwd 16384x356.(712x356)^T", false, true, 16384, 712, 356, true, true},
    {"subnet2 fwd 16384x712.(200x712)^T", false, true, 16384, 200, 712, true, false},
    {"rotation 16384x200.(200x200)^T", false, true, 16384, 200, 200, true, false},
    {"subnet1 dX 16384x712.712x356", false, false, 16384, 356, 712, false, false},
    {"subnet1 dW (16384x712)^T.16384x356", true, false, 712, 356, 16384, false, false},
    {"subnet2 dX 16384x200.200x712", false, false, 16384, 712, 200, false, false},
    {"subnet2 dW (16384x200)^T.16384x712", true, false, 200, 712, 16384, false, false},
};

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(3, std::atoi(argv[1])) : 9;
  const char* libPath = argc > 2 ? argv[2] : "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0";
  // HGAD_BENCH_THREADS=n times n threads by wall clock instead.
  const int threads = std::getenv("HGAD_BENCH_THREADS") ? std::max(1, std::atoi(std::getenv("HGAD_BENCH_THREADS"))) : 1;
  const bool wall = threads > 1;
  setenv("OPENBLAS_NUM_THREADS", std::to_string(threads).c_str(), 1);
  hgad::setThreadCount(threads);
  Sgemm sgemm = nullptr;
  if (void* lib = dlopen(libPath, RTLD_NOW)) sgemm = reinterpret_cast<Sgemm>(dlsym(lib, "cblas_sgemm"));
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  gWall = wall;
  std::printf("%d thread(s), median of %d interleaved runs, GFLOP/s per %s second; OpenBLAS: %s%s%s\n", threads, runs,
              wall ? "wall-clock" : "CPU",
              sgemm ? libPath : "absent (no cblas_sgemm in ", sgemm ? "" : libPath, sgemm ? "" : ")");
  if (sgemm) std::printf("OpenBLAS core: %s\n", core ? core : "its own choice (OPENBLAS_CORETYPE unset)");
  const std::vector<std::string> kernels = hgad::gemmKernelsSupported();
  std::printf("%-36s", "shape");
  for (const std::string& k : kernels) std::printf(" %9s", k.c_str());
  if (sgemm) std::printf(" %9s", "OpenBLAS");
  std::printf("\n");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  // HGAD_BENCH_ONLY=text keeps the shapes whose name contains it.
  const char* only = std::getenv("HGAD_BENCH_ONLY");
  for (const Shape& sh : kShapes) {
    if (only && !std::strstr(sh.name, only)) continue;
    hgad::GemmShape s;
    s.transA = sh.transA;
    s.transB = sh.transB;
    s.M = sh.M;
    s.N = sh.N;
    s.K = sh.K;
    s.lda = sh.transA ? sh.M : sh.K;
    s.ldb = sh.transB ? sh.K : sh.N;
    s.ldc = sh.N;
    std::vector<float> A(static_cast<size_t>(sh.M * sh.K)), B(static_cast<size_t>(sh.K * sh.N));
    std::vector<float> C(static_cast<size_t>(sh.M * sh.N)), bias(static_cast<size_t>(sh.N));
    for (float& x : A) x = dist(rng);
    for (float& x : B) x = dist(rng);
    for (float& x : bias) x = dist(rng);
    const size_t sides = kernels.size() + (sgemm ? 1 : 0);
    std::vector<std::vector<double>> secs(sides);
    for (int r = -1; r < runs; ++r) {
      for (size_t k = 0; k < sides; ++k) {
        const double t0 = cpuSeconds();
        if (k < kernels.size()) {
          hgad::setGemmKernel(kernels[k]);
          hgad::gemm(s, A.data(), B.data(), 0.0f, C.data(), sh.bias ? bias.data() : nullptr, sh.relu);
        } else {
          sgemm(kRowMajor, sh.transA ? kTrans : kNoTrans, sh.transB ? kTrans : kNoTrans, static_cast<int>(sh.M),
                static_cast<int>(sh.N), static_cast<int>(sh.K), 1.0f, A.data(), static_cast<int>(s.lda), B.data(),
                static_cast<int>(s.ldb), 0.0f, C.data(), static_cast<int>(s.ldc));
        }
        if (r >= 0) secs[k].push_back(cpuSeconds() - t0);
      }
    }
    std::printf("%-36s", sh.name);
    for (std::vector<double>& t : secs) {
      std::sort(t.begin(), t.end());
      std::printf(" %9.1f", 2.0 * sh.M * sh.N * sh.K / t[t.size() / 2] * 1e-9);
    }
    std::printf("\n");
  }
  hgad::setGemmKernel("auto");
  return 0;
}
