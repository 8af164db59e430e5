// CPU reference of the Haar rotation (native/ops/orthogonal.h): blocked
// Householder QR in the compact WY form (LAPACK dgeqrf/dlarft/dorgqr), panels
// of B columns. Each block reflector I - V T V^T is applied to the trailing
// columns one column at a time (w = V^T a, w = T^T w, a -= V w), columns in
// parallel: V (m x B) stays in cache while a column streams once, so the
// work is compute-bound rather than the n^3 memory traffic of applying one
// reflector at a time. Q is formed by applying the block reflectors in
// reverse order to the identity. Cost about (8/3) C^3 flops.
#include "orthogonal.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "threadpool.h"

namespace hgad {
namespace {

constexpr int64_t B = 32;

// The hot loops, compiled for the vector units the CPU has.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HGAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HGAD_CLONES
#endif

template <typename T> HGAD_CLONES T dot(int64_t m, const T* x, const T* y) {
  T s = 0;
  for (int64_t i = 0; i < m; ++i) s += x[i] * y[i];
  return s;
}

template <typename T> HGAD_CLONES void axpy(int64_t m, T alpha, const T* x, T* y) {
  for (int64_t i = 0; i < m; ++i) y[i] += alpha * x[i];
}

// Reflector of x (length m), LAPACK's dlarfg: (I - tau v v^T) x = beta e1 with
// v[0] = 1 (not stored), v[1:] written over x[1:]. Returns tau; beta in x[0].
template <typename T> T reflector(int64_t m, T* x) {
  const T alpha = x[0];
  const T xnorm = m > 1 ? std::sqrt(dot(m - 1, x + 1, x + 1)) : T(0);
  if (xnorm == T(0)) return T(0);
  const T beta = -std::copysign(std::hypot(alpha, xnorm), alpha);
  const T scale = T(1) / (alpha - beta);
  for (int64_t i = 1; i < m; ++i) x[i] *= scale;
  x[0] = beta;
  return (beta - alpha) / beta;
}

// The panel's V (m x b, column-major, unit diagonal, zeros above) and T
// (b x b upper triangular, column-major) of I - V T V^T = H_0 H_1 ... H_{b-1}.
template <typename T> void blockReflector(int64_t C, int64_t k, int64_t b, const T* a, const T* tau, std::vector<T>& V, std::vector<T>& Tm) {
  const int64_t m = C - k;
  V.assign(m * b, T(0));
  for (int64_t t = 0; t < b; ++t) {
    T* v = V.data() + t * m;
    v[t] = T(1);
    std::copy(a + (k + t) * C + k + t + 1, a + (k + t) * C + C, v + t + 1);
  }
  Tm.assign(b * b, T(0));
  for (int64_t t = 0; t < b; ++t) {
    // T(0:t, t) = -tau_t T(0:t, 0:t) V(:, 0:t)^T v_t
    std::vector<T> w(t);
    for (int64_t s = 0; s < t; ++s) w[s] = dot(m - t, V.data() + s * m + t, V.data() + t * m + t);
    for (int64_t r = 0; r < t; ++r) {
      T acc = 0;
      for (int64_t s = r; s < t; ++s) acc += Tm[s * b + r] * w[s];
      Tm[t * b + r] = -tau[k + t] * acc;
    }
    Tm[t * b + t] = tau[k + t];
  }
}

// Columns [j0, j1) of x (rows k.., leading dimension C) <- (I - V op(T) V^T) x,
// op(T) = T^T for the QR's trailing update (Q^T), T for forming Q. V is read
// row by row (row-major copy, B wide, zero-padded) and G columns at a time,
// so each pass over V serves G columns: the work is bound by arithmetic, not
// by re-reading V (m x B, megabytes at C = 5000) for every column.
constexpr int64_t G = 8;

template <typename T> HGAD_CLONES void applyGroup(int64_t m, int64_t g, const T* Vr, const T* Tm, bool transposeT, T* const* cols) {
  T w[G][B] = {};
  for (int64_t i = 0; i < m; ++i) {
    const T* v = Vr + i * B;
    for (int64_t c = 0; c < g; ++c) {
      const T a = cols[c][i];
      for (int64_t t = 0; t < B; ++t) w[c][t] += v[t] * a;
    }
  }
  T u[G][B];
  for (int64_t c = 0; c < g; ++c) {
    for (int64_t r = 0; r < B; ++r) {
      T acc = 0;
      if (transposeT) for (int64_t s = 0; s <= r; ++s) acc += Tm[r * B + s] * w[c][s];
      else for (int64_t s = r; s < B; ++s) acc += Tm[s * B + r] * w[c][s];
      u[c][r] = acc;
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    const T* v = Vr + i * B;
    for (int64_t c = 0; c < g; ++c) {
      T acc = 0;
      for (int64_t t = 0; t < B; ++t) acc += v[t] * u[c][t];
      cols[c][i] -= acc;
    }
  }
}

template <typename T> void applyBlock(int64_t C, int64_t k, int64_t b, const std::vector<T>& V, const std::vector<T>& Tm, bool transposeT, T* x, int64_t j0, int64_t j1) {
  const int64_t m = C - k;
  // Row-major V and T, zero-padded to B columns (a last, narrower panel).
  std::vector<T> Vr(m * B, T(0)), Tp(B * B, T(0));
  for (int64_t t = 0; t < b; ++t) {
    for (int64_t i = 0; i < m; ++i) Vr[i * B + t] = V[t * m + i];
    for (int64_t r = 0; r < b; ++r) Tp[t * B + r] = Tm[t * b + r];
  }
  const int64_t groups = (j1 - j0 + G - 1) / G;
  parallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    T* cols[G];
    for (int64_t gi = g0; gi < g1; ++gi) {
      const int64_t first = j0 + gi * G, g = std::min(G, j1 - first);
      for (int64_t c = 0; c < g; ++c) cols[c] = x + (first + c) * C + k;
      applyGroup(m, g, Vr.data(), Tp.data(), transposeT, cols);
    }
  });
}

}  // namespace

