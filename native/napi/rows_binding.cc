// N-API registration of row replication (native/ops/rows.h), one function for
// both backends: host Float32Array/Float64Array arguments run the CPU
// template (float type from the table), DeviceBuffers run the CUDA kernel on
// the trailing stream argument.
#include <napi.h>

#include <string>

#include "args.h"
#include "rows.h"
#ifdef HGAD_WITH_CUDA
#include "cuda_resources.h"
#endif

namespace hgad::napi {
namespace {

template <typename T>
void run(const Napi::CallbackInfo& info, int64_t copies, int64_t R, int64_t P, int64_t n) {
  const T* table = getArray<T>(info, 3, "table", R * P);
  T* y = getArray<T>(info, 4, "y", n);
  if (n > 0 && table < y + n && y < table + R * P) throwRange(info.Env(), "arrays that do not overlap", "table, y", "overlapping arrays");
  repeatRows<T>(copies, R, P, table, y);
}

// repeatRows(copies, R, P, table, y, stream?)
Napi::Value RepeatRows(const Napi::CallbackInfo& info) {
  const int64_t copies = getInt(info, 0, "copies"), R = getInt(info, 1, "R"), P = getInt(info, 2, "P");
  if (R > 0 && P > 0 && copies > (int64_t(1) << 50) / (R * P)) {
    throwRange(info.Env(), "copies * R * P below 2^50", "copies, R, P", std::to_string(copies) + ", " + std::to_string(R) + ", " + std::to_string(P));
  }
  const int64_t n = copies * R * P;
  if (info[3].IsTypedArray()) {
    if (callDType(info, 3, "table") == DType::Float32) {
      run<float>(info, copies, R, P, n);
    } else {
      run<double>(info, copies, R, P, n);
    }
    return info.Env().Undefined();
  }
#ifdef HGAD_WITH_CUDA
  return guarded(info, "repeatRows (" + std::to_string(copies) + " x " + std::to_string(R) + " x " + std::to_string(P) + ")", [&] {
    const float* table = deviceArg(info, 3, "table", R * P);
    float* y = deviceArg(info, 4, "y", n);
    cuda::repeatRows(copies, R, P, table, y, streamArg(info, 5));
  });
#else
  throwType(info.Env(), "a Float32Array or Float64Array", "table", info[3]);
#endif
}

}  // namespace

void registerRows(Napi::Env env, Napi::Object exports) {
  exports["repeatRows"] = Napi::Function::New(env, RepeatRows, "repeatRows");
}

}  // namespace hgad::napi
