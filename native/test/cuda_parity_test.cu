// Parity test of every CUDA op against the CPU references (native/ops/*.h,
// the float64 instantiations), plus a small timing section. Which case groups
// run, and which op of the parity table (test/helpers/op_table.ts) each one
// checks, is generated from that table: parity_cases.gen.h
// (scripts/gen_parity_cases.js; test/parity_native.test.ts keeps it current).
//
//   cuda_parity_test                 parity checks (CTest runs this)
//   cuda_parity_test --timing        parity checks, then timings
//   cuda_parity_test --timing-only   timings only
// Env: HGAD_SEED (default: time-based, printed) seeds the random inputs of
// every case (case i uses seed + i); HGAD_GPU_JSON names a file for the
// timing results as JSON. Without a usable CUDA device it prints
// "SKIPPED: no CUDA device (<reason>)" and returns 77 (CTest: skipped).
//
// Each case: fresh random inputs, outputs poisoned with NaN before the
// kernel, every element compared: |got - ref| <= atol + rtol |ref|.
// Tolerances (float32 kernels against float64 references):
//  * GEMM FP32 (tiled, cuBLAS): atol 1e-5 sqrt(K) (inputs in [-1, 1], so a
//    K-term float dot product drifts ~ eps sqrt(K) |terms|), rtol 1e-5.
//    TF32: atol 4e-3 sqrt(K), rtol 4e-3 (10-bit input mantissas).
//  * coupling, elementwise, Adam: atol 1e-5 x max|ref| (float rounding of
//    sums of up to a few hundred terms), rtol 1e-5; column sums 1e-6.
//  * mixture head: atol 1e-6 x max|ref|, rtol 1e-5 (computed in double on
//    both sides; only the final float rounding differs).
//  * folding and glue ops (parity_fold.h): atol 1e-6 x max|ref|, rtol 1e-6
//    (double on the device, one float rounding); exact for the copies,
//    fills, gathers and the centres composition.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <cuda_runtime.h>

#include "anomaly_map.h"
#include "coupling.h"
#include "device.h"
#include "elementwise.h"
#include "mixture_head.h"
#include "orthogonal.h"
#include "parity_cases.gen.h"
#include "parity_util.h"
#include "rows.h"

using parity::check;
using parity::DeviceBuffer;
using parity::randomFloats;
using parity::Tally;
using parity::toDouble;
namespace cu = hgad::cuda;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// ------------------------------------------------------------------ gemm
struct GemmCase {
  bool tA, tB;
  int64_t M, N, K, pad;
  float beta;
  bool bias, relu;
};

void gemmCase(Tally& t, const GemmCase& c, std::mt19937_64& rng, bool tf32Too) {
  hgad::GemmShape s;
  s.transA = c.tA; s.transB = c.tB; s.M = c.M; s.N = c.N; s.K = c.K;
  s.lda = (c.tA ? c.M : c.K) + c.pad;
  s.ldb = (c.tB ? c.K : c.N) + c.pad;
  s.ldc = c.N + c.pad;
  const int64_t aRows = c.tA ? c.K : c.M, bRows = c.tB ? c.N : c.K;
  auto A = randomFloats(static_cast<size_t>(std::max<int64_t>(1, aRows * s.lda)), rng);
  auto B = randomFloats(static_cast<size_t>(std::max<int64_t>(1, bRows * s.ldb)), rng);
  auto bias = randomFloats(static_cast<size_t>(c.N), rng);
  auto C0 = randomFloats(static_cast<size_t>(c.M * s.ldc), rng);
  if (c.beta == 0.0f) std::fill(C0.begin(), C0.end(), kNaN);
  std::vector<double> ref = toDouble(C0), Ad = toDouble(A), Bd = toDouble(B), biasd = toDouble(bias);
  if (c.M * c.N * c.K <= 200000000)
    hgad::gemm(s, Ad.data(), Bd.data(), double(c.beta), ref.data(), c.bias ? biasd.data() : nullptr, c.relu);
  else
    parity::gemmReferenceThreaded(s, Ad, Bd, c.beta, ref, c.bias ? biasd.data() : nullptr, c.relu);
  DeviceBuffer<float> dA(A), dB(B), dBias(bias), dC(C0.size());
  std::vector<cu::GemmBackend> backends = {cu::GemmBackend::kTiled};
  if (tf32Too) backends.push_back(cu::GemmBackend::kTiledTf32);
  if (cu::cublasAvailable()) {
    backends.push_back(cu::GemmBackend::kCublas);
    if (tf32Too) backends.push_back(cu::GemmBackend::kCublasTf32);
  }
  for (auto be : backends) {
    dC.upload(C0);
    cu::gemm(s, dA.get(), dB.get(), c.beta, dC.get(), c.bias ? dBias.get() : nullptr, c.relu, nullptr, be);
    const bool tf32 = be == cu::GemmBackend::kTiledTf32 || be == cu::GemmBackend::kCublasTf32;
    const double sk = std::sqrt(static_cast<double>(std::max<int64_t>(c.K, 1)));
    char name[160];
    std::snprintf(name, sizeof name, "gemm[%s] %c%c M=%lld N=%lld K=%lld pad=%lld b=%g%s%s",
                  cu::gemmBackendName(be), c.tA ? 'T' : 'N', c.tB ? 'T' : 'N', (long long)c.M,
                  (long long)c.N, (long long)c.K, (long long)c.pad, c.beta, c.bias ? " bias" : "",
                  c.relu ? " relu" : "");
    check(t, name, dC.download(C0.size()), ref, (tf32 ? 4e-3 : 1e-5) * sk, tf32 ? 4e-3 : 1e-5);
  }
}

