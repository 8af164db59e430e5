// Parity cases of the anomaly-map ops (native/ops/anomaly_map.h) and the Haar
// rotation (native/ops/orthogonal.h) against their CPU references in float64.
// Pasted into cuda_parity_test.cu (no includes of its own).

// mapMax, mapShift (both modes, reading the device max) and mapProduct over
// one element, a ragged length and a few full blocks.
void mapCases(Tally& t, uint64_t& seed) {
  cu::Stream stream = cu::streamCreate();
  for (int64_t n : {int64_t(1), int64_t(1027), int64_t(256 * 256 * 8 + 5)}) {
    std::mt19937_64 rng(seed++);
    const auto x = randomFloats(n, rng, -10, 3), b = randomFloats(n, rng);
    const auto xd = toDouble(x), bd = toDouble(b);
    DeviceBuffer<float> dx(x), db(b), m(1), y(n);
    const std::string tag = " n=" + std::to_string(n);
    double refM = 0;
    hgad::mapMax<double>(n, xd.data(), &refM);
    m.poison();
    cu::mapMax(n, dx.get(), m.get(), stream);
    cu::streamSynchronize(stream);
    check(t, "mapMax" + tag, m.download(1), {refM}, 0, 0);
    std::vector<double> ref(n);
    for (int32_t mode : {int32_t(hgad::kExpMinusMax), int32_t(hgad::kMaxMinus)}) {
      hgad::mapShift<double>(n, xd.data(), &refM, mode, ref.data());
      y.poison();
      cu::mapShift(n, dx.get(), m.get(), mode, y.get(), stream);
      cu::streamSynchronize(stream);
      check(t, "mapShift mode=" + std::to_string(mode) + tag, y.download(n), ref, 1e-6, 1e-6, true);
    }
    hgad::mapProduct<double>(n, xd.data(), bd.data(), ref.data());
    y.poison();
    cu::mapProduct(n, dx.get(), db.get(), y.get(), stream);
    cu::streamSynchronize(stream);
    check(t, "mapProduct" + tag, y.download(n), ref, 1e-7, 1e-6, true);
  }
  // Upsampling (beta 0 and 1: the reference's sum over levels) from maps of
  // one pixel, odd sizes, and a feature level to the 256 x 256 mask; blurs
  // whose radius passes the image (reflected twice) and the reference's
  // sigma 4 on the mask.
  struct Up { int64_t B, h, w, H, W; } ups[] = {{2, 5, 7, 19, 23}, {1, 1, 1, 4, 4}, {1, 8, 8, 1, 3}, {3, 28, 28, 256, 256}};
  for (const auto& u : ups) {
    std::mt19937_64 rng(seed++);
    const auto x = randomFloats(u.B * u.h * u.w, rng), y0 = randomFloats(u.B * u.H * u.W, rng);
    const auto xd = toDouble(x);
    DeviceBuffer<float> dx(x), dy(y0);
    for (float beta : {0.0f, 1.0f}) {
      std::vector<double> ref = toDouble(y0);
      hgad::upsampleBilinear<double>(u.B, u.h, u.w, u.H, u.W, xd.data(), beta, ref.data());
      dy.upload(y0);
      cu::upsampleBilinear(u.B, u.h, u.w, u.H, u.W, dx.get(), beta, dy.get(), stream);
      cu::streamSynchronize(stream);
      char tag[96];
      std::snprintf(tag, sizeof tag, "upsampleBilinear B=%lld %lldx%lld -> %lldx%lld beta=%g", (long long)u.B,
                    (long long)u.h, (long long)u.w, (long long)u.H, (long long)u.W, beta);
      check(t, tag, dy.download(ref.size()), ref, 1e-5, 1e-5, true);
    }
  }
  struct Blur { int64_t B, H, W; float sigma; } blurs[] = {{2, 17, 13, 2}, {1, 3, 40, 4}, {1, 1, 1, 1}, {4, 256, 256, 4}};
  for (const auto& c : blurs) {
    std::mt19937_64 rng(seed++);
    const int64_t n = c.B * c.H * c.W;
    const auto x = randomFloats(n, rng);
    const auto xd = toDouble(x);
    std::vector<double> work(n), ref(n);
    hgad::gaussianBlur<double>(c.B, c.H, c.W, c.sigma, 4.0, xd.data(), work.data(), ref.data());
    DeviceBuffer<float> dx(x), dwork(n), dy(n);
    dwork.poison();
    dy.poison();
    cu::gaussianBlur(c.B, c.H, c.W, c.sigma, 4.0f, dx.get(), dwork.get(), dy.get(), stream);
    cu::streamSynchronize(stream);
    char tag[80];
    std::snprintf(tag, sizeof tag, "gaussianBlur B=%lld %lldx%lld sigma=%g", (long long)c.B, (long long)c.H,
                  (long long)c.W, c.sigma);
    check(t, tag, dy.download(n), ref, 1e-6, 1e-5, true);
  }
  cu::streamDestroy(stream);
}

// The QR of a Gaussian matrix around the CPU kernel's 32-column panels and
// at the paper's C = 200: well conditioned, so float32 follows float64 to a
// few ulps times C.
void orthogonalCases(Tally& t, uint64_t& seed) {
  for (int64_t C : {int64_t(1), int64_t(5), int64_t(33), int64_t(70), int64_t(200)}) {
    std::mt19937_64 rng(seed++);
    std::normal_distribution<float> normal;
    std::vector<float> a(C * C);
    for (auto& v : a) v = normal(rng);
    std::vector<double> ad = toDouble(a), ref(C * C);
    hgad::haarOrthogonal<double>(C, ad.data(), ref.data());
    DeviceBuffer<float> da(a), q(C * C);
    q.poison();
    cu::haarOrthogonal(C, da.get(), q.get());
    check(t, "haarOrthogonal C=" + std::to_string(C), q.download(C * C), ref, 2e-5, 1e-3);
  }
}
