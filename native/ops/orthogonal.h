// The Haar-random rotation of a coupling block, from a Gaussian matrix.
//   A = Q R (Householder QR), Q <- Q diag(sign(R_kk)) so that R's diagonal is
//   positive, then Q's first column negated when det(Q) = -1.
// The QR of a Gaussian matrix with R's diagonal made positive is Haar on
// O(C) (Mezzadri 2007); negating one column maps O(C) \ SO(C) onto SO(C)
// with the Haar measure. QR with a positive diagonal is unique, so this is the
// same Q as Gram-Schmidt gives for the same A, up to rounding.
// Shapes: a (C, C) column-major (column k at a[k*C ...]; overwritten),
// q (C, C) row-major. Not differentiable (a constant of the block).
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

template <typename T> void haarOrthogonal(int64_t C, T* a, T* q);

namespace cuda {
// a and q as above, device memory; a is overwritten.
void haarOrthogonal(int64_t C, float* a, float* q, Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
