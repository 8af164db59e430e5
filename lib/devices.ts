// What this build and machine offer: CUDA compiled in or not, its target
// architectures, and the CUDA devices found (empty without a driver or GPU).
import { CudaDevice, native } from './binding';

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
