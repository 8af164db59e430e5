// CPU reference of row replication (native/ops/rows.h): one copy of the
// table per image, the images in parallel. Memory-bound: bytes 4 R P (read,
// from cache after the first copy) + 4 copies R P (write).
#include "rows.h"

#include <algorithm>

#include "threadpool.h"

namespace hgad {

template <typename T> void repeatRows(int64_t copies, int64_t R, int64_t P, const T* table, T* y) {
  const int64_t block = R * P;
  // At least ~64K elements per thread: below that a copy is cheaper than a hand-off.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, block));
  parallelFor(copies, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) std::copy(table, table + block, y + c * block);
  });
}

template void repeatRows<float>(int64_t, int64_t, int64_t, const float*, float*);
template void repeatRows<double>(int64_t, int64_t, int64_t, const double*, double*);

}  // namespace hgad
