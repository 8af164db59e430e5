// log(sum_i exp(v_i)) of one row, shifted by its maximum so that no exp
// overflows; a maximum that is not finite (an all -inf row, an inf or NaN
// entry) is returned as it is. Shared by the log-softmax (elementwise.cc)
// and the mixture head's per-sample sums (mixture_head.cc).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace hgad {

// v: (n)
template <typename T>
T logSumExp(int64_t n, const T* v) {
  T mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, v[i]);
  if (!std::isfinite(mx)) return mx;
  T acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += std::exp(v[i] - mx);
  return mx + std::log(acc);
}

}  // namespace hgad
