// The CUDA backend's typed surface (native/napi/cuda_resources.cc, cuda_ops_binding.cc
// and the ops of OpSurface): streams,
// device buffers and the ops on them. Present only when the addon was built
// with CUDA; every call reports a missing driver or device, an out-of-memory
// or a kernel fault as an Error naming the op and the sizes.
import { CudaStream, DeviceBuffer, native, OpSurface } from './binding';
import { devices } from './devices';

export type { CudaStream, DeviceBuffer } from './binding';

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
export interface CudaAddon extends OpSurface {
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

  // Elementwise, row and column ops (math as native/ops/elementwise.h); X, Y: (N, M).
  /** y += alpha x */
  cudaAxpy(n: number, alpha: number, x: DeviceBuffer, y: DeviceBuffer, stream?: Str): void;
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
  repeatRows(copies: number, R: number, P: number, table: DeviceBuffer, y: DeviceBuffer, stream?: Str): void;
  haarOrthogonal(C: number, a: DeviceBuffer, q: DeviceBuffer, stream?: Str): void;
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

  // Parameter folding, batch assembly, loss sums and Adam: OpSurface (lib/binding.ts).

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
