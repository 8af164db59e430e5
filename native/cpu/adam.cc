// CPU reference of the Adam step (native/ops/adam.h): double arithmetic,
// the moments stored in T and read back before the update, so that float32
// parameters see the rounded moments PyTorch's float32 kernels would.
#include "adam.h"

#include <cmath>

namespace hgad {

template <typename T>
void adamStep(int64_t n, T* p, const T* g, T* m, T* v, double lr, double beta1, double beta2,
              double eps, double weightDecay, int64_t step) {
  const double t = static_cast<double>(step);
  const double stepSize = lr / (1.0 - std::pow(beta1, t));
  const double bc2Sqrt = std::sqrt(1.0 - std::pow(beta2, t));
  for (int64_t i = 0; i < n; ++i) {
    const double pi = p[i];
    const double gi = weightDecay != 0.0 ? g[i] + weightDecay * pi : static_cast<double>(g[i]);
    m[i] = static_cast<T>(m[i] * beta1 + gi * (1.0 - beta1));
    v[i] = static_cast<T>(v[i] * beta2 + (1.0 - beta2) * gi * gi);
    p[i] = static_cast<T>(pi - stepSize * (m[i] / (std::sqrt(static_cast<double>(v[i])) / bc2Sqrt + eps)));
  }
}

template void adamStep<float>(int64_t, float*, const float*, float*, float*, double, double, double, double, double, int64_t);
template void adamStep<double>(int64_t, double*, const double*, double*, double*, double, double, double, double, double, int64_t);

}  // namespace hgad
