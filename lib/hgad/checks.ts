// Input checks of the model's fit and score: shapes against the model's
// configuration, finite values, class ids in range. They run before any work
// so that a bad input is one clear error and nothing is half-done.
import { firstNonFinite } from '../backend/host';
import { expectedRange, expectedType, received } from '../errors';
import { ModelConfig } from './config';

/** Checks one level's arrays (features (N, C), cond (N, P) when P > 0) and returns N. */
export function checkLevelArrays(config: ModelConfig, l: number, features: unknown, cond: unknown, what: string): number {
  const { channels: C, condChannels: P } = config.levels[l];
  const name = `${what}[${l}].features`;
  if (!(features instanceof Float32Array)) throw expectedType('a Float32Array', name, features);
  if (features.length === 0 || features.length % C !== 0) {
    throw expectedRange(`a non-empty multiple of ${C} values (N x ${C})`, name, received(`${features.length} values`));
  }
  const N = features.length / C;
  const bad = firstNonFiniteOf(features);
  if (bad >= 0) throw expectedRange('finite values', name, received(`${features[bad]} at vector ${Math.floor(bad / C)}, dimension ${bad % C}`));
  if (P > 0) {
    if (!(cond instanceof Float32Array)) throw expectedType(`a Float32Array of ${N} x ${P} conditions`, `${what}[${l}].cond`, cond);
    if (cond.length !== N * P) throw expectedRange(`${N * P} values (${N} x ${P})`, `${what}[${l}].cond`, received(`${cond.length} values`));
    const badCond = firstNonFiniteOf(cond);
    if (badCond >= 0) throw expectedRange('finite values', `${what}[${l}].cond`, received(`${cond[badCond]} at vector ${Math.floor(badCond / P)}`));
  } else if (cond !== undefined && cond !== null) {
    throw expectedType('no condition (this level is unconditional)', `${what}[${l}].cond`, cond);
  }
  return N;
}

/**
 * Index of the first non-finite value of x, or -1. A shared array is checked
 * through an unshared scratch chunk by chunk (the native check refuses shared
 * memory), so checking never copies the whole array.
 */
export function firstNonFiniteOf(x: Float32Array): number {
  if (!(x.buffer instanceof SharedArrayBuffer)) return firstNonFinite(x);
  const scratch = new Float32Array(Math.min(x.length, 1 << 18));
  for (let start = 0; start < x.length; start += scratch.length) {
    const n = Math.min(scratch.length, x.length - start);
    const part = scratch.subarray(0, n);
    part.set(x.subarray(start, start + n));
    const bad = firstNonFinite(part);
    if (bad >= 0) return start + bad;
  }
  return -1;
}

/**
 * The array itself, or a copy in an ordinary ArrayBuffer when it lives in a
 * SharedArrayBuffer: the native kernels take only unshared memory (N-API
 * refuses shared buffers), and another thread could change shared values
 * between the checks and the work.
 */
export function unshared<T extends Float32Array | Int32Array>(a: T): T;
export function unshared<T>(a: T): T;
export function unshared(a: unknown): unknown {
  if ((a instanceof Float32Array || a instanceof Int32Array) && typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer) {
    return a.slice();
  }
  return a;
}

/** Class ids of N vectors: one id for all (an integer in [0, K)) or an Int32Array of N ids; returns the N ids. */
export function classIds(classes: unknown, N: number, K: number): Int32Array {
  if (typeof classes === 'number') {
    // Int32Array.fill would truncate 1.5, NaN, -0.5 or 2^32 + 1 into some valid id.
    if (!Number.isInteger(classes) || classes < 0 || classes >= K) throw expectedRange(`an integer class id in [0, ${K})`, 'classId', classes);
    return new Int32Array(N).fill(classes);
  }
  return checkLabels(unshared(classes), N, K, 'classes');
}

/** Checks N class ids in [0, K). */
export function checkLabels(labels: unknown, N: number, K: number, name: string): Int32Array {
  if (!(labels instanceof Int32Array)) throw expectedType('an Int32Array of class ids', name, labels);
  if (labels.length !== N) throw expectedRange(`${N} labels (one per vector)`, name, received(`${labels.length} labels`));
  for (let i = 0; i < N; ++i) {
    if (labels[i] < 0 || labels[i] >= K) throw expectedRange(`class ids in [0, ${K})`, name, `${labels[i]} at index ${i}`);
  }
  return labels;
}
