// Part of cuda_parity_test.cu (included inside its anonymous namespace): the
// parameter folding and glue ops against the CPU references of
// native/cpu/fold.cc and batch.cc run in float64, fill and device-to-device
// copies, and stream ordering (streamWait).
// Tolerances: outputs computed in double on the device and rounded to float
// once: atol 1e-6 x max|ref|, rtol 1e-6; copies, gathers, one-hot rows and
// the centres composition are exact (a single float add at most).

void affineFoldCases(Tally& t, uint64_t& seed) {
  for (int64_t C : {int64_t(1), int64_t(7), int64_t(200), int64_t(513)}) {
    std::mt19937_64 rng(seed++);
    auto R = randomFloats(C * C, rng), g = randomFloats(C, rng, -8, 8), offset = randomFloats(C, rng);
    auto dW = randomFloats(C * C, rng), db = randomFloats(C, rng), dConst = randomFloats(1, rng);
    if (C > 2) {
      g[0] = 45.0f;   // linear branch of globalScale
      g[1] = -30.0f;  // a scale of ~6e-8
    }
    const std::vector<double> Rd = toDouble(R), gd = toDouble(g), offd = toDouble(offset);
    DeviceBuffer<float> dR(R), dg(g), dOff(offset), ddW(dW), ddb(db), ddC(dConst), W(C * C), b(C), ldc(1),
        gg(C), gOff(C);
    char tag[48];
    for (int inverse = 0; inverse < 2; ++inverse) {
      std::vector<double> rW(C * C), rb(C), rc(1);
      hgad::affineFold<double>(C, Rd.data(), gd.data(), offd.data(), rW.data(), rb.data(), rc.data(), inverse != 0);
      W.poison();
      b.poison();
      ldc.poison();
      cu::affineFold(C, dR.get(), dg.get(), dOff.get(), W.get(), b.get(), ldc.get(), inverse != 0);
      std::snprintf(tag, sizeof tag, " C=%lld%s", (long long)C, inverse ? " inverse" : "");
      check(t, std::string("affineFold W") + tag, W.download(C * C), rW, 1e-7, 1e-6);
      check(t, std::string("affineFold b") + tag, b.download(C), rb, 1e-6, 1e-6, true);
      check(t, std::string("affineFold logdetConst") + tag, ldc.download(1), rc, 1e-6, 1e-6, true);
    }
    for (int withConst = 0; withConst < 2; ++withConst) {
      std::vector<double> rdg(C), rdo(C);
      const std::vector<double> dWd = toDouble(dW), dbd = toDouble(db), dCd = toDouble(dConst);
      hgad::affineFoldBackward<double>(C, Rd.data(), gd.data(), dWd.data(), dbd.data(), withConst ? dCd.data() : nullptr,
                                       rdg.data(), rdo.data());
      gg.poison();
      gOff.poison();
      cu::affineFoldBackward(C, dR.get(), dg.get(), ddW.get(), ddb.get(), withConst ? ddC.get() : nullptr, gg.get(),
                             gOff.get());
      std::snprintf(tag, sizeof tag, " C=%lld%s", (long long)C, withConst ? " dConst" : "");
      check(t, std::string("affineFoldBackward dg") + tag, gg.download(C), rdg, 1e-6, 1e-6, true);
      check(t, std::string("affineFoldBackward dOffset") + tag, gOff.download(C), rdo, 1e-6, 1e-6, true);
    }
  }
}

