// The stream a device op is queued on, as the op headers see it: an opaque
// cudaStream_t (nullptr: the legacy default stream), so that no header of
// native/ops needs a CUDA header.
#pragma once

namespace hgad::cuda {
using Stream = void*;
}  // namespace hgad::cuda
