// A dense row-major tensor on the host: a Float32Array (hot path) or a
// Float64Array (gradient checks) over 64-byte aligned native memory, plus its
// shape and its place on the autograd tape.
import { FloatArray, native } from './binding';
import { describe, expectedRange, expectedType, received } from './errors';
import type { GradNode } from './autograd/tape';

export type DType = 'float32' | 'float64';

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function dtypeOf(a: FloatArray): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

export function allocFloat(length: number, dtype: DType, fill?: number): FloatArray {
  return native.alloc(length, dtype, fill);
}

export class Tensor {
  grad: FloatArray | null = null;
  /** The op that produced this tensor, while the tape holds it. */
  node: GradNode | null = null;

  constructor(
    public data: FloatArray,
    public readonly shape: readonly number[],
    public requiresGrad = false,
  ) {
    if (sizeOf(shape) !== data.length) {
      throw expectedRange(`${sizeOf(shape)} elements for shape [${shape.join(', ')}]`, 'data', data);
    }
  }

  get dtype(): DType {
    return dtypeOf(this.data);
  }

  get size(): number {
    return this.data.length;
  }

  static empty(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return new Tensor(allocFloat(sizeOf(shape), dtype), shape);
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return new Tensor(allocFloat(sizeOf(shape), dtype, 0), shape);
  }

  /** Copies `values` into a new aligned tensor of the given dtype. */
  static from(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32', requiresGrad = false): Tensor {
    if (sizeOf(shape) !== values.length) {
      throw expectedRange(`${sizeOf(shape)} values for shape [${shape.join(', ')}]`, 'values', values);
    }
    const t = new Tensor(allocFloat(values.length, dtype), shape, requiresGrad);
    t.data.set(values);
    return t;
  }

  /** A copy detached from the tape. */
  clone(dtype: DType = this.dtype): Tensor {
    return Tensor.from(this.data, this.shape, dtype);
  }

  zeroGrad(): void {
    this.grad = null;
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
  const i = native.firstNonFinite(t.data);
  if (i >= 0) {
    throw expectedRange('finite values', name, received(`${describe(t.data[i])} at index ${i}`));
  }
}