template <typename T> void haarOrthogonal(int64_t C, T* a, T* q) {
  if (C <= 0) return;
  std::vector<T> tau(C), V, Tm;
  // QR: panels of B columns, each factored column by column, then its block
  // reflector applied to the columns right of it.
  for (int64_t k = 0; k < C; k += B) {
    const int64_t b = std::min(B, C - k);
    for (int64_t t = 0; t < b; ++t) {
      const int64_t c = k + t;
      T* x = a + c * C + c;
      tau[c] = reflector(C - c, x);
      if (tau[c] == T(0)) continue;
      // The rest of the panel: column j <- (I - tau v v^T) column j.
      const T beta = x[0];
      x[0] = T(1);
      for (int64_t j = c + 1; j < k + b; ++j) {
        T* y = a + j * C + c;
        axpy(C - c, -tau[c] * dot(C - c, x, y), x, y);
      }
      x[0] = beta;
    }
    if (k + b < C) {
      blockReflector(C, k, b, a, tau.data(), V, Tm);
      applyBlock(C, k, b, V, Tm, true, a, k + b, C);
    }
  }
  std::vector<T> sign(C);
  int flips = 0;
  for (int64_t c = 0; c < C; ++c) {
    sign[c] = a[c * C + c] < T(0) ? T(-1) : T(1);
    if (tau[c] != T(0)) flips++;
    if (sign[c] < T(0)) flips++;
  }
  // Q = H_0 ... H_{C-1}: the identity, block reflectors applied last to first
  // (each touches only rows and columns from its k on).
  std::vector<T> Q(C * C, T(0));
  for (int64_t c = 0; c < C; ++c) Q[c * C + c] = T(1);
  for (int64_t k = ((C - 1) / B) * B; k >= 0; k -= B) {
    const int64_t b = std::min(B, C - k);
    blockReflector(C, k, b, a, tau.data(), V, Tm);
    applyBlock(C, k, b, V, Tm, false, Q.data(), k, C);
  }
  // det(Q diag(sign)) = (-1)^flips; negate the first column when it is -1.
  if (flips % 2 == 1) sign[0] = -sign[0];
  parallelFor(C, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i)
      for (int64_t c = 0; c < C; ++c) q[i * C + c] = Q[c * C + i] * sign[c];
  });
}

template void haarOrthogonal<float>(int64_t, float*, float*);
template void haarOrthogonal<double>(int64_t, double*, double*);

}  // namespace hgad