void centresCases(Tally& t, uint64_t& seed) {
  struct S { int64_t K, M, C; } shapes[] = {{1, 1, 1}, {3, 4, 5}, {15, 10, 200}, {27, 1, 33}};
  for (const auto& sh : shapes) {
    std::mt19937_64 rng(seed++);
    const int64_t K = sh.K, M = sh.M, C = sh.C, KMC = K * M * C, KDC = K * (M - 1) * C;
    auto mu = randomFloats(K * C, rng), delta = randomFloats(std::max<int64_t>(1, KDC), rng);
    auto dcent = randomFloats(KMC, rng);
    std::vector<double> rc(KMC), rmu(K * C), rd(std::max<int64_t>(1, KDC), std::nan(""));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = (k * M + m) * C + c, d = (k * (M - 1) + m - 1) * C + c;
          rc[i] = m == 0 ? mu[k * C + c] : static_cast<float>(mu[k * C + c] + delta[d]);
          if (m == 0) rmu[k * C + c] = dcent[i];
          else rd[d] = dcent[i];
        }
    DeviceBuffer<float> dmu(mu), dDelta(delta), cent(KMC), ddc(dcent), gmu(K * C), gd(std::max<int64_t>(1, KDC));
    char tag[64];
    std::snprintf(tag, sizeof tag, " K=%lld M=%lld C=%lld", (long long)K, (long long)M, (long long)C);
    cent.poison();
    cu::centresCompose(K, M, C, dmu.get(), M > 1 ? dDelta.get() : nullptr, cent.get());
    check(t, std::string("centresCompose") + tag, cent.download(KMC), rc, 0, 0);
    for (int withDelta = 0; withDelta < 2; ++withDelta) {
      gmu.poison();
      gd.poison();
      cu::centresComposeBackward(K, M, C, ddc.get(), gmu.get(), withDelta ? gd.get() : nullptr);
      check(t, std::string("centresComposeBackward dmu") + tag + (withDelta ? " dDelta" : ""), gmu.download(K * C), rmu, 0, 0);
      // Without dDelta, or with M = 1, the buffer stays poisoned (NaN on both sides).
      std::vector<double> want = withDelta ? rd : std::vector<double>(rd.size(), std::nan(""));
      check(t, std::string("centresComposeBackward dDelta") + tag + (withDelta ? "" : " (null)"), gd.download(rd.size()),
            want, 0, 0);
    }
  }
}

void gatherCases(Tally& t, uint64_t& seed) {
  struct S { int64_t n, C, srcRows; } shapes[] = {{1, 1, 1}, {100, 7, 50}, {16384, 1, 16384}, {300, 200, 1000}};
  for (const auto& sh : shapes) {
    std::mt19937_64 rng(seed++);
    const int64_t n = sh.n, C = sh.C, rows = sh.srcRows;
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(rows - 1));
    std::vector<int32_t> idx(n);
    for (int64_t i = 0; i < n; ++i)
      idx[i] = i % 13 == 5 ? -1 : i % 17 == 3 ? static_cast<int32_t>(rows) : i % 19 == 7 ? INT32_MIN : pick(rng);
    auto src = randomFloats(rows * C, rng);
    std::vector<int32_t> isrc(rows * C);
    for (auto& v : isrc) v = static_cast<int32_t>(rng());
    std::vector<double> ref(n * C, 0.0);
    std::vector<int32_t> iref(n * C, 0);
    for (int64_t i = 0; i < n; ++i)
      if (idx[i] >= 0 && idx[i] < rows)
        for (int64_t c = 0; c < C; ++c) {
          ref[i * C + c] = src[idx[i] * C + c];
          iref[i * C + c] = isrc[idx[i] * C + c];
        }
    DeviceBuffer<float> dsrc(src), out(n * C);
    DeviceBuffer<int32_t> didx(idx), disrc(isrc), iout(n * C);
    char tag[64];
    std::snprintf(tag, sizeof tag, " n=%lld C=%lld srcRows=%lld", (long long)n, (long long)C, (long long)rows);
    out.poison();
    cu::gatherRows(n, C, dsrc.get(), rows, didx.get(), out.get());
    check(t, std::string("gatherRows float") + tag, out.download(n * C), ref, 0, 0);
    iout.poison();
    cu::gatherRows(n, C, disrc.get(), rows, didx.get(), iout.get());
    const auto got = iout.download(n * C);
    parity::record(t, std::string("gatherRows int32") + tag, got == iref, got == iref ? "exact" : "mismatch");
  }
}

// The positional conditions of a batch: the (R, P) table once per image; large
// enough for a grid-stride pass (2^24 elements), and sizes that are not multiples of a warp.
void repeatRowsCases(Tally& t, uint64_t& seed) {
  struct S { int64_t copies, R, P; } shapes[] = {{1, 1, 1}, {3, 7, 5}, {8, 4096, 256}, {2, 16384, 256}, {33, 1, 31}};
  for (const auto& sh : shapes) {
    std::mt19937_64 rng(seed++);
    const int64_t copies = sh.copies, R = sh.R, P = sh.P;
    auto table = randomFloats(R * P, rng);
    std::vector<double> ref(copies * R * P);
    for (int64_t c = 0; c < copies; ++c)
      for (int64_t i = 0; i < R * P; ++i) ref[c * R * P + i] = table[i];
    DeviceBuffer<float> dt(table), out(copies * R * P);
    char tag[80];
    std::snprintf(tag, sizeof tag, " copies=%lld R=%lld P=%lld", (long long)copies, (long long)R, (long long)P);
    out.poison();
    cu::repeatRows(copies, R, P, dt.get(), out.get(), nullptr);
    check(t, std::string("repeatRows") + tag, out.download(copies * R * P), ref, 0, 0);
  }
}

