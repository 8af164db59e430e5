// Choosing a backend: 'cpu', 'cuda' (an Error saying why when no usable GPU)
// or 'auto' (the GPU when there is one, else the CPU).
import { DeviceSurface } from '../binding';
import { cudaBackend, devices } from './devices';
import { expectedRange } from '../errors';
import { cpu } from './cpu';
import { CudaBackend, CudaBackendOptions, Precision } from './cuda';
import { Backend, DeviceRequest } from './types';

export { cpu } from './cpu';
export { CudaBackend } from './cuda';
export type { CudaBackendOptions, Precision } from './cuda';
export type { Backend, Device, DeviceRequest, DeviceArray, Storage, IntStorage } from './types';
// The raw native surface and device discovery, for the public API (lib/index.ts) and the layers above.
export { setThreads, threads, native, setCpuKernel, cpuKernel, CPU_KERNELS } from '../binding';
export type { CpuKernel, CudaStream, DeviceBuffer, DeviceSurface } from '../binding';
export { devices, cudaBackend, toDevice, toHost } from './devices';
export type { DeviceReport } from './devices';

export interface BackendOptions extends CudaBackendOptions {
  /** The CUDA device index (default 0). */
  deviceIndex?: number;
  /** The CUDA surface to use (tests substitute one); default the addon's. */
  addon?: DeviceSurface;
}

let sharedCuda: Backend | null = null;

/**
 * The backend of tensors made with a device name: the CPU, or one CUDA
 * backend (one stream) shared by this thread's tensors. Models get their own
 * (HgadModel.to); a Backend instance passes through.
 */
export function backendFor(device: DeviceRequest | Backend = 'cpu'): Backend {
  if (typeof device === 'object' && device !== null) return selectBackend(device);
  if (device === 'cpu') return cpu;
  if (device === 'auto') {
    try {
      return backendFor('cuda');
    } catch {
      return cpu;
    }
  }
  if (!sharedCuda) sharedCuda = selectBackend(device);
  return sharedCuda;
}

/**
 * The one check of a device request and a GEMM precision (`where` prefixes
 * the option names in the message, e.g. 'options.'): returns them typed.
 */
export function checkDeviceRequest(device: unknown, precision: unknown, where = ''): { device: DeviceRequest; precision: Precision } {
  if (precision !== 'fp32' && precision !== 'tf32') throw expectedRange('"fp32" or "tf32"', `${where}precision`, precision);
  if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') throw expectedRange('"cpu", "cuda" or "auto"', `${where}device`, device);
  return { device, precision };
}

/** The backend for a device request; a Backend instance passes through. */
export function selectBackend(device: DeviceRequest | Backend = 'cpu', options: BackendOptions = {}): Backend {
  if (typeof device === 'object' && device !== null && typeof (device as Backend).gemm === 'function') return device as Backend;
  checkDeviceRequest(device, options.precision ?? 'fp32');
  if (device === 'cpu') return cpu;
  let addon: DeviceSurface;
  try {
    addon = options.addon ?? cudaBackend();
  } catch (err) {
    if (device === 'auto') return cpu;
    throw err;
  }
  const index = options.deviceIndex ?? 0;
  const list = options.addon ? [] : devices().devices;
  if (!options.addon && (!Number.isInteger(index) || index < 0 || index >= list.length)) {
    throw expectedRange(`a CUDA device index in [0, ${list.length})`, 'deviceIndex', index);
  }
  // The device is selected for the calling thread (each worker thread runs one model).
  if (index !== 0 || list.length > 1) addon.cudaSetDevice(index);
  const name = list[index]?.name ?? 'emulated';
  return new CudaBackend(addon, `cuda:${index} (${name})`, { precision: options.precision });
}
