// Fused HGAD mixture head; math as native/ops/mixture_head.h.
//
// Per sample n: the K + M - 1 squared distances to the main centres and to
// the centres of its class, then the softmax statistics (three log-sum-exps
// and an entropy), the five loss terms (forward) or the per-centre weights
// and dz (backward). FLOPs per sample ~ 3 C (K + M - 1) (distances) plus
// 3 C (K + M) in backward (dz); bytes: z read once per centre (from L1),
// 4 C written (dz). Centre gradients dcent[j] = -2 sum_n g_nj (z_n - c_j)
// are a second kernel: FLOPs 3 C N (K + M - 1), bytes 4 N C + 8 N (K + M).
//
// Precision: distances, log-sum-exps and every reduction are accumulated in
// double, exactly as native/cpu/mixture_head.cc does (the loss weights L_mi
// by lambda2 = 100; the float expansion |z|^2 - 2 z.c + |c|^2 loses digits
// that move the flow's gradients). On Hopper, FP64 runs at half the FP32
// rate and this head is a small part of a step, so double costs little and
// keeps the CUDA path within ~1e-6 relative of the float64 reference.
//
// Layout: one warp per sample, with its K + M distances and weights in
// shared memory. Backward writes per-sample weights to a workspace laid out
// (K, N) / (M, N) so the reductions over samples read it coalesced. Centre
// gradients: block (32 channels) x (a fixed range of samples), sample tiles
// staged in shared memory; each centre's accumulator row is owned by one
// warp (main centre k by warp k % 8, class l's intra centres by warp l % 8),
// so no atomics are needed, and partial sums per sample range are added in
// a fixed order: results are deterministic for a given N.
#include <algorithm>

#include "cuda_common.cuh"

