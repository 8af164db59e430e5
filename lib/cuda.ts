// The CUDA backend's typed surface (native/napi/cuda_binding.cc): streams,
// device buffers and the ops on them. Present only when the addon was built
// with CUDA; every call reports a missing driver or device, an out-of-memory
// or a kernel fault as an Error naming the op and the sizes.
import { native } from './binding';
import { devices } from './devices';

export interface DeviceBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  /** Frees the device memory now (the garbage collector does it otherwise), in the order of the stream it was allocated on. */
  dispose(): void;
}

/**
 * A non-blocking CUDA stream. Work on it runs in issue order, concurrently
 * with other streams; it does not wait for the legacy default stream (null)
 * nor the default stream for it: order them with cudaStreamWait.
 */
export interface CudaStream {
  readonly disposed: boolean;
  /** Waits on the host for the work queued on this stream. */
  synchronize(): void;
  /**
   * Releases the stream (the garbage collector does it otherwise). Work already
   * queued still completes; buffers allocated on it keep it alive until freed.
   */
  dispose(): void;
}

type Buf = DeviceBuffer | null;
/** The stream an op is queued on: null or left out for the legacy default stream. */
type Str = CudaStream | null;

/**
 * Every op only enqueues work on its stream and returns; the copies to and
 * from the host return once the host array may be reused (upload) or is
 * filled (download). A buffer freed on one stream while another stream still
 * uses it must be ordered first (cudaStreamWait or a synchronize).
 * Int32 data (labels, indices) lives in DeviceBuffers too (4-byte elements).
 */
