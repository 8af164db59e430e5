// The CUDA backend's typed surface (native/napi/cuda_binding.cc): device
// buffers and the fused ops on them. Present only when the addon was built
// with CUDA; every call reports a missing driver or device, an out-of-memory
// or a kernel fault as an Error naming the op and the sizes.
import { native } from './binding';
import { devices } from './devices';

export interface DeviceBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  /** Frees the device memory now (the garbage collector does it otherwise). */
  dispose(): void;
}

type Buf = DeviceBuffer | null;

export interface CudaAddon {
  DeviceBuffer: new (bytes: number) => DeviceBuffer;
  cudaUpload(device: DeviceBuffer, host: Float32Array | Int32Array): void;
  cudaDownload(device: DeviceBuffer, host: Float32Array | Int32Array): void;
  cudaSynchronize(): void;
  /** backend: 0 auto (cuBLAS when present), 1 tiled FP32, 2 tiled TF32, 3 cuBLAS FP32, 4 cuBLAS TF32 */
  cudaGemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: DeviceBuffer, lda: number, B: DeviceBuffer,
    ldb: number, beta: number, C: DeviceBuffer, ldc: number, bias: Buf, relu: boolean, backend: number): void;
  cudaCouplingForward(N: number, C: number, x: DeviceBuffer, a: DeviceBuffer, clamp: number, logdetIn: Buf, logdetConst: number,
    y: DeviceBuffer, logdetOut: DeviceBuffer): void;
  cudaCouplingInverse(N: number, C: number, y: DeviceBuffer, a: DeviceBuffer, clamp: number, logdetIn: Buf, logdetConst: number,
    x: DeviceBuffer, logdetOut: DeviceBuffer): void;
  cudaCouplingBackward(N: number, C: number, x: DeviceBuffer, a: DeviceBuffer, clamp: number, dy: DeviceBuffer, dlogdet: Buf,
    dx: DeviceBuffer, da: DeviceBuffer): void;
  cudaMixtureHeadForward(N: number, C: number, K: number, M: number, z: DeviceBuffer, logdet: DeviceBuffer, labels: Buf, Y: Buf,
    centres: DeviceBuffer, lpi: DeviceBuffer, lpa: DeviceBuffer, Lg: Buf, Le: Buf, Lmi: Buf, Lgi: Buf, logp: Buf): void;
  cudaMixtureHeadBackward(N: number, C: number, K: number, M: number, z: DeviceBuffer, logdet: DeviceBuffer, labels: Buf, Y: Buf,
    centres: DeviceBuffer, lpi: DeviceBuffer, lpa: DeviceBuffer, wg: number, we: number, wmi: number, wgi: number, wz: number,
    dz: DeviceBuffer, dlogdet: DeviceBuffer, dcent: DeviceBuffer, dlpi: DeviceBuffer, dlpa: DeviceBuffer): void;
  cudaAdamStep(n: number, p: DeviceBuffer, g: DeviceBuffer, m: DeviceBuffer, v: DeviceBuffer, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, step: number): void;
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

/** Copies a host array to a new device buffer. */
export function toDevice(cuda: CudaAddon, host: Float32Array | Int32Array): DeviceBuffer {
  const buf = new cuda.DeviceBuffer(Math.max(4, host.byteLength));
  cuda.cudaUpload(buf, host);
  return buf;
}

/** Copies a device buffer back into a new Float32Array of `length` elements. */
export function toHost(cuda: CudaAddon, buf: DeviceBuffer, length: number): Float32Array {
  const out = new Float32Array(length);
  cuda.cudaDownload(buf, out);
  return out;
}
