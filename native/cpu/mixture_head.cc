// Fused HGAD mixture head; the math is stated in native/ops/mixture_head.h.
// Each sample touches only K + M centres (its class's intra-class ones and the
// main centres), so distances and their gradients are computed directly on
// those rows rather than by a GEMM against all K*M centres: (K + M - 1) * C
// multiply-adds per sample, accumulated in double. Rows are split across the
// thread pool; centre gradients are summed per chunk and then in chunk order,
// so results depend on the thread count only, never on timing.
#include "mixture_head.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "log_sum_exp.h"
#include "threadpool.h"

namespace hgad {
namespace {

constexpr double kGaussConst = -0.9189385332046727;  // log(1/sqrt(2 pi))
constexpr int64_t kRowGrain = 32;

template <typename T>
double squaredDistance(int64_t C, const T* z, const T* c) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= C; i += 4) {
    for (int l = 0; l < 4; ++l) {
      double d = static_cast<double>(z[i + l]) - static_cast<double>(c[i + l]);
      acc[l] += d * d;
    }
  }
  for (; i < C; ++i) {
    double d = static_cast<double>(z[i]) - static_cast<double>(c[i]);
    acc[0] += d * d;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// out[k] = |z - cent[k, 0]|^2 (k < K); out[K + m] = |z - cent[label, m]|^2 (label >= 0).
template <typename T>
void rowDistances(int64_t K, int64_t M, int64_t C, const T* zr, const T* cent, int32_t label, double* out) {
  for (int64_t k = 0; k < K; ++k) out[k] = squaredDistance(C, zr, cent + k * M * C);
  if (label < 0) return;
  out[K] = out[label];
  for (int64_t m = 1; m < M; ++m) out[K + m] = squaredDistance(C, zr, cent + (label * M + m) * C);
}

// Per-sample quantities in double, from the K + M distances of the row.
struct RowStats {
  std::vector<double> withPrior, plain, intra;
  double lseWithPrior = 0, lsePlain = 0, entropy = 0, lseIntra = 0;

  RowStats(int64_t K, int64_t M) : withPrior(K), plain(K), intra(M) {}

  template <typename T>
  void compute(int64_t K, int64_t M, const double* distRow, const T* lpi, const T* lpa, int32_t label) {
    for (int64_t k = 0; k < K; ++k) {
      plain[k] = -0.5 * distRow[k];
      withPrior[k] = plain[k] + static_cast<double>(lpi[k]);
    }
    lseWithPrior = logSumExp(K, withPrior.data());
    lsePlain = logSumExp(K, plain.data());
    entropy = 0;
    for (int64_t k = 0; k < K; ++k) {
      double logq = plain[k] - lsePlain;
      entropy -= std::exp(logq) * logq;
    }
    if (label >= 0) {
      for (int64_t m = 0; m < M; ++m)
        intra[m] = -0.5 * distRow[K + m] + static_cast<double>(lpa[label * M + m]);
      lseIntra = logSumExp(M, intra.data());
    }
  }

  double logp(int64_t C, double logdet) const {
    const double c = static_cast<double>(C);
    return (c * kGaussConst + lseIntra + logdet) / c;
  }
};

}  // namespace

template <typename T>
void mixtureHeadForward(const MixtureShape& s, const T* z, const T* logdet, const int32_t* labels,
                        const T* Y, const T* cent, const T* lpi, const T* lpa, T* Lg, T* Le,
                        T* Lmi, T* Lgi, T* logp) {
  const int64_t K = s.K, M = s.M, C = s.C;
  const double Cd = static_cast<double>(C);
  parallelFor(s.N, kRowGrain, [&](int64_t b, int64_t e) {
    RowStats st(K, M);
    std::vector<double> dr(K + M);
    for (int64_t n = b; n < e; ++n) {
      const int32_t label = labels ? labels[n] : -1;
      rowDistances(K, M, C, z + n * C, cent, label, dr.data());
      st.compute(K, M, dr.data(), lpi, lpa, label);
      const double ld = static_cast<double>(logdet[n]);
      if (Lg) Lg[n] = static_cast<T>((-st.lseWithPrior - ld) / Cd);
      if (Le) Le[n] = static_cast<T>(st.entropy);
      if (Lmi && Y) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += static_cast<double>(Y[n * K + k]) * (st.withPrior[k] - st.lseWithPrior - static_cast<double>(lpi[k]));
        Lmi[n] = static_cast<T>(acc);
      }
      if (label >= 0) {
        if (Lgi) Lgi[n] = static_cast<T>((-st.lseIntra - ld) / Cd);
        if (logp) logp[n] = static_cast<T>(st.logp(C, ld));
      }
    }
  });
}

