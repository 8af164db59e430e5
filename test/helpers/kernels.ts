// Runs synchronous test code on one forced CPU GEMM kernel, restoring the
// kernel that was in force before (the choice is process-wide).
import { CpuKernel, cpuKernel, native, setCpuKernel } from '../../lib/binding';

export function withCpuKernel<T>(kernel: CpuKernel, fn: () => T): T {
  const previous = cpuKernel();
  setCpuKernel(kernel);
  try {
    return fn();
  } finally {
    setCpuKernel(previous);
  }
}

/** The kernels this CPU runs other than the default (the best) one. */
export function otherCpuKernels(): CpuKernel[] {
  return native.gemmKernels().slice(1);
}
