// Part of cuda_parity_test.cu (included inside its anonymous namespace):
// mixture head, Adam and memory/stream/error cases.

struct MixCase {
  int64_t N, C, K, M;
  bool labels, Y, someUnlabelled;
};

void mixtureCase(Tally& t, const MixCase& c, std::mt19937_64& rng) {
  const int64_t N = c.N, C = c.C, K = c.K, M = c.M, KM = K * M;
  auto z = randomFloats(N * C, rng), cent = randomFloats(KM * C, rng, -1, 1);
  auto logdet = randomFloats(N, rng, -50, 50);
  auto rawPi = randomFloats(K, rng, -2, 2), rawPa = randomFloats(KM, rng, -2, 2);
  std::vector<float> lpi(K), lpa(KM);
  hgad::logSoftmaxRows<float>(1, K, rawPi.data(), lpi.data());
  hgad::logSoftmaxRows<float>(K, M, rawPa.data(), lpa.data());
  std::vector<int32_t> labels(N);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(K - 1));
  for (int64_t n = 0; n < N; ++n) labels[n] = (c.someUnlabelled && n % 7 == 3) ? -1 : pick(rng);
  std::vector<float> Y(N * K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      Y[n * K + k] = labels[n] < 0 ? 1.0f / K : (k == labels[n] ? 0.9f : 0.0f) + 0.1f / K;
  const hgad::MixtureShape s{N, C, K, M};
  DeviceBuffer<float> dz_(z), dLd(logdet), dCent(cent), dLpi(lpi), dLpa(lpa), dY(Y);
  DeviceBuffer<int32_t> dLab(labels);
  const int32_t* labP = c.labels ? dLab.get() : nullptr;
  const float* YP = c.Y ? dY.get() : nullptr;
  const auto zd = toDouble(z), ldd = toDouble(logdet), cd = toDouble(cent), pid = toDouble(lpi),
             pad = toDouble(lpa), Yd = toDouble(Y);
  const int32_t* labH = c.labels ? labels.data() : nullptr;
  const double* YH = c.Y ? Yd.data() : nullptr;
  char tag[96];
  std::snprintf(tag, sizeof tag, " N=%lld C=%lld K=%lld M=%lld%s%s", (long long)N, (long long)C, (long long)K,
                (long long)M, c.labels ? " labels" : "", c.Y ? " Y" : "");

  // Outputs a sample does not write (no label) stay NaN on both sides.
  std::vector<std::vector<double>> ref(5, std::vector<double>(N, std::nan("")));
  hgad::mixtureHeadForward<double>(s, zd.data(), ldd.data(), labH, YH, cd.data(), pid.data(), pad.data(),
                                   ref[0].data(), ref[1].data(), YH ? ref[2].data() : nullptr,
                                   labH ? ref[3].data() : nullptr, labH ? ref[4].data() : nullptr);
  std::vector<DeviceBuffer<float>*> outs;
  for (int i = 0; i < 5; ++i) {
    outs.push_back(new DeviceBuffer<float>(N));
    outs.back()->poison();
  }
  cu::mixtureHeadForward(s, dz_.get(), dLd.get(), labP, YP, dCent.get(), dLpi.get(), dLpa.get(), outs[0]->get(),
                         outs[1]->get(), YP ? outs[2]->get() : nullptr, labP ? outs[3]->get() : nullptr,
                         labP ? outs[4]->get() : nullptr);
  const char* names[] = {"Lg", "Le", "Lmi", "Lgi", "logp"};
  for (int i = 0; i < 5; ++i) {
    check(t, std::string("mixtureHeadForward ") + names[i] + tag, outs[i]->download(N), ref[i], 1e-6, 1e-5, true);
    delete outs[i];
  }

  const float invN = 1.0f / static_cast<float>(N);
  const hgad::MixtureWeights<float> w{1.0f * invN, 0.5f * invN, -100.0f * invN, 1.0f * invN, 0.3f * invN};
  const hgad::MixtureWeights<double> wd{w.g, w.e, w.mi, w.gi, w.z};
  std::vector<double> rdz(N * C), rdl(N), rdc(KM * C), rdpi(K), rdpa(KM);
  hgad::mixtureHeadBackward<double>(s, zd.data(), ldd.data(), labH, YH, cd.data(), pid.data(), pad.data(), wd,
                                    rdz.data(), rdl.data(), rdc.data(), rdpi.data(), rdpa.data());
  DeviceBuffer<float> gz(N * C), gl(N), gc(KM * C), gpi(K), gpa(KM);
  gz.poison(); gl.poison(); gc.poison(); gpi.poison(); gpa.poison();
  cu::mixtureHeadBackward(s, dz_.get(), dLd.get(), labP, YP, dCent.get(), dLpi.get(), dLpa.get(), w, gz.get(),
                          gl.get(), gc.get(), gpi.get(), gpa.get());
  check(t, std::string("mixtureHeadBackward dz") + tag, gz.download(N * C), rdz, 1e-6, 1e-5, true);
  check(t, std::string("mixtureHeadBackward dlogdet") + tag, gl.download(N), rdl, 1e-6, 1e-5, true);
  check(t, std::string("mixtureHeadBackward dcent") + tag, gc.download(KM * C), rdc, 1e-6, 1e-5, true);
  check(t, std::string("mixtureHeadBackward dlpi") + tag, gpi.download(K), rdpi, 1e-6, 1e-5, true);
  check(t, std::string("mixtureHeadBackward dlpa") + tag, gpa.download(KM), rdpa, 1e-6, 1e-5, true);
}