void oneHotCases(Tally& t, uint64_t& seed) {
  struct S { int64_t N, K; float smoothing; } shapes[] = {{1, 1, 0.0f}, {16384, 15, 0.1f}, {37, 4, 0.0f}, {5, 1000, 0.3f}};
  for (const auto& sh : shapes) {
    std::mt19937_64 rng(seed++);
    const int64_t N = sh.N, K = sh.K;
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(K - 1));
    std::vector<int32_t> labels(N);
    for (int64_t i = 0; i < N; ++i) labels[i] = i % 11 == 4 ? -1 : i % 11 == 7 ? static_cast<int32_t>(K) : pick(rng);
    std::vector<double> ref(N * K);
    const double sm = sh.smoothing;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < K; ++k) ref[i * K + k] = sm / double(K) + (k == labels[i] ? 1.0 - sm : 0.0);
    DeviceBuffer<int32_t> dl(labels);
    DeviceBuffer<float> Y(N * K);
    Y.poison();
    cu::oneHot(N, K, dl.get(), sh.smoothing, Y.get());
    char tag[64];
    std::snprintf(tag, sizeof tag, " N=%lld K=%lld smoothing=%g", (long long)N, (long long)K, sh.smoothing);
    check(t, std::string("oneHot") + tag, Y.download(N * K), ref, 1e-7, 1e-7);
  }
}

void lossSumsCases(Tally& t, uint64_t& seed) {
  for (int64_t N : {int64_t(0), int64_t(1), int64_t(1000), int64_t(16384), int64_t(1000003)}) {
    std::mt19937_64 rng(seed++);
    const int64_t n1 = std::max<int64_t>(N, 1);
    std::vector<std::vector<float>> terms = {randomFloats(n1, rng, -5, 5), randomFloats(n1, rng, 0, 3),
                                             randomFloats(n1, rng, -1, 1), randomFloats(n1, rng, -5, 5),
                                             randomFloats(n1, rng, -200, 200)};
    std::vector<DeviceBuffer<float>*> d;
    for (const auto& v : terms) d.push_back(new DeviceBuffer<float>(v));
    DeviceBuffer<double> out(5);
    std::vector<std::vector<double>> termsd;
    for (const auto& v : terms) termsd.push_back(toDouble(v));
    for (int full = 0; full < 2; ++full) {
      std::vector<double> ref(5);
      hgad::lossSums<double>(N, termsd[0].data(), termsd[1].data(), termsd[2].data(), full ? termsd[3].data() : nullptr,
                             full ? termsd[4].data() : nullptr, ref.data());
      std::vector<double> first;
      bool same = true;
      for (int run = 0; run < 2; ++run) {
        out.poison();
        cu::lossSums(N, d[0]->get(), d[1]->get(), d[2]->get(), full ? d[3]->get() : nullptr,
                     full ? d[4]->get() : nullptr, out.get());
        const auto got = out.download(5);
        if (run == 0) first = got;
        else same = std::memcmp(first.data(), got.data(), 5 * sizeof(double)) == 0;
      }
      char tag[64];
      std::snprintf(tag, sizeof tag, " N=%lld%s", (long long)N, full ? "" : " (Lgi, logp null)");
      double scale = 0.0;
      for (double r : ref) scale = std::max(scale, std::fabs(r));
      // Each output is its own sum: rtol per element; atol for sums near 0.
      check(t, std::string("lossSums") + tag, std::vector<float>(first.begin(), first.end()), ref, 1e-9 * std::max(scale, 1.0), 1e-6);
      parity::record(t, std::string("lossSums deterministic") + tag, same, same ? "bitwise equal" : "runs differ");
    }
    for (auto* p : d) delete p;
  }
}

