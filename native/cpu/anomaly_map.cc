// CPU reference of the anomaly-map chain (native/ops/anomaly_map.h): plain
// loops in the float type T, parallel over images and rows. Bilinear weights
// follow PyTorch's upsample_bilinear2d (the scale in T, lambda = src - floor),
// the Gaussian follows scipy.ndimage (weights computed in double and
// normalised, one 1-D correlation per axis).
#include "anomaly_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "threadpool.h"

namespace hgad {
namespace {
constexpr int64_t kGrain = 1 << 14;

// scipy's 'reflect': half-sample symmetric, folded by its period so that
// kernels wider than the image still land inside it.
inline int64_t reflectIndex(int64_t k, int64_t n) {
  const int64_t period = 2 * n;
  int64_t r = k % period;
  if (r < 0) r += period;
  return r < n ? r : period - 1 - r;
}
}  // namespace

template <typename T> void mapMax(int64_t n, const T* x, T* m) {
  T best = -INFINITY;
  for (int64_t i = 0; i < n; ++i) best = std::max(best, x[i]);
  m[0] = best;
}

template <typename T> void mapShift(int64_t n, const T* x, const T* m, int32_t mode, T* y) {
  const T top = m[0];
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    if (mode == kExpMinusMax) {
      for (int64_t i = b; i < e; ++i) y[i] = std::exp(x[i] - top);
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = top - x[i];
    }
  });
}

template <typename T>
void upsampleBilinear(int64_t B, int64_t h, int64_t w, int64_t H, int64_t W, const T* x, T beta, T* y) {
  const T scaleH = H > 1 ? static_cast<T>(h - 1) / static_cast<T>(H - 1) : T(0);
  const T scaleW = W > 1 ? static_cast<T>(w - 1) / static_cast<T>(W - 1) : T(0);
  parallelFor(B * H, 16, [&](int64_t rb, int64_t re) {
    for (int64_t row = rb; row < re; ++row) {
      const int64_t b = row / H, oy = row % H;
      const T ry = scaleH * static_cast<T>(oy);
      const int64_t y0 = std::min<int64_t>(static_cast<int64_t>(ry), h - 1);
      const int64_t y1 = y0 + (y0 < h - 1 ? 1 : 0);
      const T ly1 = ry - static_cast<T>(y0), ly0 = T(1) - ly1;
      const T* src = x + b * h * w;
      T* dst = y + row * W;
      for (int64_t ox = 0; ox < W; ++ox) {
        const T rx = scaleW * static_cast<T>(ox);
        const int64_t x0 = std::min<int64_t>(static_cast<int64_t>(rx), w - 1);
        const int64_t x1 = x0 + (x0 < w - 1 ? 1 : 0);
        const T lx1 = rx - static_cast<T>(x0), lx0 = T(1) - lx1;
        const T v = ly0 * (lx0 * src[y0 * w + x0] + lx1 * src[y0 * w + x1]) +
                    ly1 * (lx0 * src[y1 * w + x0] + lx1 * src[y1 * w + x1]);
        dst[ox] = beta == T(0) ? v : beta * dst[ox] + v;
      }
    }
  });
}

template <typename T>
void gaussianBlur(int64_t B, int64_t H, int64_t W, T sigma, T truncate, const T* x, T* work, T* y) {
  const int64_t radius = gaussianRadius(static_cast<double>(sigma), static_cast<double>(truncate));
  std::vector<T> weights(static_cast<size_t>(2 * radius + 1), T(1));
  if (radius > 0) {
    std::vector<double> wd(weights.size());
    double sum = 0;
    for (int64_t k = -radius; k <= radius; ++k) {
      wd[k + radius] = std::exp(-0.5 / (static_cast<double>(sigma) * sigma) * static_cast<double>(k * k));
      sum += wd[k + radius];
    }
    for (size_t k = 0; k < wd.size(); ++k) weights[k] = static_cast<T>(wd[k] / sum);
  }
  const T* wt = weights.data() + radius;
  // rows axis (y) first, as scipy filters axis 0 before axis 1
  parallelFor(B * H, 16, [&](int64_t rb, int64_t re) {
    for (int64_t row = rb; row < re; ++row) {
      const int64_t b = row / H, oy = row % H;
      const T* src = x + b * H * W;
      T* dst = work + row * W;
      for (int64_t ox = 0; ox < W; ++ox) dst[ox] = T(0);
      for (int64_t k = -radius; k <= radius; ++k) {
        const T* line = src + reflectIndex(oy + k, H) * W;
        const T c = wt[k];
        for (int64_t ox = 0; ox < W; ++ox) dst[ox] += c * line[ox];
      }
    }
  });
  parallelFor(B * H, 16, [&](int64_t rb, int64_t re) {
    for (int64_t row = rb; row < re; ++row) {
      const T* line = work + row * W;
      T* dst = y + row * W;
      for (int64_t ox = 0; ox < W; ++ox) {
        T acc = 0;
        for (int64_t k = -radius; k <= radius; ++k) acc += wt[k] * line[reflectIndex(ox + k, W)];
        dst[ox] = acc;
      }
    }
  });
}

template <typename T> void mapProduct(int64_t n, const T* a, const T* b, T* y) {
  parallelFor(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y[i] = a[i] * b[i];
  });
}

#define HGAD_INSTANTIATE(T)                                                                         \
  template void mapMax<T>(int64_t, const T*, T*);                                                   \
  template void mapShift<T>(int64_t, const T*, const T*, int32_t, T*);                              \
  template void upsampleBilinear<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T, T*);  \
  template void gaussianBlur<T>(int64_t, int64_t, int64_t, T, T, const T*, T*, T*);                 \
  template void mapProduct<T>(int64_t, const T*, const T*, T*);
HGAD_INSTANTIATE(float)
HGAD_INSTANTIATE(double)
#undef HGAD_INSTANTIATE

}  // namespace hgad