// The case in each of the four transposes (op(A), op(B) of the same shapes).
void allTransposes(Tally& t, const GemmCase& base, uint64_t& seed) {
  for (int tr = 0; tr < 4; ++tr) {
    GemmCase c = base;
    c.tA = tr & 1;
    c.tB = tr & 2;
    std::mt19937_64 rng(seed++);
    gemmCase(t, c, rng, true);
  }
}

void gemmCases(Tally& t, uint64_t& seed) {
  const GemmCase small[] = {
      {false, false, 1, 1, 1, 0, 0.0f, false, false},   {false, false, 7, 5, 3, 1, 0.5f, true, true},
      {false, false, 33, 65, 17, 0, 0.0f, true, true},  {false, false, 129, 127, 9, 4, 1.0f, true, false},
      {false, false, 130, 260, 40, 3, 0.0f, false, true}, {false, false, 64, 64, 2048, 0, 0.25f, true, false},
      {false, false, 300, 200, 1500, 1, 0.0f, true, true}, {false, false, 5, 6, 0, 0, 0.5f, true, true},
  };
  for (const auto& base : small) allTransposes(t, base, seed);
  // Partial float4 groups (N = 130, padded leading dimensions) and a ragged
  // split-K (K = 1030), in every transpose, with beta, bias and ReLU.
  const GemmCase edges[] = {
      {false, false, 130, 130, 22, 3, 0.5f, true, true},
      {false, false, 130, 130, 1030, 3, 0.5f, true, true},
  };
  for (const auto& base : edges) allTransposes(t, base, seed);
  // The flow's shapes (N = 16384 samples, C = 200, P = 256, hidden 712):
  // layer 1 (C1 + P -> hidden), layer 2 (hidden -> 2 C2), input gradients and
  // the weight gradients (transA, K = N: the split-K path).
  const GemmCase paper[] = {
      {false, false, 16384, 712, 356, 0, 0.0f, true, true},
      {false, false, 16384, 200, 712, 0, 0.0f, true, false},
      {false, true, 16384, 712, 200, 0, 0.0f, false, false},
      {true, false, 712, 200, 16384, 0, 1.0f, false, false},
      {true, false, 356, 712, 16384, 0, 0.0f, false, false},
  };
  for (const auto& c : paper) {
    std::mt19937_64 rng(seed++);
    gemmCase(t, c, rng, &c == &paper[0]);
  }
  // Tall and thin: more than 262144 rows (over 2048 row tiles in gridDim.y),
  // ld = 1 (scalar loads and stores). The first is a rank-1 update
  // (N rows x 1 x 1, beta = 1).
  const GemmCase tall[] = {
      {false, false, 300001, 1, 1, 0, 1.0f, false, false},
      {true, false, 270000, 3, 5, 1, 0.0f, true, true},
  };
  for (const auto& c : tall) {
    std::mt19937_64 rng(seed++);
    gemmCase(t, c, rng, true);
  }
}

