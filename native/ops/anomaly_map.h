// Anomaly-map post-processing: the chain of the reference evaluation that
// turns per-position scores of each feature level into a pixel map.
//   per level: P = exp(v - max v)            (mapShift, mode kExpMinusMax)
//   upsample P bilinearly to the mask size, align_corners=True, and sum
//                                            (upsampleBilinear, beta = 1)
//   A = max S - S                            (mapShift, mode kMaxMinus)
//   Gaussian filter per image, scipy's defaults: reflect border, radius
//   int(truncate * sigma + 0.5)              (gaussianBlur)
//   fusion of two maps: F = A_logp * A_entropy (mapProduct)
// Shapes: x: (B, h, w) low resolution; y: (B, H, W) mask size; maps: (B, H, W).
// The max of mapShift is over the whole of x (every image of the batch), as the
// reference normalises over the scored set; it is read from a 1-element `m`
// that mapMax writes, so that on a device it never visits the host.
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

enum MapShiftMode : int32_t { kExpMinusMax = 0, kMaxMinus = 1 };

// m[0] = max_i x[i]  (n >= 1)
template <typename T> void mapMax(int64_t n, const T* x, T* m);
// y = exp(x - m[0]) (kExpMinusMax) or m[0] - x (kMaxMinus); y may alias x.
template <typename T> void mapShift(int64_t n, const T* x, const T* m, int32_t mode, T* y);
// y (B, H, W) = beta * y + bilinear(x (B, h, w)) with PyTorch's align_corners=True
// sampling: source coordinate = dst * (in - 1) / (out - 1) (0 when out == 1).
template <typename T>
void upsampleBilinear(int64_t B, int64_t h, int64_t w, int64_t H, int64_t W, const T* x, T beta, T* y);
// y (B, H, W) = scipy.ndimage.gaussian_filter(x[b], sigma, truncate=truncate) per image:
// separable, rows axis first (into work (B, H, W)), then columns; 'reflect' border
// (d c b a | a b c d | d c b a). y must not alias x or work.
template <typename T>
void gaussianBlur(int64_t B, int64_t H, int64_t W, T sigma, T truncate, const T* x, T* work, T* y);
// y = a * b elementwise (length n); y may alias a or b.
template <typename T> void mapProduct(int64_t n, const T* a, const T* b, T* y);

// The Gaussian's radius: int(truncate * sigma + 0.5), as scipy.
inline int64_t gaussianRadius(double sigma, double truncate) { return static_cast<int64_t>(truncate * sigma + 0.5); }

namespace cuda {
void mapMax(int64_t n, const float* x, float* m, Stream stream);
void mapShift(int64_t n, const float* x, const float* m, int32_t mode, float* y, Stream stream);
void upsampleBilinear(int64_t B, int64_t h, int64_t w, int64_t H, int64_t W, const float* x, float beta, float* y,
                      Stream stream);
void gaussianBlur(int64_t B, int64_t H, int64_t W, float sigma, float truncate, const float* x, float* work, float* y,
                  Stream stream);
void mapProduct(int64_t n, const float* a, const float* b, float* y, Stream stream);
}  // namespace cuda

}  // namespace hgad
