// N-API registrations of the fused mixture head (native/ops/mixture_head.h),
// one per op for host arrays and device buffers (native/napi/dispatch.h).
#include <napi.h>

#include <string>

#include "args.h"
#include "dispatch.h"
#include "mixture_head.h"

namespace hgad::napi {
namespace {

MixtureShape shapeOf(const Napi::CallbackInfo& info) {
  MixtureShape s;
  s.N = getInt(info, 0, "N");
  s.C = getInt(info, 1, "C", 1);
  s.K = getInt(info, 2, "K", 1);
  s.M = getInt(info, 3, "M", 1);
  if (s.K * s.M > 2147483647)
    throwRange(info.Env(), "K * M below 2^31", "K, M", std::to_string(s.K) + " * " + std::to_string(s.M));
  return s;
}

// The shared arguments (z, logdet, labels, Y, cent, lpi, lpa) at 4..10. Host
// labels are checked to lie in [0, K); the CUDA kernels treat an id outside it
// as no label rather than read out of bounds (the check would need a copy back).
template <typename A>
struct MixtureArgs {
  using T = typename A::Float;
  const T *z, *logdet, *Y, *cent, *lpi, *lpa;
  const int32_t* labels;

  MixtureArgs(const Napi::CallbackInfo& info, const A& a, const MixtureShape& s) {
    z = a.array(4, "z", s.N * s.C);
    logdet = a.array(5, "logdet", s.N);
    labels = a.ints(6, "labels", s.N, true);
    Y = a.array(7, "Y", s.N * s.K, true);
    cent = a.array(8, "centres", s.K * s.M * s.C);
    lpi = a.array(9, "logPriorInter", s.K);
    lpa = a.array(10, "logPriorIntra", s.K * s.M);
    if constexpr (!A::device) {
      if (labels) {
        for (int64_t n = 0; n < s.N; ++n) {
          if (labels[n] < 0 || labels[n] >= s.K)
            throwRange(info.Env(), "class ids in [0, " + std::to_string(s.K) + ")", "labels",
                       std::to_string(labels[n]) + " at index " + std::to_string(n));
        }
      }
    }
  }
};

// Both ops: the shape at 0..3, then where they run (told by z) and their
// shared arguments; body(a, s, m) reads the rest and calls the kernel.
template <typename Body>
Napi::Value withMixtureArgs(const Napi::CallbackInfo& info, const char* op, size_t streamAt, Body&& body) {
  const MixtureShape s = shapeOf(info);
  return dispatch(info, op, 4, "z", streamAt, [&](auto a) { body(a, s, MixtureArgs<decltype(a)>(info, a, s)); });
}

// mixtureHeadForward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, Lg, Le, Lmi, Lgi, logp, stream?)
Napi::Value MixtureHeadForward(const Napi::CallbackInfo& info) {
  return withMixtureArgs(info, "mixtureHeadForward", 16, [&](auto a, const MixtureShape& s, const auto& m) {
    using A = decltype(a);
    using T = typename A::Float;
    T* Lg = a.array(11, "Lg", s.N, true);
    T* Le = a.array(12, "Le", s.N, true);
    T* Lmi = a.array(13, "Lmi", s.N, true);
    T* Lgi = a.array(14, "Lgi", s.N, true);
    T* logp = a.array(15, "logp", s.N, true);
    if (Lmi && !m.Y) throwType(info.Env(), "a Y (smoothed one-hot labels) array when Lmi is wanted", "Y", info[7]);
    if ((Lgi || logp) && !m.labels) throwType(info.Env(), "labels when Lgi or logp is wanted", "labels", info[6]);
    if constexpr (A::device)
      cuda::mixtureHeadForward(s, m.z, m.logdet, m.labels, m.Y, m.cent, m.lpi, m.lpa, Lg, Le, Lmi, Lgi, logp, a.stream());
    else
      mixtureHeadForward<T>(s, m.z, m.logdet, m.labels, m.Y, m.cent, m.lpi, m.lpa, Lg, Le, Lmi, Lgi, logp);
  });
}
HGAD_OP("mixtureHeadForward", MixtureHeadForward);

// mixtureHeadBackward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa,
//                     wg, we, wmi, wgi, wz, dz, dlogdet, dcent, dlpi, dlpa, stream?)
Napi::Value MixtureHeadBackward(const Napi::CallbackInfo& info) {
  return withMixtureArgs(info, "mixtureHeadBackward", 21, [&](auto a, const MixtureShape& s, const auto& m) {
    using A = decltype(a);
    using T = typename A::Float;
    MixtureWeights<T> w;
    w.g = static_cast<T>(getNumber(info, 11, "weights.g"));
    w.e = static_cast<T>(getNumber(info, 12, "weights.e"));
    w.mi = static_cast<T>(getNumber(info, 13, "weights.mi"));
    w.gi = static_cast<T>(getNumber(info, 14, "weights.gi"));
    w.z = static_cast<T>(getNumber(info, 15, "weights.z"));
    if (w.mi != T(0) && !m.Y) throwType(info.Env(), "a Y array when weights.mi is not 0", "Y", info[7]);
    if ((w.gi != T(0) || w.z != T(0)) && !m.labels)
      throwType(info.Env(), "labels when weights.gi or weights.z is not 0", "labels", info[6]);
    T* dz = a.array(16, "dz", s.N * s.C);
    T* dlogdet = a.array(17, "dlogdet", s.N);
    T* dcent = a.array(18, "dcent", s.K * s.M * s.C);
    T* dlpi = a.array(19, "dlpi", s.K);
    T* dlpa = a.array(20, "dlpa", s.K * s.M);
    if constexpr (A::device)
      cuda::mixtureHeadBackward(s, m.z, m.logdet, m.labels, m.Y, m.cent, m.lpi, m.lpa, w, dz, dlogdet, dcent, dlpi, dlpa, a.stream());
    else
      mixtureHeadBackward<T>(s, m.z, m.logdet, m.labels, m.Y, m.cent, m.lpi, m.lpa, w, dz, dlogdet, dcent, dlpi, dlpa);
  });
}
HGAD_OP("mixtureHeadBackward", MixtureHeadBackward);

}  // namespace

}  // namespace hgad::napi