// -------------------------------------------------------------- coupling
void couplingCases(Tally& t, uint64_t& seed) {
  struct C { int64_t N, C; float clamp; bool logdetIn; } cases[] = {
      {16384, 200, 2.0f, true}, {37, 7, 2.0f, false}, {5, 1, 1.5f, true}, {64, 2, 3.0f, true},
      {1000, 513, 2.0f, false}};
  for (const auto& c : cases) {
    std::mt19937_64 rng(seed++);
    const int64_t C1 = (c.C + 1) / 2, C2 = c.C - C1;
    auto x = randomFloats(c.N * c.C, rng, -2, 2), a = randomFloats(c.N * 2 * C2, rng, -30, 30);
    auto ldIn = randomFloats(c.N, rng, -10, 10), dy = randomFloats(c.N * c.C, rng);
    auto dld = randomFloats(c.N, rng);
    const float ldConst = 0.375f;
    DeviceBuffer<float> dx(x), da(a), dLdIn(ldIn), ddy(dy), ddld(dld), out(c.N * c.C), ldOut(c.N),
        gda(c.N * 2 * C2);
    std::vector<double> ref(c.N * c.C), refLd(c.N), refDa(c.N * 2 * C2);
    const auto xd = toDouble(x), ad = toDouble(a), ldd = toDouble(ldIn);
    char tag[96];
    std::snprintf(tag, sizeof tag, "N=%lld C=%lld clamp=%g%s", (long long)c.N, (long long)c.C, c.clamp,
                  c.logdetIn ? " logdetIn" : "");
    const double ldConstD = ldConst;
    DeviceBuffer<float> dLdConst(std::vector<float>{float(ldConst)});
    for (int inverse = 0; inverse < 2; ++inverse) {
      out.poison();
      ldOut.poison();
      if (inverse) {
        hgad::couplingInverse<double>(c.N, c.C, xd.data(), ad.data(), c.clamp, c.logdetIn ? ldd.data() : nullptr,
                                      &ldConstD, ref.data(), refLd.data());
        cu::couplingInverse(c.N, c.C, dx.get(), da.get(), c.clamp, c.logdetIn ? dLdIn.get() : nullptr,
                            dLdConst.get(), out.get(), ldOut.get());
      } else {
        hgad::couplingForward<double>(c.N, c.C, xd.data(), ad.data(), c.clamp, c.logdetIn ? ldd.data() : nullptr,
                                      &ldConstD, ref.data(), refLd.data());
        cu::couplingForward(c.N, c.C, dx.get(), da.get(), c.clamp, c.logdetIn ? dLdIn.get() : nullptr,
                            dLdConst.get(), out.get(), ldOut.get());
      }
      const std::string op = inverse ? "couplingInverse " : "couplingForward ";
      check(t, op + "out " + tag, out.download(c.N * c.C), ref, 1e-5, 1e-5, true);
      check(t, op + "logdet " + tag, ldOut.download(c.N), refLd, 1e-5, 1e-5, true);
    }
    out.poison();
    gda.poison();
    const auto dyd = toDouble(dy), dldd = toDouble(dld);
    hgad::couplingBackward<double>(c.N, c.C, xd.data(), ad.data(), c.clamp, dyd.data(),
                                   c.logdetIn ? dldd.data() : nullptr, ref.data(), refDa.data());
    cu::couplingBackward(c.N, c.C, dx.get(), da.get(), c.clamp, ddy.get(), c.logdetIn ? ddld.get() : nullptr,
                         out.get(), gda.get());
    check(t, std::string("couplingBackward dx ") + tag, out.download(c.N * c.C), ref, 1e-5, 1e-5, true);
    check(t, std::string("couplingBackward da ") + tag, gda.download(c.N * 2 * C2), refDa, 1e-5, 1e-5, true);
  }
}

