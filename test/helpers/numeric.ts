// Shared helpers of the numeric tests: a fresh seed per run (printed, and
// fixed by HGAD_TEST_SEED to replay a failure), random non-zero inputs,
// NaN-poisoned outputs, and the |a - b| <= atol + rtol*|ref| comparison.
import type { ExecutionContext } from 'ava';
import { FloatArray, native } from '../../lib/binding';
import { Random } from '../../lib/random';
import { DType, Tensor } from '../../lib/tensor';

let counter = 0;

/** A generator seeded from the clock (or HGAD_TEST_SEED); the seed is logged so a failure can be replayed. */
export function seeded(t: ExecutionContext): Random {
  const fixed = process.env.HGAD_TEST_SEED;
  const seed = fixed !== undefined ? Number(fixed) : (Date.now() * 1000 + counter++ * 7919) % 2 ** 52;
  t.log(`seed ${seed} (replay with HGAD_TEST_SEED=${seed})`);
  return new Random(seed);
}

/** Standard normal values times `scale`, never exactly zero. */
export function randn(rng: Random, n: number, dtype: DType, scale = 1, shift = 0): FloatArray {
  const a = native.alloc(n, dtype);
  for (let i = 0; i < n; ++i) {
    let v = 0;
    while (v === 0) v = rng.normal();
    a[i] = v * scale + shift;
  }
  return a;
}

export function randTensor(rng: Random, shape: number[], dtype: DType, scale = 1, requiresGrad = false): Tensor {
  const n = shape.reduce((x, y) => x * y, 1);
  return new Tensor(randn(rng, n, dtype, scale), shape, requiresGrad);
}

/** An output buffer filled with NaN, so an element the kernel does not write is caught. */
export function poisoned(n: number, dtype: DType): FloatArray {
  return native.alloc(n, dtype, NaN);
}

export interface Comparison {
  ok: boolean;
  worstRatio: number;
  worstIndex: number;
  worstAbs: number;
}

/** Worst ratio |a - b| / (atol + rtol*|ref|); NaN or a length mismatch fails. */
export function compare(actual: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): Comparison {
  if (actual.length !== ref.length) return { ok: false, worstRatio: Infinity, worstIndex: -1, worstAbs: Infinity };
  let worstRatio = 0;
  let worstIndex = -1;
  let worstAbs = 0;
  for (let i = 0; i < ref.length; ++i) {
    const err = Math.abs(actual[i] - ref[i]);
    const ratio = Number.isNaN(err) ? Infinity : err === 0 ? 0 : err / (atol + rtol * Math.abs(ref[i]));
    if (ratio > worstRatio || worstIndex < 0) {
      worstRatio = ratio;
      worstIndex = i;
    }
    if (!(err <= worstAbs)) worstAbs = Number.isNaN(err) ? Infinity : err;
  }
  return { ok: worstRatio <= 1, worstRatio, worstIndex, worstAbs };
}

/** One t.true per comparison, naming the worst element and its values. */
export function assertClose(t: ExecutionContext, label: string, actual: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): boolean {
  const r = compare(actual, ref, atol, rtol);
  const detail = r.worstIndex >= 0 ? `at ${r.worstIndex}: ${actual[r.worstIndex]} vs ${ref[r.worstIndex]}` : `length ${actual.length} vs ${ref.length}`;
  if (process.env.HGAD_TEST_VERBOSE) t.log(`${label}: worst ratio ${r.worstRatio.toPrecision(3)} (|err| ${r.worstAbs.toExponential(2)})`);
  t.true(r.ok, `${label}: |a-b| <= ${atol} + ${rtol}|ref| violated ${detail} (ratio ${r.worstRatio.toPrecision(3)})`);
  return r.ok;
}

/** True when every element is finite (no poison left). */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; ++i) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** log|det A| by LU with partial pivoting.  A: (C, C) row-major, not modified. */
export function logAbsDet(A: ArrayLike<number>, C: number): { logAbs: number; sign: number } {
  const lu = Float64Array.from(A);
  let sign = 1;
  let logAbs = 0;
  for (let k = 0; k < C; ++k) {
    let p = k;
    for (let i = k + 1; i < C; ++i) if (Math.abs(lu[i * C + k]) > Math.abs(lu[p * C + k])) p = i;
    const pivot = lu[p * C + k];
    if (pivot === 0) return { logAbs: -Infinity, sign: 0 };
    if (p !== k) {
      sign = -sign;
      for (let j = 0; j < C; ++j) [lu[k * C + j], lu[p * C + j]] = [lu[p * C + j], lu[k * C + j]];
    }
    if (pivot < 0) sign = -sign;
    logAbs += Math.log(Math.abs(pivot));
    for (let i = k + 1; i < C; ++i) {
      const f = lu[i * C + k] / pivot;
      for (let j = k + 1; j < C; ++j) lu[i * C + j] -= f * lu[k * C + j];
    }
  }
  return { logAbs, sign };
}
