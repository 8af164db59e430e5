// The native helpers that the layers above the backend use on host memory:
// 64-byte aligned arrays, the first non-finite element, and float16
// conversion. Everything else of the addon is reached through a Backend.
import { native } from '../binding';

export type { FloatArray } from '../binding';

/** A zero-filled (or `fill`-filled) typed array whose data starts on a 64-byte boundary. */
export const hostAlloc = native.alloc;

/** Index of the first non-finite element of a host array, or -1. */
export function firstNonFinite(x: Float32Array | Float64Array): number {
  return native.firstNonFinite(x);
}

/** n float16 values (raw bits) to floats.  h: (n)  out: (n) */
export function halfToFloat(n: number, h: Uint16Array, out: Float32Array | Float64Array): void {
  native.halfToFloat(n, h, out);
}

/** n floats to float16 (raw bits, round to nearest even).  x: (n)  h: (n) */
export function floatToHalf(n: number, x: Float32Array | Float64Array, h: Uint16Array): void {
  native.floatToHalf(n, x, h);
}