// ----------------------------------------------------------- elementwise
void flatCases(Tally& t, uint64_t& seed) {
  cu::Stream stream = cu::streamCreate();
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(1027), int64_t(16384 * 200)}) {
    for (int offset = 0; offset < 2; ++offset) {  // offset 1: unaligned, scalar path
      std::mt19937_64 rng(seed++);
      auto x = randomFloats(n + 1, rng), y = randomFloats(n + 1, rng);
      DeviceBuffer<float> dx(x), dy(y), out(n + 1);
      const float alpha = -0.7f;
      char tag[64];
      std::snprintf(tag, sizeof tag, " n=%lld offset=%d", (long long)n, offset);
      std::vector<double> ref(n);
      auto slice = [&](const std::vector<float>& v) { return std::vector<double>(v.begin() + offset, v.begin() + offset + n); };
      const auto xd = slice(x), yd = slice(y);
      for (int64_t i = 0; i < n; ++i) ref[i] = yd[i] + double(alpha) * xd[i];
      cu::axpy(n, alpha, dx.get() + offset, dy.get() + offset, stream);
      cu::streamSynchronize(stream);
      auto got = dy.download(n + 1);
      check(t, std::string("axpy") + tag, {got.begin() + offset, got.end() - (1 - offset)}, ref, 1e-6, 1e-6, true);
      dy.upload(y);
      out.poison();
      cu::scale(n, alpha, dx.get() + offset, out.get() + offset);
      for (int64_t i = 0; i < n; ++i) ref[i] = double(alpha) * xd[i];
      got = out.download(n + 1);
      check(t, std::string("scale") + tag, {got.begin() + offset, got.end() - (1 - offset)}, ref, 1e-6, 1e-6, true);
      cu::reluBackward(n, dx.get() + offset, dy.get() + offset);
      for (int64_t i = 0; i < n; ++i) ref[i] = xd[i] > 0 ? yd[i] : 0.0;
      got = dy.download(n + 1);
      check(t, std::string("reluBackward") + tag, {got.begin() + offset, got.end() - (1 - offset)}, ref, 0, 0);
    }
  }
  cu::streamDestroy(stream);
}

void rowCases(Tally& t, uint64_t& seed) {
  struct S { int64_t N, M; } shapes[] = {{16384, 15}, {16384, 712}, {5, 1}, {33, 100}, {7, 1000}, {1, 0}};
  for (const auto& s : shapes) {
    std::mt19937_64 rng(seed++);
    const int64_t N = s.N, M = s.M, NM = std::max<int64_t>(N * M, 1);
    auto X = randomFloats(NM, rng, -20, 20), dY = randomFloats(NM, rng);
    auto v0 = randomFloats(std::max<int64_t>(M, 1), rng);
    const auto Xd = toDouble(X), dYd = toDouble(dY);
    DeviceBuffer<float> dX(X), ddY(dY), out(NM), r(N), v(std::max<int64_t>(M, 1));
    char tag[48];
    std::snprintf(tag, sizeof tag, " N=%lld M=%lld", (long long)N, (long long)M);
    for (float beta : {0.0f, 0.7f}) {
      std::vector<double> ref = toDouble(v0);
      ref.resize(M);
      hgad::columnSum<double>(N, M, Xd.data(), beta, ref.data());
      if (beta == 0.0f) v.poison(); else v.upload(v0);
      cu::columnSum(N, M, dX.get(), beta, v.get());
      check(t, std::string("columnSum beta=") + (beta == 0 ? "0" : "0.7") + tag, v.download(M), ref, 1e-6, 1e-6, true);
    }
    std::vector<double> refR(N), refY(N * M);
    r.poison();
    hgad::rowSum<double>(N, M, Xd.data(), refR.data());
    cu::rowSum(N, M, dX.get(), r.get());
    check(t, std::string("rowSum") + tag, r.download(N), refR, 1e-5, 1e-5, true);
    out.poison();
    hgad::logSoftmaxRows<double>(N, M, Xd.data(), refY.data());
    cu::logSoftmaxRows(N, M, dX.get(), out.get());
    check(t, std::string("logSoftmaxRows") + tag, out.download(N * M), refY, 1e-6, 1e-6, true);
    cu::logSoftmaxRows(N, M, dX.get(), dX.get());  // in place
    check(t, std::string("logSoftmaxRows in-place") + tag, dX.download(N * M), refY, 1e-6, 1e-6, true);
    // Backward from the float log-softmax output, as the autograd feeds it.
    const auto Yf = dX.download(N * M);
    const auto Yd = toDouble(Yf);
    std::vector<double> refD(N * M);
    hgad::logSoftmaxRowsBackward<double>(N, M, Yd.data(), dYd.data(), refD.data());
    out.poison();
    cu::logSoftmaxRowsBackward(N, M, dX.get(), ddY.get(), out.get());
    check(t, std::string("logSoftmaxRowsBackward") + tag, out.download(N * M), refD, 1e-5, 1e-5, true);
    cu::logSoftmaxRowsBackward(N, M, dX.get(), ddY.get(), ddY.get());  // dX aliases dY
    check(t, std::string("logSoftmaxRowsBackward in-place") + tag, ddY.download(N * M), refD, 1e-5, 1e-5, true);
  }
}

