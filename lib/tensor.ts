// A dense row-major tensor: its memory on a backend (on the CPU a
// Float32Array (hot path) or a Float64Array (gradient checks) over 64-byte
// aligned native memory; on a GPU a device buffer), its shape and its place
// on the autograd tape.
import { FloatArray, hostAlloc } from './backend/host';
import { describe, expectedRange, expectedType, received } from './errors';
import { cpu } from './backend/cpu';
import { Backend, Device, DeviceRequest, isDeviceArray, Storage } from './backend/types';
import { backendFor } from './backend/index';

export type { DType } from './backend/types';
import type { DType } from './backend/types';

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function dtypeOf(a: FloatArray): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

export function allocFloat(length: number, dtype: DType, fill?: number): FloatArray {
  return hostAlloc(length, dtype, fill);
}

/** A recorded op of the autograd tape (lib/autograd/tape.ts): declared here, where a tensor keeps its own. */
export interface GradNode {
  name: string;
  inputs: (Tensor | null)[];
  outputs: Tensor[];
  /** Gradients of the inputs (null where an input needs none) from those of the outputs (null: unused output). */
  backward(gradOutputs: (Storage | null)[]): (Storage | null)[];
}

export class Tensor {
  /** The gradient's memory (on this tensor's backend), or null. */
  gradStorage: Storage | null = null;
  /** The op that produced this tensor, while the tape holds it. */
  node: GradNode | null = null;
  /** The tensor's memory: a host array on the CPU, a DeviceArray on a device. */
  readonly storage: Storage;
  readonly backend: Backend;

  constructor(
    storage: Storage,
    public readonly shape: readonly number[],
    public requiresGrad = false,
  ) {
    if (sizeOf(shape) !== storage.length) {
      throw expectedRange(`${sizeOf(shape)} elements for shape [${shape.join(', ')}]`, 'data', isDeviceArray(storage) ? received(`${storage.length} elements`) : storage);
    }
    this.storage = storage;
    this.backend = isDeviceArray(storage) ? storage.backend : cpu;
  }

  /** The host array of a CPU tensor (a device tensor must be copied with toHost() first). */
  get data(): FloatArray {
    if (isDeviceArray(this.storage)) {
      throw new Error(`This tensor is on ${this.backend.label}: copy it to the host with .toHost() or .to('cpu') to read it`);
    }
    return this.storage;
  }

  get device(): Device {
    return this.backend.device;
  }

  /** The gradient as a host array (CPU tensors; see gradStorage for any backend). */
  get grad(): FloatArray | null {
    const g = this.gradStorage;
    if (isDeviceArray(g)) throw new Error(`This gradient is on ${this.backend.label}: read it with backend.toHost(tensor.gradStorage)`);
    return g;
  }

  set grad(g: Storage | null) {
    this.gradStorage = g;
  }

  get dtype(): DType {
    return isDeviceArray(this.storage) ? 'float32' : dtypeOf(this.storage);
  }

  get size(): number {
    return this.storage.length;
  }

  /** device: 'cpu' (default), 'cuda', 'auto' or a Backend; uninitialised on a device, zeros on the CPU. */
  static empty(shape: readonly number[], dtype: DType = 'float32', device: DeviceRequest | Backend = cpu): Tensor {
    return new Tensor(backendFor(device).alloc(sizeOf(shape), dtype), shape);
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32', device: DeviceRequest | Backend = cpu): Tensor {
    return new Tensor(backendFor(device).alloc(sizeOf(shape), dtype, 0), shape);
  }

  /** Copies `values` into a new aligned tensor of the given dtype. */
  static from(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32', requiresGrad = false,
    device: DeviceRequest | Backend = cpu): Tensor {
    if (sizeOf(shape) !== values.length) {
      throw expectedRange(`${sizeOf(shape)} values for shape [${shape.join(', ')}]`, 'values', values);
    }
    return new Tensor(backendFor(device).fromHost(values, dtype), shape, requiresGrad);
  }

  /** A copy detached from the tape (on the same backend). */
  clone(dtype: DType = this.dtype): Tensor {
    if (isDeviceArray(this.storage)) {
      if (dtype !== 'float32') throw new TypeError(`clone: a tensor on ${this.backend.label} is float32 only`);
      const out = this.backend.alloc(this.size, 'float32');
      this.backend.scale(1, this.storage, out);
      return new Tensor(out, this.shape);
    }
    return Tensor.from(this.storage, this.shape, dtype);
  }

  /** The values as a host array (a copy for device tensors, waits for their work). */
  toHost(): FloatArray {
    return this.backend.toHost(this.storage);
  }

  /** A detached copy on another device ('cpu', 'cuda', 'auto' or a Backend); this tensor itself when already there. */
  to(device: DeviceRequest | Backend): Tensor {
    const backend = backendFor(device);
    if (backend === this.backend) return this;
    const values = this.toHost();
    return new Tensor(backend.fromHost(values, backend.device === 'cpu' ? this.dtype : 'float32'), this.shape);
  }

  zeroGrad(): void {
    this.gradStorage = null;
  }
}

/** Validates a (rows, cols) matrix argument given as a Tensor. */
export function checkMatrix(t: unknown, name: string, cols?: number, rows?: number): Tensor {
  if (!(t instanceof Tensor)) throw expectedType('a Tensor', name, t);
  if (t.shape.length !== 2) throw expectedRange('a 2-D tensor', name, received(`shape [${t.shape.join(', ')}]`));
  if (cols !== undefined && t.shape[1] !== cols) {
    throw expectedRange(`${cols} columns`, name, received(`shape [${t.shape.join(', ')}]`));
  }
  if (rows !== undefined && t.shape[0] !== rows) {
    throw expectedRange(`${rows} rows`, name, received(`shape [${t.shape.join(', ')}]`));
  }
  return t;
}

/** Throws a RangeError naming the argument and the first non-finite element. */
export function checkFinite(t: Tensor, name: string): void {
  const i = t.backend.firstNonFinite(t.storage);
  if (i >= 0) {
    throw expectedRange('finite values', name, received(`${describe(t.backend.readScalar(t.storage, i))} at index ${i}`));
  }
}
