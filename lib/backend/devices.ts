// What this build and machine offer: CUDA compiled in or not, its target
// architectures, and the CUDA devices found (empty without a driver or GPU);
// the raw CUDA surface once a device is known to be usable.
import { CudaDevice, CudaStream, DeviceBuffer, DeviceSurface, native } from '../binding';

export interface DeviceReport {
  cudaCompiled: boolean;
  cudaArchs: string[];
  devices: CudaDevice[];
  /** Why no CUDA device is listed, when none is. */
  reason: string | null;
  /** The CPU GEMM kernel in force (HGAD_CPU_KERNEL / setCpuKernel may force one) and those this CPU runs. */
  cpu: { threads: number; gemmKernel: string; gemmKernels: string[] };
}

export function devices(): DeviceReport {
  const info = native.buildInfo();
  const cuda = native.cudaDevices();
  return {
    cudaCompiled: info.cudaCompiled,
    cudaArchs: info.cudaArchs ? info.cudaArchs.split(',') : [],
    devices: cuda.devices,
    reason: cuda.devices.length > 0 ? null : cuda.error ?? 'no CUDA device found',
    cpu: { threads: info.threads, gemmKernel: info.gemmKernel, gemmKernels: native.gemmKernels() },
  };
}

/**
 * The CUDA ops when this build has them and a device is usable; otherwise an
 * Error saying why ("compiled without CUDA", or the driver's reason).
 */
export function cudaBackend(): DeviceSurface {
  const report = devices();
  if (!report.cudaCompiled) throw new Error('CUDA is not available: this build of hgad was compiled without CUDA');
  if (report.devices.length === 0) throw new Error(`CUDA is not available: ${report.reason}`);
  return native;
}

/** Copies a host array to a new device buffer (allocated on `stream`). */
export function toDevice(cuda: DeviceSurface, host: Float32Array | Int32Array, stream: CudaStream | null = null): DeviceBuffer {
  const buf = new cuda.DeviceBuffer(Math.max(4, host.byteLength), stream);
  cuda.cudaUpload(buf, host, stream);
  return buf;
}

/** Copies a device buffer back into a new Float32Array of `length` elements. */
export function toHost(cuda: DeviceSurface, buf: DeviceBuffer, length: number, stream: CudaStream | null = null): Float32Array {
  const out = new Float32Array(length);
  cuda.cudaDownload(buf, out, stream);
  return out;
}