template <typename T>
void mixtureHeadBackward(const MixtureShape& s, const T* z, const T* logdet, const int32_t* labels,
                         const T* Y, const T* cent, const T* lpi, const T* lpa,
                         const MixtureWeights<T>& w, T* dz, T* dlogdet, T* dcent, T* dlpi, T* dlpa) {
  const int64_t N = s.N, K = s.K, M = s.M, KM = K * M, C = s.C;
  const double Cd = static_cast<double>(C);
  const double wg = w.g, we = w.e, wmi = w.mi, wgi = w.gi, wz = w.z;
  const bool intra = labels && (wgi != 0 || wz != 0);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threadCount(), N / kRowGrain));
  std::vector<double> partCent(chunks * KM * C, 0.0), partLpi(chunks * K, 0.0), partLpa(chunks * KM, 0.0);
  parallelTasks(chunks, [&](int64_t chunk) {
    RowStats st(K, M);
    std::vector<double> dr(K + M), gInter(K), gIntra(M), dzr(C);
    double* pCent = partCent.data() + chunk * KM * C;
    double* pLpi = partLpi.data() + chunk * K;
    double* pLpa = partLpa.data() + chunk * KM;
    for (int64_t n = N * chunk / chunks; n < N * (chunk + 1) / chunks; ++n) {
      const int32_t label = intra ? labels[n] : -1;
      rowDistances(K, M, C, z + n * C, cent, label, dr.data());
      st.compute(K, M, dr.data(), lpi, lpa, label);
      double sumY = 0;
      if (Y) for (int64_t k = 0; k < K; ++k) sumY += static_cast<double>(Y[n * K + k]);
      double dld = -wg / Cd;
      for (int64_t k = 0; k < K; ++k) {
        const double r = std::exp(st.withPrior[k] - st.lseWithPrior);
        const double logq = st.plain[k] - st.lsePlain;
        double g = wg * 0.5 * r / Cd + we * 0.5 * std::exp(logq) * (logq + st.entropy);
        if (Y && wmi != 0) g += wmi * -0.5 * (static_cast<double>(Y[n * K + k]) - r * sumY);
        gInter[k] = g;
        pLpi[k] += -wg * r / Cd;
      }
      if (label >= 0) {
        const double lp = st.logp(C, static_cast<double>(logdet[n]));
        // L_z = softplus(-logp): d/d(raw log-likelihood) = -sigmoid(-logp) / C
        const double gLogp = wz * (-1.0 / (1.0 + std::exp(lp))) / Cd;
        for (int64_t m = 0; m < M; ++m) {
          const double wm = std::exp(st.intra[m] - st.lseIntra);
          gIntra[m] = wm * (wgi * 0.5 / Cd - 0.5 * gLogp);
          pLpa[label * M + m] += wm * (gLogp - wgi / Cd);
        }
        dld += gLogp - wgi / Cd;
      }
      dlogdet[n] = static_cast<T>(dld);
      // d dist_j / d z = 2 (z - c_j);  d dist_j / d c_j = -2 (z - c_j)
      const T* zr = z + n * C;
      std::fill(dzr.begin(), dzr.end(), 0.0);
      auto pull = [&](double g, int64_t j, bool toCentre) {
        if (g == 0) return;
        const T* cj = cent + j * C;
        double* pc = pCent + j * C;
        for (int64_t c = 0; c < C; ++c) {
          const double diff = 2.0 * g * (static_cast<double>(zr[c]) - static_cast<double>(cj[c]));
          dzr[c] += diff;
          if (toCentre) pc[c] -= diff;
        }
      };
      for (int64_t k = 0; k < K; ++k) pull(gInter[k], k * M, true);
      if (label >= 0) {
        pull(gIntra[0], label * M, false);  // main centre detached in the intra-class mixture
        for (int64_t m = 1; m < M; ++m) pull(gIntra[m], label * M + m, true);
      }
      for (int64_t c = 0; c < C; ++c) dz[n * C + c] = static_cast<T>(dzr[c]);
    }
  });
  parallelFor(KM * C, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double acc = 0;
      for (int64_t c = 0; c < chunks; ++c) acc += partCent[c * KM * C + i];
      dcent[i] = static_cast<T>(acc);
    }
  });
  for (int64_t k = 0; k < K; ++k) {
    double acc = 0;
    for (int64_t c = 0; c < chunks; ++c) acc += partLpi[c * K + k];
    dlpi[k] = static_cast<T>(acc);
  }
  for (int64_t j = 0; j < KM; ++j) {
    double acc = 0;
    for (int64_t c = 0; c < chunks; ++c) acc += partLpa[c * KM + j];
    dlpa[j] = static_cast<T>(acc);
  }
}

#define HGAD_INSTANTIATE(T)                                                                      \
  template void mixtureHeadForward<T>(const MixtureShape&, const T*, const T*, const int32_t*,  \
                                      const T*, const T*, const T*, const T*, T*, T*, T*, T*,    \
                                      T*);                                                       \
  template void mixtureHeadBackward<T>(const MixtureShape&, const T*, const T*, const int32_t*, \
                                       const T*, const T*, const T*, const T*,                   \
                                       const MixtureWeights<T>&, T*, T*, T*, T*, T*);
HGAD_INSTANTIATE(float)
HGAD_INSTANTIATE(double)
#undef HGAD_INSTANTIATE

}  // namespace hgad