void packCases(Tally& t, uint64_t& seed) {
  struct S { int64_t N, ldx, c0, W0, P; bool dZ; } shapes[] = {
      {16384, 200, 100, 100, 256, true}, {16384, 200, 0, 100, 0, false}, {37, 9, 4, 5, 3, false}, {3, 1, 0, 1, 2, true}};
  for (const auto& s : shapes) {
    std::mt19937_64 rng(seed++);
    const int64_t W = s.W0 + s.P;
    auto X = randomFloats(s.N * s.ldx, rng), Z = randomFloats(std::max<int64_t>(1, s.N * s.P), rng);
    auto dOut = randomFloats(s.N * W, rng);
    DeviceBuffer<float> dX(X), dZ(Z), out(s.N * W), ddOut(dOut), gZ(std::max<int64_t>(1, s.N * s.P));
    const auto Xd = toDouble(X), Zd = toDouble(Z), dOutd = toDouble(dOut);
    char tag[96];
    std::snprintf(tag, sizeof tag, " N=%lld ldx=%lld c0=%lld W0=%lld P=%lld%s", (long long)s.N, (long long)s.ldx,
                  (long long)s.c0, (long long)s.W0, (long long)s.P, s.dZ ? " dZ" : "");
    std::vector<double> ref(s.N * W);
    hgad::packColumns<double>(s.N, Xd.data(), s.ldx, s.c0, s.W0, Zd.data(), s.P, ref.data());
    out.poison();
    cu::packColumns(s.N, dX.get(), s.ldx, s.c0, s.W0, dZ.get(), s.P, out.get());
    check(t, std::string("packColumns") + tag, out.download(s.N * W), ref, 0, 0);
    std::vector<double> refX = Xd, refZ(std::max<int64_t>(1, s.N * s.P), std::nan(""));
    hgad::unpackColumnsBackward<double>(s.N, dOutd.data(), s.W0, s.P, refX.data(), s.ldx, s.c0,
                                        s.dZ ? refZ.data() : nullptr);
    gZ.poison();
    cu::unpackColumnsBackward(s.N, ddOut.get(), s.W0, s.P, dX.get(), s.ldx, s.c0, s.dZ ? gZ.get() : nullptr);
    check(t, std::string("unpackColumnsBackward dX") + tag, dX.download(s.N * s.ldx), refX, 1e-7, 1e-7, true);
    check(t, std::string("unpackColumnsBackward dZ") + tag, gZ.download(refZ.size()), refZ, 0, 0);
  }
}

// Case groups continued in headers private to this test (no includes of their own).
#include "parity_fold.h"
#include "parity_maps.h"
#include "parity_mixture.h"
#include "parity_timing.h"

}  // namespace

int main(int argc, char** argv) {
  bool parityChecks = true, timing = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--timing")) timing = true;
    if (!std::strcmp(argv[i], "--timing-only")) timing = true, parityChecks = false;
  }
  std::vector<hgad::CudaDeviceInfo> devices;
  std::string reason;
  devices = hgad::cudaDevices(&reason);
  if (devices.empty()) {
    std::printf("SKIPPED: no CUDA device (%s)\n", reason.empty() ? "cudaGetDeviceCount returned 0" : reason.c_str());
    return 77;
  }
  uint64_t seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000007ull;
  if (const char* e = std::getenv("HGAD_SEED")) seed = std::strtoull(e, nullptr, 10);
  std::printf("device: %s (sm_%d%d, %d SMs)  seed: %llu  cuBLAS: %s\n", devices[0].name.c_str(), devices[0].major,
              devices[0].minor, devices[0].multiprocessors, (unsigned long long)seed,
              cu::cublasAvailable() ? "loaded" : "not found");
  Tally t;
  try {
    if (parityChecks) {
#define HGAD_PRINT_OP(op, group) std::printf("  %-24s %s\n", op, #group);
      std::printf("ops of the parity table and their case groups:\n");
      HGAD_PARITY_OPS(HGAD_PRINT_OP)
      uint64_t s = seed;
#define HGAD_RUN_GROUP(group) group(t, s);
      HGAD_PARITY_GROUPS(HGAD_RUN_GROUP)
    }
    if (timing) runTiming(seed, t.passed, t.failed);
  } catch (const std::exception& e) {
    std::printf("FAIL uncaught exception: %s\n", e.what());
    t.failed++;
  }
  std::printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed == 0 ? 0 : 1;
}
