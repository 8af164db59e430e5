// Elementwise, row and column kernels used by the autograd and the flow.
// Shapes: X, Y: (N, M) row-major; v: (M); r: (N).
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

// y += alpha * x  (length n)
template <typename T> void axpy(int64_t n, T alpha, const T* x, T* y);
// out = alpha * x  (length n; out may alias x)
template <typename T> void scale(int64_t n, T alpha, const T* x, T* out);
// dh *= (h > 0): the ReLU backward from the ReLU's output h.
template <typename T> void reluBackward(int64_t n, const T* h, T* dh);
// v = beta * v + sum over rows of X (N, M)
template <typename T> void columnSum(int64_t N, int64_t M, const T* X, T beta, T* v);
// r[n] = sum_m X[n, m]
template <typename T> void rowSum(int64_t N, int64_t M, const T* X, T* r);
// Y[n, :] = X[n, :] - logsumexp(X[n, :]); Y may alias X.
template <typename T> void logSoftmaxRows(int64_t N, int64_t M, const T* X, T* Y);
// Backward of log-softmax from its output Y: dX = dY - softmax(X) * sum_m dY[n, m]; dX may alias dY.
template <typename T> void logSoftmaxRowsBackward(int64_t N, int64_t M, const T* Y, const T* dY, T* dX);
// out (N, W0 + P) = [X[:, c0:c0+W0] | Z]; X has row stride ldx, Z is (N, P) (P may be 0).
template <typename T>
void packColumns(int64_t N, const T* X, int64_t ldx, int64_t c0, int64_t W0, const T* Z, int64_t P, T* out);
// dX[:, c0:c0+W0] += dOut[:, :W0] (the other columns of dX untouched); dZ = dOut[:, W0:] when dZ is not null.
template <typename T>
void unpackColumnsBackward(int64_t N, const T* dOut, int64_t W0, int64_t P, T* dX, int64_t ldx, int64_t c0, T* dZ);
// Index of the first non-finite element, or -1.
template <typename T> int64_t firstNonFinite(int64_t n, const T* x);

// The same ops on float device buffers (firstNonFinite is a host check).
namespace cuda {
void axpy(int64_t n, float alpha, const float* x, float* y, Stream stream = nullptr);
void scale(int64_t n, float alpha, const float* x, float* out, Stream stream = nullptr);
void reluBackward(int64_t n, const float* h, float* dh, Stream stream = nullptr);
void columnSum(int64_t N, int64_t M, const float* X, float beta, float* v, Stream stream = nullptr);
void rowSum(int64_t N, int64_t M, const float* X, float* r, Stream stream = nullptr);
void logSoftmaxRows(int64_t N, int64_t M, const float* X, float* Y, Stream stream = nullptr);
void logSoftmaxRowsBackward(int64_t N, int64_t M, const float* Y, const float* dY, float* dX,
                            Stream stream = nullptr);
void packColumns(int64_t N, const float* X, int64_t ldx, int64_t c0, int64_t W0, const float* Z,
                 int64_t P, float* out, Stream stream = nullptr);
void unpackColumnsBackward(int64_t N, const float* dOut, int64_t W0, int64_t P, float* dX,
                           int64_t ldx, int64_t c0, float* dZ, Stream stream = nullptr);
// dst[i] = value for i in [0, n) (any float, NaN included): the device side of
// a host array's fill(), registered as the buffer function cudaFill.
void fill(int64_t n, float value, float* dst, Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