namespace hgad {
namespace cuda {

namespace {

constexpr double kGaussConst = -0.9189385332046727;  // log(1/sqrt(2 pi))
constexpr int kWarpsMax = 8;

struct Dims {
  int64_t N, C, K, M;
};

// Per-warp shared arrays (doubles): dist[K+M] plain[K] withPrior[K] intra[M] gInter[K] gIntra[M].
__host__ __device__ inline int64_t warpScratchDoubles(int64_t K, int64_t M) { return 4 * K + 3 * M; }

struct Scratch {
  double *dist, *plain, *withPrior, *intra, *gInter, *gIntra;
  __device__ Scratch(double* base, int64_t K, int64_t M)
      : dist(base), plain(base + K + M), withPrior(plain + K), intra(withPrior + K),
        gInter(intra + M), gIntra(gInter + K) {}
};

struct Stats {
  double lseWithPrior, lsePlain, entropy, lseIntra;
};

__device__ double squaredDistance(int64_t C, const float* z, const float* c, int lane) {
  double acc = 0.0;
  for (int64_t i = lane; i < C; i += 32) {
    const double d = static_cast<double>(z[i]) - static_cast<double>(c[i]);
    acc += d * d;
  }
  return detail::warpSum(acc);
}

// Distances and softmax statistics of sample n into the warp's scratch.
__device__ Stats sampleStats(const Dims& d, const float* zr, const float* cent, const float* lpi,
                             const float* lpa, int32_t label, Scratch& sc, int lane) {
  const int64_t K = d.K, M = d.M, C = d.C;
  for (int64_t k = 0; k < K; ++k) {
    const double dk = squaredDistance(C, zr, cent + k * M * C, lane);
    if (lane == 0) sc.dist[k] = dk;
  }
  if (label >= 0)
    for (int64_t m = 1; m < M; ++m) {
      const double dm = squaredDistance(C, zr, cent + (label * M + m) * C, lane);
      if (lane == 0) sc.dist[K + m] = dm;
    }
  __syncwarp();
  if (label >= 0 && lane == 0) sc.dist[K] = sc.dist[label];
  for (int64_t k = lane; k < K; k += 32) {
    sc.plain[k] = -0.5 * sc.dist[k];
    sc.withPrior[k] = sc.plain[k] + static_cast<double>(lpi[k]);
  }
  __syncwarp();
  Stats st;
  st.lseWithPrior = detail::warpLogSumExp(sc.withPrior, K, lane);
  st.lsePlain = detail::warpLogSumExp(sc.plain, K, lane);
  double ent = 0.0;
  for (int64_t k = lane; k < K; k += 32) {
    const double logq = sc.plain[k] - st.lsePlain;
    ent -= exp(logq) * logq;
  }
  st.entropy = detail::warpSum(ent);
  st.lseIntra = 0.0;
  if (label >= 0) {
    for (int64_t m = lane; m < M; m += 32)
      sc.intra[m] = -0.5 * sc.dist[K + m] + static_cast<double>(lpa[label * M + m]);
    __syncwarp();
    st.lseIntra = detail::warpLogSumExp(sc.intra, M, lane);
  }
  return st;
}

__device__ inline int32_t effectiveLabel(const int32_t* labels, int64_t n, int64_t K) {
  if (!labels) return -1;
  const int32_t l = labels[n];
  return (l >= 0 && l < K) ? l : -1;
}

__global__ void forwardKernel(Dims d, const float* z, const float* logdet, const int32_t* labels,
                              const float* Y, const float* cent, const float* lpi,
                              const float* lpa, float* Lg, float* Le, float* Lmi, float* Lgi,
                              float* logp) {
  extern __shared__ double smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  Scratch sc(smem + warp * warpScratchDoubles(d.K, d.M), d.K, d.M);
  const double Cd = static_cast<double>(d.C);
  for (int64_t n = int64_t(blockIdx.x) * warps + warp; n < d.N; n += int64_t(gridDim.x) * warps) {
    const int32_t label = effectiveLabel(labels, n, d.K);
    const Stats st = sampleStats(d, z + n * d.C, cent, lpi, lpa, label, sc, lane);
    const double ld = static_cast<double>(logdet[n]);
    if (Lmi && Y) {
      double acc = 0.0;
      for (int64_t k = lane; k < d.K; k += 32)
        acc += static_cast<double>(Y[n * d.K + k]) *
               (sc.withPrior[k] - st.lseWithPrior - static_cast<double>(lpi[k]));
      acc = detail::warpSum(acc);
      if (lane == 0) Lmi[n] = static_cast<float>(acc);
    }
    if (lane == 0) {
      if (Lg) Lg[n] = static_cast<float>((-st.lseWithPrior - ld) / Cd);
      if (Le) Le[n] = static_cast<float>(st.entropy);
      if (label >= 0) {
        if (Lgi) Lgi[n] = static_cast<float>((-st.lseIntra - ld) / Cd);
        if (logp) logp[n] = static_cast<float>((Cd * kGaussConst + st.lseIntra + ld) / Cd);
      }
    }
    __syncwarp();  // the scratch is rewritten by the next sample
  }
}

struct Workspace {
  double *inter, *intraW, *lpiTerm, *lpaTerm, *partial;  // (K,N) (M,N) (K,N) (M,N) (Y,KM,C)
  int32_t* label;                                        // (N)
};

struct BackwardWeights {
  double g, e, mi, gi, z;
};

__global__ void backwardSampleKernel(Dims d, const float* z, const float* logdet,
                                     const int32_t* labels, bool intraTerms, const float* Y,
                                     const float* cent, const float* lpi, const float* lpa,
                                     BackwardWeights w, float* dz, float* dlogdet, Workspace ws) {
  extern __shared__ double smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const int64_t N = d.N, K = d.K, M = d.M, C = d.C;
  Scratch sc(smem + warp * warpScratchDoubles(K, M), K, M);
  const double Cd = static_cast<double>(C);
  for (int64_t n = int64_t(blockIdx.x) * warps + warp; n < N; n += int64_t(gridDim.x) * warps) {
    const int32_t label = intraTerms ? effectiveLabel(labels, n, K) : -1;
    const float* zr = z + n * C;
    const Stats st = sampleStats(d, zr, cent, lpi, lpa, label, sc, lane);
    double sumY = 0.0;
    if (Y) {
      for (int64_t k = lane; k < K; k += 32) sumY += static_cast<double>(Y[n * K + k]);
      sumY = detail::warpSum(sumY);
    }
    for (int64_t k = lane; k < K; k += 32) {
      const double r = exp(sc.withPrior[k] - st.lseWithPrior);
      const double logq = sc.plain[k] - st.lsePlain;
      double g = w.g * 0.5 * r / Cd + w.e * 0.5 * exp(logq) * (logq + st.entropy);
      if (Y && w.mi != 0) g += w.mi * -0.5 * (static_cast<double>(Y[n * K + k]) - r * sumY);
      sc.gInter[k] = g;
      ws.inter[k * N + n] = g;
      ws.lpiTerm[k * N + n] = -w.g * r / Cd;
    }
    double dld = -w.g / Cd;
    if (label >= 0) {
      const double lp = (Cd * kGaussConst + st.lseIntra + static_cast<double>(logdet[n])) / Cd;
      // L_z = softplus(-logp): d/d(raw log-likelihood) = -sigmoid(-logp) / C
      const double gLogp = w.z * (-1.0 / (1.0 + exp(lp))) / Cd;
      for (int64_t m = lane; m < M; m += 32) {
        const double wm = exp(sc.intra[m] - st.lseIntra);
        sc.gIntra[m] = wm * (w.gi * 0.5 / Cd - 0.5 * gLogp);
        ws.intraW[m * N + n] = sc.gIntra[m];
        ws.lpaTerm[m * N + n] = wm * (gLogp - w.gi / Cd);
      }
      dld += gLogp - w.gi / Cd;
    } else {
      for (int64_t m = lane; m < M; m += 32) ws.intraW[m * N + n] = ws.lpaTerm[m * N + n] = 0.0;
    }
    if (lane == 0) {
      dlogdet[n] = static_cast<float>(dld);
      ws.label[n] = label;
    }
    __syncwarp();
    // d dist_j / d z = 2 (z - c_j), summed over centres in the CPU's order.
    for (int64_t c = lane; c < C; c += 32) {
      const double zc = static_cast<double>(zr[c]);
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += 2.0 * sc.gInter[k] * (zc - static_cast<double>(cent[k * M * C + c]));
      if (label >= 0)
        for (int64_t m = 0; m < M; ++m)
          acc += 2.0 * sc.gIntra[m] * (zc - static_cast<double>(cent[(label * M + m) * C + c]));
      dz[n * C + c] = static_cast<float>(acc);
    }
    __syncwarp();
  }
}

constexpr int kCentreWarps = 8;

// Shared layout (see header): acc[KM][32] gi[T][K] ga[T][M] (double), zt[T][32] (float), lab[T].
__global__ void __launch_bounds__(kCentreWarps * 32)
    centreGradKernel(Dims d, const float* z, const float* cent, Workspace ws, int64_t rowsPerBlock,
                     int tile) {
  extern __shared__ double smem[];
  const int64_t N = d.N, K = d.K, M = d.M, C = d.C, KM = K * M;
  double* acc = smem;
  double* gi = acc + KM * 32;
  double* ga = gi + int64_t(tile) * K;
  float* zt = reinterpret_cast<float*>(ga + int64_t(tile) * M);
  int32_t* lab = reinterpret_cast<int32_t*>(zt + tile * 32);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t c = int64_t(blockIdx.x) * 32 + lane;
  const bool colOk = c < C;
  for (int64_t i = threadIdx.x; i < KM * 32; i += blockDim.x) acc[i] = 0.0;
  const int64_t n0 = int64_t(blockIdx.y) * rowsPerBlock, n1 = min(N, n0 + rowsPerBlock);
  for (int64_t t0 = n0; t0 < n1; t0 += tile) {
    const int tn = static_cast<int>(min(static_cast<int64_t>(tile), n1 - t0));
    __syncthreads();  // the previous tile has been consumed (and acc zeroed)
    for (int i = threadIdx.x; i < tile * 32; i += blockDim.x) {
      const int s = i >> 5;
      const int64_t col = int64_t(blockIdx.x) * 32 + (i & 31);
      zt[i] = (s < tn && col < C) ? z[(t0 + s) * C + col] : 0.0f;
    }
    for (int64_t i = threadIdx.x; i < K * tile; i += blockDim.x) {
      const int64_t k = i / tile, s = i % tile;
      gi[s * K + k] = s < tn ? ws.inter[k * N + t0 + s] : 0.0;
    }
    for (int64_t i = threadIdx.x; i < M * tile; i += blockDim.x) {
      const int64_t m = i / tile, s = i % tile;
      ga[s * M + m] = s < tn ? ws.intraW[m * N + t0 + s] : 0.0;
    }
    for (int s = threadIdx.x; s < tile; s += blockDim.x) lab[s] = s < tn ? ws.label[t0 + s] : -1;
    __syncthreads();
    for (int64_t k = warp; k < K; k += kCentreWarps) {
      const int64_t j = k * M;
      const double cj = colOk ? static_cast<double>(cent[j * C + c]) : 0.0;
      double a = acc[j * 32 + lane];
      for (int s = 0; s < tn; ++s) a += gi[s * K + k] * (static_cast<double>(zt[s * 32 + lane]) - cj);
      acc[j * 32 + lane] = a;
    }
    // Intra-class centres m >= 1 of class l belong to warp l % 8 (m = 0 is
    // the detached main centre and receives nothing here).
    for (int s = 0; s < tn; ++s) {
      const int32_t l = lab[s];
      if (l < 0 || l % kCentreWarps != warp) continue;
      const double zc = static_cast<double>(zt[s * 32 + lane]);
      for (int64_t m = 1; m < M; ++m) {
        const int64_t j = l * M + m;
        const double cj = colOk ? static_cast<double>(cent[j * C + c]) : 0.0;
        acc[j * 32 + lane] += ga[s * M + m] * (zc - cj);
      }
    }
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < KM * 32; i += blockDim.x) {
    const int64_t j = i >> 5, col = int64_t(blockIdx.x) * 32 + (i & 31);
    if (col < C) ws.partial[(int64_t(blockIdx.y) * KM + j) * C + col] = -2.0 * acc[i];
  }
}

__global__ void centreGradFinishKernel(int64_t KMC, int parts, const double* partial, float* dcent) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= KMC) return;
  double t = 0.0;
  for (int p = 0; p < parts; ++p) t += partial[int64_t(p) * KMC + i];
  dcent[i] = static_cast<float>(t);
}

// Block b < K: dlpi[b] = sum_n lpiTerm[b, n]; else dlpa[l M + m] = sum over samples of class l.
__global__ void priorGradKernel(Dims d, Workspace ws, float* dlpi, float* dlpa) {
  __shared__ double red[256];
  const int64_t b = blockIdx.x, N = d.N;
  double t = 0.0;
  if (b < d.K) {
    for (int64_t n = threadIdx.x; n < N; n += blockDim.x) t += ws.lpiTerm[b * N + n];
  } else {
    const int64_t j = b - d.K, l = j / d.M, m = j % d.M;
    for (int64_t n = threadIdx.x; n < N; n += blockDim.x)
      if (ws.label[n] == l) t += ws.lpaTerm[m * N + n];
  }
  red[threadIdx.x] = t;
  __syncthreads();
  for (int s = 128; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (b < d.K) dlpi[b] = static_cast<float>(red[0]);
    else dlpa[b - d.K] = static_cast<float>(red[0]);
  }
}

// Warps per block for the per-sample kernels, within the default 48 KB.
int sampleWarps(const Dims& d, const char* op) {
  const size_t perWarp = sizeof(double) * static_cast<size_t>(warpScratchDoubles(d.K, d.M));
  const int warps = static_cast<int>(std::min<size_t>(kWarpsMax, (48u << 10) / perWarp));
  if (warps < 1)
    throw CudaError(std::string(op) + ": K=" + std::to_string(d.K) + " M=" + std::to_string(d.M) +
                    " need more shared memory per sample than a block has");
  return warps;
}

unsigned sampleGrid(int64_t N, int warps) {
  return static_cast<unsigned>(std::max<int64_t>(
      1, std::min<int64_t>(ceilDiv(N, warps), int64_t(detail::multiprocessorCount()) * 32)));
}

}  // namespace