void mixtureCases(Tally& t, uint64_t& seed) {
  const MixCase cases[] = {
      {16384, 200, 15, 10, true, true, false}, {37, 33, 3, 4, true, true, true}, {100, 70, 12, 1, true, false, false},
      {64, 5, 1, 1, true, true, false},        {50, 40, 9, 3, false, false, false}, {2000, 257, 27, 10, true, true, true},
      // M > 32 (shared memory at the opt-in limit) and K > 32
      {1000, 45, 27, 33, true, true, true}, {300, 64, 40, 20, true, true, false}};
  for (const auto& c : cases) {
    std::mt19937_64 rng(seed++);
    mixtureCase(t, c, rng);
  }
}

// The CPU reference of native/cpu/adam.cc in float64.
void adamReference(std::vector<double>& p, const std::vector<double>& g, std::vector<double>& m,
                   std::vector<double>& v, double lr, double b1, double b2, double eps, double wd, int64_t step) {
  hgad::adamStep<double>(static_cast<int64_t>(p.size()), p.data(), g.data(), m.data(), v.data(), lr, b1, b2, eps, wd, step);
}

void adamCases(Tally& t, uint64_t& seed) {
  for (int64_t n : {int64_t(4096), int64_t(1000003), int64_t(3)}) {
    for (int offset = 0; offset < 2; ++offset) {
      std::mt19937_64 rng(seed++);
      auto p = randomFloats(n + 1, rng), m0 = randomFloats(n + 1, rng, -0.1f, 0.1f);
      auto v0 = randomFloats(n + 1, rng, 0.0f, 0.01f);
      DeviceBuffer<float> dp(p), dm(m0), dv(v0), dg(n + 1);
      auto sl = [&](const std::vector<float>& x) { return std::vector<double>(x.begin() + offset, x.begin() + offset + n); };
      std::vector<double> rp = sl(p), rm = sl(m0), rv = sl(v0);
      const float lr = 2e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 1e-5f;
      for (int64_t step = 1; step <= 3; ++step) {
        auto g = randomFloats(n + 1, rng);
        dg.upload(g);
        adamReference(rp, sl(g), rm, rv, lr, b1, b2, eps, wd, step);
        cu::adamStep(n, dp.get() + offset, dg.get() + offset, dm.get() + offset, dv.get() + offset, lr, b1, b2,
                     eps, wd, step);
      }
      char tag[48];
      std::snprintf(tag, sizeof tag, " n=%lld offset=%d steps=3", (long long)n, offset);
      auto cut = [&](std::vector<float> x) { return std::vector<float>(x.begin() + offset, x.begin() + offset + n); };
      check(t, std::string("adamStep p") + tag, cut(dp.download(n + 1)), rp, 1e-5, 1e-5, true);
      check(t, std::string("adamStep m") + tag, cut(dm.download(n + 1)), rm, 1e-5, 1e-5, true);
      check(t, std::string("adamStep v") + tag, cut(dv.download(n + 1)), rv, 1e-5, 1e-5, true);
    }
  }
  // weightDecay = 0 adds no decay term: an infinite parameter stays infinite
  // and its moments stay finite (0 * inf would make them NaN).
  {
    std::mt19937_64 rng(seed++);
    const int64_t n = 9;
    auto p = randomFloats(n, rng), m0 = randomFloats(n, rng, -0.1f, 0.1f), v0 = randomFloats(n, rng, 0.0f, 0.01f);
    auto g = randomFloats(n, rng);
    p[2] = std::numeric_limits<float>::infinity();
    p[7] = -std::numeric_limits<float>::infinity();
    DeviceBuffer<float> dp(p), dm(m0), dv(v0), dg(g);
    std::vector<double> rp = toDouble(p), rm = toDouble(m0), rv = toDouble(v0);
    adamReference(rp, toDouble(g), rm, rv, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1);
    cu::adamStep(n, dp.get(), dg.get(), dm.get(), dv.get(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    check(t, "adamStep p weightDecay=0 with infinite p", dp.download(n), rp, 1e-5, 1e-5, true);
    check(t, "adamStep m weightDecay=0 with infinite p", dm.download(n), rm, 1e-5, 1e-5, true);
    check(t, "adamStep v weightDecay=0 with infinite p", dv.download(n), rv, 1e-5, 1e-5, true);
  }
}

void memoryCases(Tally& t, uint64_t& seed) {
  std::mt19937_64 rng(seed++);
  // Staged copies span several 8 MiB chunks and a ragged tail.
  const size_t n = (size_t(20) << 20) / sizeof(float) + 3;
  auto h = randomFloats(n, rng);
  std::vector<float> back(n, 0.0f);
  cu::Stream s = cu::streamCreate();
  float* d = static_cast<float*>(cu::deviceAlloc(n * sizeof(float), s));
  cu::copyHostToDeviceStaged(d, h.data(), n * sizeof(float), s);
  cu::copyDeviceToHostStaged(back.data(), d, n * sizeof(float), s);
  cu::streamSynchronize(s);
  parity::record(t, "copy staged host->device->host 20 MiB", back == h, back == h ? "exact" : "mismatch");
  cu::deviceFree(d, s);
  const auto before = cu::allocatorStats();
  void* again = cu::deviceAlloc(n * sizeof(float), s);
  const auto after = cu::allocatorStats();
  parity::record(t, "allocator reuses a freed block on its stream", again == d && after.cacheHits == before.cacheHits + 1,
                 "driverAllocations=" + std::to_string(after.driverAllocations));
  cu::deviceFree(again, s);
  cu::streamDestroy(s);
  auto expectThrow = [&](const char* name, const char* needle, auto fn) {
    std::string msg;
    try {
      fn();
    } catch (const cu::CudaError& e) {
      msg = e.what();
    }
    parity::record(t, name, msg.find(needle) != std::string::npos, msg.empty() ? "no exception" : msg);
  };
  expectThrow("deviceAlloc(2^60 bytes) throws CudaError", "deviceAlloc", [] { cu::deviceAlloc(size_t(1) << 60); });
  int local = 0;
  expectThrow("deviceFree(foreign pointer) throws CudaError", "deviceFree", [&] { cu::deviceFree(&local); });
  expectThrow("gemm with M beyond the grid throws CudaError", "gemm", [] {
    hgad::GemmShape g;
    g.M = int64_t(65536) * 128 + 1; g.N = 4; g.K = 4; g.lda = 4; g.ldb = 4; g.ldc = 4;
    cu::gemm(g, nullptr, nullptr, 0.0f, nullptr, nullptr, false, nullptr, cu::GemmBackend::kTiled);
  });
  // Two devices used in turn by one thread (as two workers on two devices
  // would): a reused block returns its free event to the spare events, and
  // a free on the other device must not record that event on its stream.
  if (cu::deviceCount() >= 2) {
    std::string msg;
    bool ok = true;
    try {
      for (int round = 0; round < 3; ++round) {
        const int d0 = round % 2, d1 = 1 - d0;
        cu::setDevice(d0);
        cu::Stream s0 = cu::streamCreate();
        void* a = cu::deviceAlloc(4096, s0);
        cu::fillBytes(a, 0, 4096, s0);
        cu::deviceFree(a, s0);
        void* again = cu::deviceAlloc(4096, s0);  // the same block: its event becomes a spare
        cu::setDevice(d1);
        cu::Stream s1 = cu::streamCreate();
        void* b = cu::deviceAlloc(4096, s1);
        cu::fillBytes(b, 0, 4096, s1);
        cu::deviceFree(b, s1);
        void* c = cu::deviceAlloc(4096, nullptr);
        cu::deviceFree(c, nullptr);
        cu::streamSynchronize(s1);
        cu::streamDestroy(s1);
        cu::setDevice(d0);
        cu::deviceFree(again, s0);
        cu::streamSynchronize(s0);
        cu::streamDestroy(s0);
      }
    } catch (const cu::CudaError& e) {
      ok = false;
      msg = e.what();
    }
    cu::setDevice(0);
    parity::record(t, "allocator frees on two devices in turn", ok, msg);
  }
  // The device is still usable after those errors.
  DeviceBuffer<float> x(std::vector<float>{1, 2, 3}), y(std::vector<float>{1, 1, 1});
  cu::axpy(3, 2.0f, x.get(), y.get());
  const auto got = y.download(3);
  parity::record(t, "device usable after the errors", got == std::vector<float>{3, 5, 7}, "");
}

// Streams created and destroyed in turn, each running a GEMM (cuBLAS when
// present, which makes a handle for the stream), give back their device
// memory and their cuBLAS handles; and a block read by a second stream is not
// reused before that stream's work is done (recordStream).
void streamLifetimeCases(Tally& t, uint64_t& seed) {
  std::mt19937_64 rng(seed++);
  const int64_t n = 256;
  auto A = randomFloats(n * n, rng);
  cu::trimCache();
  cu::deviceSynchronize();
  size_t freeBefore = 0, total = 0, freeAfter = 0;
  cudaMemGetInfo(&freeBefore, &total);
  const size_t handlesBefore = cu::cublasHandleCount();
  std::string msg;
  bool ok = true;
  try {
    for (int round = 0; round < 40; ++round) {
      cu::Stream s = cu::streamCreate();
      float* a = static_cast<float*>(cu::deviceAlloc(n * n * sizeof(float), s));
      float* c = static_cast<float*>(cu::deviceAlloc(n * n * sizeof(float), s));
      cu::copyHostToDevice(a, A.data(), n * n * sizeof(float), s);
      hgad::GemmShape g;
      g.M = n; g.N = n; g.K = n; g.lda = n; g.ldb = n; g.ldc = n;
      cu::gemm(g, a, a, 0.0f, c, nullptr, false, s, cu::GemmBackend::kAuto);
      cu::streamSynchronize(s);
      cu::deviceFree(a, s);
      cu::deviceFree(c, s);
      cu::streamDestroy(s);
    }
  } catch (const cu::CudaError& e) {
    ok = false;
    msg = e.what();
  }
  const size_t handlesAfter = cu::cublasHandleCount();
  cu::trimCache();
  cu::deviceSynchronize();
  cudaMemGetInfo(&freeAfter, &total);
  parity::record(t, "40 create/GEMM/destroy rounds of a stream run", ok, msg);
  parity::record(t, "40 create/GEMM/destroy rounds return their cuBLAS handles", handlesAfter == handlesBefore,
                 std::to_string(handlesBefore) + " -> " + std::to_string(handlesAfter) + " handles");
  // cuBLAS keeps a small library workspace of its own; 8 MiB covers it, 40 leaked handles would not.
  const long long drop = static_cast<long long>(freeBefore) - static_cast<long long>(freeAfter);
  parity::record(t, "40 create/GEMM/destroy rounds return their device memory", drop <= (8ll << 20),
                 "free memory dropped by " + std::to_string(drop) + " bytes");

  // recordStream: s2 reads a block of s1 in a long chain; the block freed on
  // s1 may come back to s1 only once s2 is done with it.
  const int64_t m = int64_t(1) << 22;
  cu::Stream s1 = cu::streamCreate(), s2 = cu::streamCreate();
  float* x = static_cast<float*>(cu::deviceAlloc(m * 4, s1));
  float* y = static_cast<float*>(cu::deviceAlloc(m * 4, s2));
  cu::fill(m, 1.0f, x, s1);
  cu::fill(m, 0.0f, y, s2);
  cu::streamWait(s2, s1);
  cu::recordStream(x, s2);
  for (int i = 0; i < 64; ++i) cu::axpy(m, 1.0f, x, y, s2);
  cu::deviceFree(x, s1);
  void* again = cu::deviceAlloc(m * 4, s1);
  const bool s2Done = cudaStreamQuery(static_cast<cudaStream_t>(s2)) == cudaSuccess;
  cudaGetLastError();
  parity::record(t, "a block used by another stream is not reused before that stream is done", again != x || s2Done,
                 again == x ? "the block came back while the other stream still read it" : "");
  cu::fill(m, -1.0f, static_cast<float*>(again), s1);
  std::vector<float> back(m);
  cu::copyDeviceToHostStaged(back.data(), y, m * 4, s2);
  const bool intact = std::all_of(back.begin(), back.end(), [](float v) { return v == 64.0f; });
  parity::record(t, "the other stream read the values it was given", intact, intact ? "" : "it read the reused block");
  cu::deviceFree(again, s1);
  cu::deviceFree(y, s2);
  cu::streamSynchronize(s1);
  cu::streamSynchronize(s2);
  cu::streamDestroy(s1);
  cu::streamDestroy(s2);
}
