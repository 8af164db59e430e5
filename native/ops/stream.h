// The stream a device op is queued on, as the op headers see it: an opaque
// cudaStream_t (nullptr: the legacy default stream), so that no header of
// native/ops needs a CUDA header.
//
// What every device op (namespace hgad::cuda in native/ops/*.h) shares: it
// takes the CPU op's arguments on float device pointers plus a trailing
// Stream, enqueues its work there and returns without waiting (except where a
// result comes back to the host, as its header says). Every CUDA failure
// throws cuda::CudaError (a std::runtime_error, native/device/device_api.h) naming
// the op, its sizes and cudaGetErrorString; a kernel that fails
// asynchronously surfaces at the next call that checks (usually a stream
// synchronize), and an illegal address poisons the CUDA context for good.
// Nothing touches CUDA at load time: the allocator and cuBLAS are created on
// first use.
#pragma once

namespace hgad::cuda {
using Stream = void*;
}  // namespace hgad::cuda