export interface CudaAddon {
  CudaStream: new () => CudaStream;
  /** Allocates `bytes` in the order of `stream` (freed on the same stream). */
  DeviceBuffer: new (bytes: number, stream?: Str) => DeviceBuffer;
  /** host -> device elements [offsetElements, offsetElements + host.length). */
  cudaUpload(device: DeviceBuffer, host: Float32Array | Int32Array, stream?: Str, offsetElements?: number): void;
  /** device elements [offsetElements, offsetElements + host.length) -> host. */
  cudaDownload(device: DeviceBuffer, host: Float32Array | Int32Array, stream?: Str, offsetElements?: number): void;
  /** Waits for all work on the device, every stream included. */
  cudaSynchronize(): void;
  /** Work queued on `waiter` from now on waits for the work queued on `signaler` so far (no host wait). */
  cudaStreamWait(waiter: Str, signaler: Str): void;
  /** backend: 0 auto (cuBLAS when present), 1 tiled FP32, 2 tiled TF32, 3 cuBLAS FP32, 4 cuBLAS TF32 */
  cudaGemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: DeviceBuffer, lda: number, B: DeviceBuffer,
    ldb: number, beta: number, C: DeviceBuffer, ldc: number, bias: Buf, relu: boolean, backend: number, stream?: Str): void;
  cudaCouplingForward(N: number, C: number, x: DeviceBuffer, a: DeviceBuffer, clamp: number, logdetIn: Buf, logdetConst: number,
    y: DeviceBuffer, logdetOut: DeviceBuffer, stream?: Str): void;
  cudaCouplingInverse(N: number, C: number, y: DeviceBuffer, a: DeviceBuffer, clamp: number, logdetIn: Buf, logdetConst: number,
    x: DeviceBuffer, logdetOut: DeviceBuffer, stream?: Str): void;
  cudaCouplingBackward(N: number, C: number, x: DeviceBuffer, a: DeviceBuffer, clamp: number, dy: DeviceBuffer, dlogdet: Buf,
    dx: DeviceBuffer, da: DeviceBuffer, stream?: Str): void;
  /** labels: int32 class ids. */
  cudaMixtureHeadForward(N: number, C: number, K: number, M: number, z: DeviceBuffer, logdet: DeviceBuffer, labels: Buf, Y: Buf,
    centres: DeviceBuffer, lpi: DeviceBuffer, lpa: DeviceBuffer, Lg: Buf, Le: Buf, Lmi: Buf, Lgi: Buf, logp: Buf, stream?: Str): void;
  cudaMixtureHeadBackward(N: number, C: number, K: number, M: number, z: DeviceBuffer, logdet: DeviceBuffer, labels: Buf, Y: Buf,
    centres: DeviceBuffer, lpi: DeviceBuffer, lpa: DeviceBuffer, wg: number, we: number, wmi: number, wgi: number, wz: number,
    dz: DeviceBuffer, dlogdet: DeviceBuffer, dcent: DeviceBuffer, dlpi: DeviceBuffer, dlpa: DeviceBuffer, stream?: Str): void;
  cudaAdamStep(n: number, p: DeviceBuffer, g: DeviceBuffer, m: DeviceBuffer, v: DeviceBuffer, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, step: number, stream?: Str): void;

  // Elementwise, row and column ops (math as native/ops/elementwise.h); X, Y: (N, M).
  /** y += alpha x */
  cudaAxpy(n: number, alpha: number, x: DeviceBuffer, y: DeviceBuffer, stream?: Str): void;
  /** out = a + b (out may be a or b) */
  cudaAdd(n: number, a: DeviceBuffer, b: DeviceBuffer, out: DeviceBuffer, stream?: Str): void;
  /** out = alpha x (out may be x) */
  cudaScale(n: number, alpha: number, x: DeviceBuffer, out: DeviceBuffer, stream?: Str): void;
  /** dh *= (h > 0) */
  cudaReluBackward(n: number, h: DeviceBuffer, dh: DeviceBuffer, stream?: Str): void;
  /** v (M) = beta v + sum over the rows of X (summed in double, deterministic) */
  cudaColumnSum(N: number, M: number, X: DeviceBuffer, beta: number, v: DeviceBuffer, stream?: Str): void;
  /** r (N) = sum over each row of X */
  cudaRowSum(N: number, M: number, X: DeviceBuffer, r: DeviceBuffer, stream?: Str): void;
  // Anomaly maps (native/ops/anomaly_map.h): one registration for host arrays and device buffers.
  mapMax(n: number, x: DeviceBuffer, m: DeviceBuffer, stream?: Str): void;
  mapShift(n: number, x: DeviceBuffer, m: DeviceBuffer, mode: number, y: DeviceBuffer, stream?: Str): void;
  upsampleBilinear(B: number, h: number, w: number, H: number, W: number, x: DeviceBuffer, beta: number, y: DeviceBuffer, stream?: Str): void;
  gaussianBlur(B: number, H: number, W: number, sigma: number, truncate: number, x: DeviceBuffer, work: DeviceBuffer, y: DeviceBuffer,
    stream?: Str): void;
  mapProduct(n: number, a: DeviceBuffer, b: DeviceBuffer, y: DeviceBuffer, stream?: Str): void;
  /** r (N) = log sum exp over each row of X */
  cudaLogSumExpRows(N: number, M: number, X: DeviceBuffer, r: DeviceBuffer, stream?: Str): void;
  /** Y = X - logsumexp of its row (Y may be X) */
  cudaLogSoftmaxRows(N: number, M: number, X: DeviceBuffer, Y: DeviceBuffer, stream?: Str): void;
  /** dX = dY - exp(Y) rowsum(dY), from the log-softmax output Y (dX may be dY) */
  cudaLogSoftmaxRowsBackward(N: number, M: number, Y: DeviceBuffer, dY: DeviceBuffer, dX: DeviceBuffer, stream?: Str): void;
  /** out (N, W0 + P) = [X[:, c0:c0+W0] | Z]; X has row stride ldx; Z (N, P) may be null when P = 0 */
  cudaPackColumns(N: number, X: DeviceBuffer, ldx: number, c0: number, W0: number, Z: Buf, P: number, out: DeviceBuffer,
    stream?: Str): void;
  /** dX[:, c0:c0+W0] += dOut[:, :W0]; dZ = dOut[:, W0:] when dZ is not null */
  cudaUnpackColumnsBackward(N: number, dOut: DeviceBuffer, W0: number, P: number, dX: DeviceBuffer, ldx: number, c0: number,
    dZ: Buf, stream?: Str): void;
  /** buf[offsetElements, offsetElements + n) = value (a float; NaN and infinities allowed) */
  cudaFill(n: number, value: number, buf: DeviceBuffer, offsetElements?: number, stream?: Str): void;
  /** dst[dstOffset, dstOffset + n) = src[srcOffset, srcOffset + n): 4-byte elements; the ranges must not overlap */
  /**
   * The device side of the binding's halfToFloat / floatToHalf (one registration each, host arrays or device
   * buffers): float16 data is n binary16 values, two to a 4-byte element (uploaded through an Int32Array view).
   */
  halfToFloat(n: number, h: DeviceBuffer, out: DeviceBuffer, stream?: Str): void;
  floatToHalf(n: number, x: DeviceBuffer, h: DeviceBuffer, stream?: Str): void;
  cudaCopy(n: number, src: DeviceBuffer, srcOffset: number, dst: DeviceBuffer, dstOffset: number, stream?: Str): void;

  // Parameter folding and glue (math in double, deterministic sums).
  /**
   * Global affine s = globalScale(g) (0.5 x > 20 ? 0.1 x : 0.2 log1p(exp(0.5 x))) folded with the
   * channel mixing R (C, C). Forward: W = R diag(s), b = R offset. Inverse: W = R diag(1/s),
   * b = -offset / s. logdetConst[0] = sum log s either way.
   */
  cudaAffineFold(C: number, R: DeviceBuffer, g: DeviceBuffer, offset: DeviceBuffer, W: DeviceBuffer, b: DeviceBuffer,
    logdetConst: DeviceBuffer, inverse: boolean, stream?: Str): void;
  /**
   * Backward of the forward fold: dg_j = globalScale'(g_j) (sum_i dW[i, j] R[i, j] + dConst[0] / s_j),
   * dOffset_j = sum_i R[i, j] db[i]; dConst (1 element) may be null.
   */
  cudaAffineFoldBackward(C: number, R: DeviceBuffer, g: DeviceBuffer, dW: DeviceBuffer, db: DeviceBuffer, dConst: Buf,
    dg: DeviceBuffer, dOffset: DeviceBuffer, stream?: Str): void;
  /** cent (K, M, C): row (k, 0) = mu[k], row (k, m >= 1) = mu[k] + muDelta[k, m - 1]; muDelta may be null when M = 1 */
  cudaCentresCompose(K: number, M: number, C: number, mu: DeviceBuffer, muDelta: Buf, cent: DeviceBuffer, stream?: Str): void;
  /** dmu[k] = dcent[k, 0] only (mu detached in the intra centres); dDelta[k, m - 1] = dcent[k, m] when not null */
  cudaCentresComposeBackward(K: number, M: number, C: number, dcent: DeviceBuffer, dmu: DeviceBuffer, dDelta: Buf,
    stream?: Str): void;
  /**
   * dst[i, :] = src[idx[i], :] (rows of C 32-bit words, float or int32; idx int32); src holds srcRows
   * rows. An index outside [0, srcRows) is a caller bug: its row is written as zeros.
   */
  cudaGatherRows(n: number, C: number, src: DeviceBuffer, srcRows: number, idx: DeviceBuffer, dst: DeviceBuffer,
    stream?: Str): void;
  /** Y (N, K) = smoothing / K + (k == labels[n] ? 1 - smoothing : 0); labels int32 (outside [0, K): no hit) */
  cudaOneHot(N: number, K: number, labels: DeviceBuffer, smoothing: number, Y: DeviceBuffer, stream?: Str): void;
  /**
   * out (5 floats) = [sum Lg, sum Le, sum Lmi, sum Lgi (0 when null), sum softplus(-logp) (0 when null)],
   * accumulated in double in a fixed order.
   */
  cudaLossSums(N: number, Lg: DeviceBuffer, Le: DeviceBuffer, Lmi: DeviceBuffer, Lgi: Buf, logp: Buf, out: DeviceBuffer,
    stream?: Str): void;

  /** Selects the device that this thread's CUDA calls use (streams and buffers belong to the device current at creation). */
  cudaSetDevice(index: number): void;
  /** Whether cuBLAS could be loaded (what cudaGemm's backend 0 uses). */
  cudaCublasAvailable(): boolean;
  cudaAllocatorStats(): { bytesInUse: number; bytesCached: number; driverAllocations: number; cacheHits: number };
}

/**
 * The CUDA ops when this build has them and a device is usable; otherwise an
 * Error saying why ("compiled without CUDA", or the driver's reason).
 */
export function cudaBackend(): CudaAddon {
  const report = devices();
  if (!report.cudaCompiled) throw new Error('CUDA is not available: this build of hgad was compiled without CUDA');
  if (report.devices.length === 0) throw new Error(`CUDA is not available: ${report.reason}`);
  return native as unknown as CudaAddon;
}

/** Copies a host array to a new device buffer (allocated on `stream`). */
export function toDevice(cuda: CudaAddon, host: Float32Array | Int32Array, stream: CudaStream | null = null): DeviceBuffer {
  const buf = new cuda.DeviceBuffer(Math.max(4, host.byteLength), stream);
  cuda.cudaUpload(buf, host, stream);
  return buf;
}

/** Copies a device buffer back into a new Float32Array of `length` elements. */
export function toHost(cuda: CudaAddon, buf: DeviceBuffer, length: number, stream: CudaStream | null = null): Float32Array {
  const out = new Float32Array(length);
  cuda.cudaDownload(buf, out, stream);
  return out;
}