void fillCopyStreamCases(Tally& t, uint64_t& seed) {
  std::mt19937_64 rng(seed++);
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(1027), int64_t(3000017)}) {
    for (int64_t off : {int64_t(0), int64_t(1), int64_t(5)}) {
      const int64_t total = n + off + 3;
      auto h = randomFloats(total, rng);
      DeviceBuffer<float> a(h), b(total);
      std::vector<double> ref = toDouble(h);
      for (int64_t i = 0; i < n; ++i) ref[off + i] = -2.5;
      cu::fill(n, -2.5f, a.get() + off);
      char tag[64];
      std::snprintf(tag, sizeof tag, " n=%lld offset=%lld", (long long)n, (long long)off);
      check(t, std::string("fill") + tag, a.download(total), ref, 0, 0);
      b.poison();
      cu::copyDeviceToDevice(b.get() + 3, a.get() + off, n * sizeof(float));
      auto got = b.download(total);
      std::vector<float> mid(got.begin() + 3, got.begin() + 3 + n);
      check(t, std::string("copyDeviceToDevice") + tag, mid, std::vector<double>(n, -2.5), 0, 0);
    }
  }
  {
    DeviceBuffer<float> nanBuf(5);
    cu::fill(5, std::numeric_limits<float>::quiet_NaN(), nanBuf.get());
    const auto got = nanBuf.download(5);
    const bool ok = std::all_of(got.begin(), got.end(), [](float v) { return std::isnan(v); });
    parity::record(t, "fill with NaN", ok, ok ? "" : "a value was not NaN");
  }

  // streamWait: s2 copies what s1 computes; s1 is made slow by a long chain of
  // axpys, so without the wait s2 would read stale values.
  const int64_t n = int64_t(1) << 22;
  const int chain = 64;
  cu::Stream s1 = cu::streamCreate(), s2 = cu::streamCreate();
  float* x = static_cast<float*>(cu::deviceAlloc(n * 4, s1));
  float* y = static_cast<float*>(cu::deviceAlloc(n * 4, s1));
  float* z = static_cast<float*>(cu::deviceAlloc(n * 4, s2));
  cu::fill(n, 1.0f, x, s1);
  cu::fill(n, 0.0f, y, s1);
  for (int i = 0; i < chain; ++i) cu::axpy(n, 1.0f, x, y, s1);  // y = chain
  cu::fill(n, -1.0f, z, s2);
  cu::streamWait(s2, s1);
  cu::copyDeviceToDevice(z, y, n * 4, s2);
  std::vector<float> back(n);
  cu::copyDeviceToHostStaged(back.data(), z, n * 4, s2);
  const bool ordered = std::all_of(back.begin(), back.end(), [&](float v) { return v == float(chain); });
  parity::record(t, "streamWait orders a copy on s2 after s1's work", ordered, ordered ? "" : "stale values read");
  // Legacy default stream <-> non-blocking stream, both directions.
  cu::fill(n, 3.0f, y, nullptr);
  cu::streamWait(s1, nullptr);
  cu::copyDeviceToDevice(x, y, n * 4, s1);
  cu::streamWait(nullptr, s1);
  cu::copyDeviceToHostStaged(back.data(), x, n * 4, nullptr);
  const bool legacy = std::all_of(back.begin(), back.end(), [](float v) { return v == 3.0f; });
  parity::record(t, "streamWait with the legacy default stream", legacy, legacy ? "" : "stale values read");
  cu::deviceFree(x, s1);
  cu::deviceFree(y, s1);
  cu::deviceFree(z, s2);
  // Blocks cached for destroyed streams are handed out to a new stream once
  // their free events have completed.
  cu::streamDestroy(s1);
  cu::streamDestroy(s2);
  cu::deviceSynchronize();  // every free event has completed
  cu::Stream s3 = cu::streamCreate();
  const auto before = cu::allocatorStats();
  float* again = static_cast<float*>(cu::deviceAlloc(n * 4, s3));
  const auto after = cu::allocatorStats();
  cu::fill(n, 4.0f, again, s3);
  cu::streamSynchronize(s3);
  cu::deviceFree(again, s3);
  cu::streamDestroy(s3);
  cu::deviceSynchronize();
  parity::record(t, "allocator serves a new stream from blocks of destroyed ones", after.cacheHits == before.cacheHits + 1,
                 "cacheHits " + std::to_string(before.cacheHits) + " -> " + std::to_string(after.cacheHits));
}
