// repeatRows (native/ops/rows.h): the CPU kernel in float32 and float64 and
// the CUDA backend's path over the emulated surface against a plain loop, on
// fresh random tables and NaN-poisoned outputs; bad arguments fail clearly.
import test from 'ava';
import { native } from '../lib/binding';
import { cpu } from '../lib/backend/cpu';
import { Random } from '../lib/random';
import { emulatedBackend } from './helpers/device';

function reference(copies: number, R: number, P: number, table: ArrayLike<number>): Float64Array {
  const y = new Float64Array(copies * R * P);
  for (let c = 0; c < copies; ++c) for (let r = 0; r < R; ++r) for (let p = 0; p < P; ++p) y[(c * R + r) * P + p] = table[r * P + p];
  return y;
}

// Sizes: a single row, a single copy, odd sizes, and one large enough to split over threads.
const SIZES: [number, number, number][] = [[1, 1, 1], [1, 7, 3], [5, 1, 9], [3, 12, 8], [8, 256, 64], [17, 33, 5]];

/** Index of the first element that differs (NaN never equals), or -1. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; ++i) if (!(a[i] === b[i])) return i;
  return -1;
}

test('repeatRows on the CPU, float32 and float64, writes every element of every copy', (t) => {
  const rng = new Random(31);
  for (const [copies, R, P] of SIZES) {
    for (const Arr of [Float32Array, Float64Array]) {
      const table = new Arr(R * P);
      for (let i = 0; i < table.length; ++i) table[i] = rng.normal();
      const y = new Arr(copies * R * P).fill(NaN);
      native.repeatRows(copies, R, P, table, y);
      t.is(firstDifference(y, reference(copies, R, P, table)), -1, `${Arr.name} ${copies}x${R}x${P}`);
    }
  }
});

test('repeatRows through the CUDA backend (emulated surface) equals the CPU backend', (t) => {
  const be = emulatedBackend();
  const rng = new Random(32);
  for (const [copies, R, P] of SIZES) {
    const table = Float32Array.from({ length: R * P }, () => rng.normal());
    const want = new Float32Array(copies * R * P);
    cpu.repeatRows(copies, R, P, table, want);
    const dt = be.fromHost(table, 'float32');
    const dy = be.alloc(copies * R * P, 'float32');
    be.repeatRows(copies, R, P, dt, dy);
    t.is(firstDifference(be.toHost(dy), want), -1, `${copies}x${R}x${P}`);
    be.release(dt);
    be.release(dy);
  }
  be.dispose();
});

test('repeatRows rejects short, mistyped and overlapping arrays', (t) => {
  const table = new Float32Array(6);
  t.throws(() => native.repeatRows(2, 3, 2, table, new Float32Array(11)), { instanceOf: RangeError, message: /y/ });
  t.throws(() => native.repeatRows(2, 3, 2, new Float32Array(5), new Float32Array(12)), { instanceOf: RangeError, message: /table/ });
  t.throws(() => native.repeatRows(2, 3, 2, table, new Float64Array(12)), { message: /y/ });
  t.throws(() => native.repeatRows(2, 3, 2, [1, 2, 3, 4, 5, 6] as unknown as Float32Array, new Float32Array(12)), { instanceOf: TypeError, message: /table/ });
  const buf = new Float32Array(18);
  t.throws(() => native.repeatRows(2, 3, 2, buf.subarray(0, 6), buf.subarray(4, 16)), { instanceOf: RangeError, message: /do not overlap/ });
  t.throws(() => native.repeatRows(-1, 3, 2, table, new Float32Array(12)), { instanceOf: RangeError, message: /copies/ });
});
