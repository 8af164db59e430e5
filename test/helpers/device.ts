// The backend the device-aware tests run on: HGAD_TEST_DEVICE = cpu (default),
// cuda (a real GPU; an Error without one) or emulated (the CUDA backend over
// test/helpers/emulated_cuda.ts, which needs no GPU).
import { cpu } from '../../lib/backend/cpu';
import { CudaBackend } from '../../lib/backend/cuda';
import { selectBackend } from '../../lib/backend/index';
import { Backend, isDeviceArray, Storage } from '../../lib/backend/types';
import { Tensor } from '../../lib/tensor';
import { emulatedCuda } from './emulated_cuda';

let chosen: Backend | null = null;
let override: Backend | null = null;

/** Runs a synchronous fn with testBackend() returning `be`. */
export function withTestBackend<T>(be: Backend, fn: () => T): T {
  const previous = override;
  override = be;
  try {
    return fn();
  } finally {
    override = previous;
  }
}

export function emulatedBackend(precision: 'fp32' | 'tf32' = 'fp32'): CudaBackend {
  return new CudaBackend(emulatedCuda(), 'cuda:emulated', { precision });
}

export function testDeviceName(): string {
  return process.env.HGAD_TEST_DEVICE ?? 'cpu';
}

export function testBackend(): Backend {
  if (override) return override;
  if (chosen) return chosen;
  const name = testDeviceName();
  if (name === 'cpu') chosen = cpu;
  else if (name === 'cuda') chosen = selectBackend('cuda');
  else if (name === 'emulated') chosen = emulatedBackend();
  else throw new Error(`HGAD_TEST_DEVICE: expected cpu, cuda or emulated but received ${name}`);
  return chosen;
}

/** Host values of a tensor, a storage (any backend) or an array. */
export function hostValues(a: Tensor | Storage | ArrayLike<number>): ArrayLike<number> {
  if (a instanceof Tensor) return a.toHost();
  if (isDeviceArray(a)) return a.backend.toHost(a);
  return a;
}
