// Row replication for the conditions of a batch of feature maps: a level's
// positional-encoding table holds one row per position of its map; a batch of
// `copies` images needs the table once per image, in (image, y, x) order.
//   y[c * R + r, :] = table[r, :]   for c < copies, r < R
// Shapes: table (R, P), y (copies * R, P). Not differentiable (the encoding is
// a constant of the level).
#pragma once
#include <cstdint>

#include "stream.h"

namespace hgad {

template <typename T> void repeatRows(int64_t copies, int64_t R, int64_t P, const T* table, T* y);

namespace cuda {
void repeatRows(int64_t copies, int64_t R, int64_t P, const float* table, float* y, Stream stream = nullptr);
}  // namespace cuda

}  // namespace hgad