void mixtureHeadForward(const MixtureShape& s, const float* z, const float* logdet,
                        const int32_t* labels, const float* Y, const float* cent, const float* lpi,
                        const float* lpa, float* Lg, float* Le, float* Lmi, float* Lgi, float* logp,
                        Stream stream) {
  if (s.N <= 0) return;
  const Dims d{s.N, s.C, s.K, s.M};
  const int warps = sampleWarps(d, "mixtureHeadForward");
  const size_t shm = sizeof(double) * warps * warpScratchDoubles(d.K, d.M);
  forwardKernel<<<sampleGrid(d.N, warps), warps * 32, shm, asStream(stream)>>>(
      d, z, logdet, labels, Y, cent, lpi, lpa, Lg, Le, Lmi, Lgi, logp);
  HGAD_CUDA_LAUNCHED("mixtureHeadForward", sizes("N", s.N, "C", s.C, "K", s.K, "M", s.M));
}

void mixtureHeadBackward(const MixtureShape& s, const float* z, const float* logdet,
                         const int32_t* labels, const float* Y, const float* cent, const float* lpi,
                         const float* lpa, const MixtureWeights<float>& w, float* dz,
                         float* dlogdet, float* dcent, float* dlpi, float* dlpa, Stream stream) {
  const char* op = "mixtureHeadBackward";
  const Dims d{std::max<int64_t>(s.N, 0), s.C, s.K, s.M};
  const int64_t N = d.N, K = d.K, M = d.M, KM = K * M, C = d.C;
  if (K <= 0 || M <= 0 || C <= 0) return;
  const BackwardWeights bw{w.g, w.e, w.mi, w.gi, w.z};
  const bool intraTerms = labels && (w.gi != 0 || w.z != 0);

  // Centre-gradient tiling: the accumulators (KM x 32 doubles) plus a sample tile.
  const size_t accBytes = sizeof(double) * KM * 32;
  const size_t perSample = sizeof(double) * (K + M) + sizeof(float) * 32 + sizeof(int32_t);
  const size_t limit = detail::sharedMemoryOptin();
  if (accBytes + perSample > limit)
    throw CudaError(std::string(op) + ": K*M=" + std::to_string(KM) +
                    " centres exceed the shared memory of a block (" + std::to_string(limit) + " B)");
  const int tile = static_cast<int>(std::min<size_t>(64, (limit - accBytes) / perSample));
  const size_t centreShm = accBytes + perSample * tile;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(48, ceilDiv(N, tile)));
  const int64_t rowsPerBlock = std::max<int64_t>(1, ceilDiv(N, parts));

  const int64_t Nw = std::max<int64_t>(N, 1);
  const size_t doubles = static_cast<size_t>(2 * (K + M) * Nw + parts * KM * C);
  char* mem = static_cast<char*>(deviceAlloc(sizeof(double) * doubles + sizeof(int32_t) * Nw, stream));
  Workspace ws;
  ws.inter = reinterpret_cast<double*>(mem);
  ws.intraW = ws.inter + K * Nw;
  ws.lpiTerm = ws.intraW + M * Nw;
  ws.lpaTerm = ws.lpiTerm + K * Nw;
  ws.partial = ws.lpaTerm + M * Nw;
  ws.label = reinterpret_cast<int32_t*>(ws.partial + parts * KM * C);

  const cudaStream_t st = asStream(stream);
  cudaError_t err = cudaSuccess;
  if (N > 0) {
    const int warps = sampleWarps(d, op);
    const size_t shm = sizeof(double) * warps * warpScratchDoubles(K, M);
    backwardSampleKernel<<<sampleGrid(N, warps), warps * 32, shm, st>>>(
        d, z, logdet, labels, intraTerms, Y, cent, lpi, lpa, bw, dz, dlogdet, ws);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess && centreShm > (48u << 10))
    err = cudaFuncSetAttribute(centreGradKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(centreShm));
  if (err == cudaSuccess) {
    centreGradKernel<<<dim3(static_cast<unsigned>(ceilDiv(C, 32)), static_cast<unsigned>(parts)),
                       kCentreWarps * 32, centreShm, st>>>(d, z, cent, ws, rowsPerBlock, tile);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) {
    centreGradFinishKernel<<<static_cast<unsigned>(ceilDiv(KM * C, 256)), 256, 0, st>>>(
        KM * C, static_cast<int>(parts), ws.partial, dcent);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) {
    priorGradKernel<<<static_cast<unsigned>(K + KM), 256, 0, st>>>(d, ws, dlpi, dlpa);
    err = cudaGetLastError();
  }
  deviceFree(mem, stream);
  HGAD_CUDA_CHECK(err, op, sizes("N", N, "C", C, "K", K, "M", M, "tile", tile, "shm", centreShm));
}

}  // namespace cuda
}  // namespace hgad
