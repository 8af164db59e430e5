// Part of cuda_parity_test.cu (included inside its anonymous namespace): the
// timing section. Median of repeated runs (cudaEvent around each run, after
// warm-up), reported as GFLOP/s for the GEMMs (2 M N K) and GB/s for the
// memory-bound kernels (the bytes each must move, stated per kernel), next
// to a measured device-to-device cudaMemcpy bandwidth (read + write bytes).

struct Timed {
  std::string kind, name;
  double ms, rate;  // GFLOP/s or GB/s
  double work;      // FLOPs or bytes
};

template <typename F>
double medianMs(F fn, int reps = 15) {
  for (int i = 0; i < 3; ++i) fn();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a);
    fn();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float x = 0;
    cudaEventElapsedTime(&x, a, b);
    ms.push_back(x);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::string jsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

int runTiming(uint64_t seed, int passed, int failed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::vector<Timed> out;
  auto report = [&](const std::string& kind, const std::string& name, double ms, double work) {
    const double rate = work / (ms * 1e-3) / 1e9;
    out.push_back({kind, name, ms, rate, work});
    std::printf("TIME %-6s %-52s %9.4f ms  %9.1f %s\n", kind.c_str(), name.c_str(), ms, rate,
                kind == "gemm" || kind == "flops" ? "GFLOP/s" : "GB/s");
    std::fflush(stdout);
  };

  // Device-to-device copy of 1 GiB: the memory ceiling for the GB/s figures.
  const size_t big = size_t(1) << 28;  // floats
  DeviceBuffer<float> b0(big), b1(big);
  cu::fillBytes(b0.get(), 0, big * 4);
  const double copyMs = medianMs([&] { cu::copyDeviceToDevice(b1.get(), b0.get(), big * 4); }, 10);
  report("copy", "cudaMemcpy D2D 1 GiB (read + write)", copyMs, 2.0 * big * 4);
  const double copyGBs = out.back().rate;

  // GEMMs: the flow's shapes, every available backend.
  struct G { const char* name; bool tA, tB; int64_t M, N, K; bool bias, relu; } gemms[] = {
      {"layer1 fwd 16384x712x356 bias relu", false, false, 16384, 712, 356, true, true},
      {"layer2 fwd 16384x200x712 bias", false, false, 16384, 200, 712, true, false},
      {"layer2 dX NT 16384x712x200", false, true, 16384, 712, 200, false, false},
      {"layer1 dW TN 356x712x16384", true, false, 356, 712, 16384, false, false},
      {"square 4096x4096x4096", false, false, 4096, 4096, 4096, false, false},
  };
  std::vector<cu::GemmBackend> backends = {cu::GemmBackend::kTiled, cu::GemmBackend::kTiledTf32};
  if (cu::cublasAvailable()) {
    backends.push_back(cu::GemmBackend::kCublas);
    backends.push_back(cu::GemmBackend::kCublasTf32);
  }
  for (const auto& g : gemms) {
    hgad::GemmShape s;
    s.transA = g.tA; s.transB = g.tB; s.M = g.M; s.N = g.N; s.K = g.K;
    s.lda = g.tA ? g.M : g.K; s.ldb = g.tB ? g.K : g.N; s.ldc = g.N;
    DeviceBuffer<float> A(randomFloats(g.M * g.K, rng)), B(randomFloats(g.K * g.N, rng)), C(g.M * g.N),
        bias(randomFloats(g.N, rng));
    for (auto be : backends) {
      const double ms = medianMs([&] {
        cu::gemm(s, A.get(), B.get(), 0.0f, C.get(), g.bias ? bias.get() : nullptr, g.relu, nullptr, be);
      });
      report("gemm", std::string(g.name) + " [" + cu::gemmBackendName(be) + "]", ms, 2.0 * g.M * g.N * g.K);
    }
  }

  // Memory-bound kernels on data well beyond the 50 MB L2.
  const int64_t n = int64_t(1) << 26;
  DeviceBuffer<float> x(n), y(n), z(n);
  cu::fillBytes(x.get(), 0, n * 4);
  cu::fillBytes(y.get(), 0, n * 4);
  report("memory", "axpy n=2^26 (12 B/elem)", medianMs([&] { cu::axpy(n, 0.5f, x.get(), y.get()); }), 12.0 * n);
  report("memory", "adamStep n=2^26/2 (28 B/elem)",
         medianMs([&] { cu::adamStep(n / 2, x.get(), y.get(), z.get(), z.get() + n / 2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1); }),
         28.0 * (n / 2));
  {
    const int64_t N = 262144, C = 200, C2 = 100;
    DeviceBuffer<float> a(N * 2 * C2), da(N * 2 * C2), ld(N), ldo(N), k(std::vector<float>{0.1f});
    cu::fillBytes(a.get(), 0, N * 2 * C2 * 4);
    const double fwdBytes = 4.0 * (2 * N * C + N * 2 * C2 + 2 * N);
    report("memory", "couplingForward N=262144 C=200",
           medianMs([&] { cu::couplingForward(N, C, x.get(), a.get(), 2.0f, ld.get(), k.get(), y.get(), ldo.get()); }), fwdBytes);
    const double bwdBytes = 4.0 * (3 * N * C + 2 * N * 2 * C2 + N);
    report("memory", "couplingBackward N=262144 C=200",
           medianMs([&] { cu::couplingBackward(N, C, x.get(), a.get(), 2.0f, y.get(), ld.get(), z.get(), da.get()); }), bwdBytes);
    report("memory", "columnSum N=262144 M=200",
           medianMs([&] { cu::columnSum(N, C, x.get(), 0.0f, ld.get()); }), 4.0 * N * C);
    report("memory", "logSoftmaxRows N=262144 M=200",
           medianMs([&] { cu::logSoftmaxRows(N, C, x.get(), y.get()); }), 8.0 * N * C);
    const int64_t Np = N / 2;  // out (Np, 356) must fit the 2^26-float buffers
    report("memory", "packColumns N=131072 W0=100 P=256",
           medianMs([&] { cu::packColumns(Np, x.get(), C, 100, 100, z.get(), 256, y.get()); }), 8.0 * Np * 356);
  }
  {
    // Mixture head at the paper's shape: compute-bound in double.
    const int64_t N = 16384, C = 200, K = 15, M = 10;
    const hgad::MixtureShape s{N, C, K, M};
    DeviceBuffer<float> zz(randomFloats(N * C, rng)), cent(randomFloats(K * M * C, rng)), lpi(K), lpa(K * M),
        ld(N), o1(N), o2(N), o3(N), gz(N * C), gl(N), gc(K * M * C), gpi(K), gpa(K * M);
    cu::fillBytes(lpi.get(), 0, K * 4);
    cu::fillBytes(lpa.get(), 0, K * M * 4);
    cu::fillBytes(ld.get(), 0, N * 4);
    std::vector<int32_t> lab(N);
    for (int64_t i = 0; i < N; ++i) lab[i] = static_cast<int32_t>(i % K);
    DeviceBuffer<int32_t> labels(lab);
    const double flops = 3.0 * N * C * (K + M - 1);
    report("flops", "mixtureHeadForward N=16384 C=200 K=15 M=10 (fp64)",
           medianMs([&] { cu::mixtureHeadForward(s, zz.get(), ld.get(), labels.get(), nullptr, cent.get(), lpi.get(),
                                                 lpa.get(), o1.get(), o2.get(), nullptr, o3.get(), nullptr); }), flops);
    const hgad::MixtureWeights<float> w{1e-4f, 1e-4f, 0.0f, 1e-4f, 1e-4f};
    report("flops", "mixtureHeadBackward N=16384 C=200 K=15 M=10 (fp64)",
           medianMs([&] { cu::mixtureHeadBackward(s, zz.get(), ld.get(), labels.get(), nullptr, cent.get(), lpi.get(),
                                                  lpa.get(), w, gz.get(), gl.get(), gc.get(), gpi.get(), gpa.get()); }),
           3.0 * flops);
  }
  cu::streamSynchronize(nullptr);

  if (const char* path = std::getenv("HGAD_GPU_JSON")) {
    FILE* f = std::fopen(path, "w");
    if (!f) {
      std::printf("FAIL cannot write %s\n", path);
      return 1;
    }
    const auto dev = hgad::cudaDevices(nullptr);
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"seed\": %llu,\n  \"parityPassed\": %d,\n  \"parityFailed\": %d,\n",
                 dev.empty() ? "" : jsonEscape(dev[0].name).c_str(), (unsigned long long)seed, passed, failed);
    std::fprintf(f, "  \"cublas\": %s,\n  \"copyGBs\": %.2f,\n  \"results\": [\n", cu::cublasAvailable() ? "true" : "false",
                 copyGBs);
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& r = out[i];
      const bool isBytes = r.kind == "memory" || r.kind == "copy";
      std::fprintf(f, "    {\"kind\": \"%s\", \"name\": \"%s\", \"medianMs\": %.5f, \"%s\": %.2f%s}%s\n", r.kind.c_str(),
                   jsonEscape(r.name).c_str(), r.ms, isBytes ? "GBs" : "GFLOPs", r.rate,
                   isBytes ? (", \"fractionOfCopy\": " + std::to_string(r.rate / copyGBs)).c_str() : "",
                   i + 1 < out.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
    std::printf("timing JSON written to %s\n", path);
  }
  return 0;
}
