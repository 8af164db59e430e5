// float16 <-> float32 conversion (native/ops/half.h), the feature cache's
// storage type: the CPU kernels against a reference written from the IEEE 754
// binary16 definition (every one of the 65,536 bit patterns, and fresh random
// floats for the rounding), then the device op through the emulated CUDA
// surface and, where a GPU is present, the CUDA kernel against the CPU.
import test from 'ava';
import { native } from '../lib/binding';
import type { DeviceSurface } from '../lib/binding';
import { devices } from '../lib/backend/devices';
import { emulatedCuda } from './helpers/emulated_cuda';
import { seeded } from './helpers/numeric';

/** The value of a binary16 bit pattern, from the standard's definition. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The nearest binary16 of x (ties to even), by search over the finite halves, as bits. */
function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (halfValue(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  const below = lo;
  const above = Math.min(lo + 1, 0x7c00);
  const dBelow = a - halfValue(below);
  const dAbove = above === 0x7c00 ? Infinity : halfValue(above) - a;
  const pick = dBelow < dAbove ? below : dAbove < dBelow ? above : below % 2 === 0 ? below : above;
  return sign | pick;
}

const allHalves = Uint16Array.from({ length: 65536 }, (_, i) => i);

test('halfToFloat: every binary16 bit pattern to its exact value, in float32 and float64', (t) => {
  for (const dtype of ['float32', 'float64'] as const) {
    const out = native.alloc(65536, dtype, NaN);
    native.halfToFloat(65536, allHalves, out);
    let bad = 0;
    for (let h = 0; h < 65536; ++h) {
      const want = halfValue(h);
      const ok = Number.isNaN(want) ? Number.isNaN(out[h]) : Object.is(out[h], want);
      if (!ok && bad++ < 5) t.fail(`${dtype}: 0x${h.toString(16)} -> ${out[h]}, expected ${want}`);
    }
    t.is(bad, 0, dtype);
  }
});

test('floatToHalf: every half round-trips; fresh random floats round to the nearest half, ties to even', (t) => {
  const values = new Float32Array(65536);
  native.halfToFloat(65536, allHalves, values);
  const back = new Uint16Array(65536);
  native.floatToHalf(65536, values, back);
  for (let h = 0; h < 65536; ++h) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      if ((back[h] & 0x7c00) !== 0x7c00 || (back[h] & 0x3ff) === 0) t.fail(`NaN 0x${h.toString(16)} -> 0x${back[h].toString(16)}`);
    } else if (back[h] !== h) t.fail(`0x${h.toString(16)} -> 0x${back[h].toString(16)}`);
  }
  const rng = seeded(t);
  const n = 20000;
  const x = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    // Magnitudes over the whole half range and beyond: subnormals, normals, overflow.
    const mag = 2 ** (rng.uniform() * 46 - 28);
    x[i] = (rng.uniform() < 0.5 ? -1 : 1) * mag;
  }
  // Exact ties between neighbouring halves (the midpoint is a float), both parities.
  for (let i = 0; i < 2000; ++i) {
    const h = 1 + Math.floor(rng.uniform() * 0x7bfe);
    x[i] = (halfValue(h) + halfValue(h + 1)) / 2;
  }
  x[2000] = 65519.99;
  x[2001] = 65520;
  x[2002] = 2 ** -25;
  x[2003] = -(2 ** -25) * 1.0000001;
  x[2004] = NaN;
  x[2005] = -Infinity;
  const h = new Uint16Array(n).fill(0xffff);
  native.floatToHalf(n, x, h);
  let bad = 0;
  for (let i = 0; i < n; ++i) {
    const want = nearestHalf(x[i]);
    const same = Number.isNaN(x[i]) ? (h[i] & 0x7c00) === 0x7c00 && (h[i] & 0x3ff) !== 0 : h[i] === want;
    if (!same && bad++ < 5) t.fail(`${x[i]} -> 0x${h[i].toString(16)}, expected 0x${want.toString(16)}`);
  }
  t.is(bad, 0);
});

test('half conversions check their arguments', (t) => {
  t.throws(() => native.halfToFloat(4, new Int16Array(4) as never, new Float32Array(4)), { instanceOf: TypeError, message: /Expected a Uint16Array \(float16 bit patterns\) for h but received/ });
  t.throws(() => native.halfToFloat(4, new Uint16Array(3), new Float32Array(4)), { instanceOf: RangeError, message: /Expected at least 4 elements for h but received 3/ });
  t.throws(() => native.halfToFloat(4, new Uint16Array(4), new Float32Array(3)), { instanceOf: RangeError, message: /Expected at least 4 elements for out but received 3/ });
  t.throws(() => native.halfToFloat(4, new Uint16Array(4), new Int32Array(4) as never), { instanceOf: TypeError, message: /Expected a Float32Array, Float64Array or DeviceBuffer for out/ });
  t.throws(() => native.halfToFloat(-1, new Uint16Array(4), new Float32Array(4)), { instanceOf: RangeError, message: /Expected an integer >= 0 for n but received -1/ });
  t.throws(() => native.floatToHalf(4, new Float32Array(4), new Uint16Array(2)), { instanceOf: RangeError, message: /at least 4 elements for h/ });
});

/** The device ops on fresh random inputs, outputs poisoned, every element checked against the CPU kernels. */
function deviceParity(t: import('ava').ExecutionContext, cuda: DeviceSurface): void {
  const rng = seeded(t);
  for (const n of [1, 2, 7, 4099]) {
    const even = n + (n % 2);
    const h = new Uint16Array(even);
    for (let i = 0; i < n; ++i) h[i] = Math.floor(rng.uniform() * 65536);
    const want = new Float32Array(n);
    native.halfToFloat(n, h, want);
    const dh = new cuda.DeviceBuffer(2 * even);
    const dout = new cuda.DeviceBuffer(4 * n);
    cuda.cudaUpload(dh, new Int32Array(h.buffer, 0, even / 2));
    cuda.cudaFill(n, NaN, dout);
    cuda.halfToFloat(n, dh, dout);
    const got = new Float32Array(n);
    cuda.cudaDownload(dout, got);
    const sameFloat = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    const badAt = got.findIndex((v, i) => !sameFloat(v, want[i]));
    t.is(badAt, -1, `halfToFloat n=${n}: element ${badAt} (0x${h[badAt]?.toString(16)}) is ${got[badAt]}, expected ${want[badAt]}`);

    // floatToHalf: random floats over the half range, the device result against the CPU's bits.
    const x = new Float32Array(n);
    for (let i = 0; i < n; ++i) x[i] = (rng.uniform() - 0.5) * 2 ** (rng.uniform() * 40 - 24);
    const wantBits = new Uint16Array(even);
    native.floatToHalf(n, x, wantBits);
    const dx = new cuda.DeviceBuffer(4 * n);
    cuda.cudaUpload(dx, x);
    cuda.cudaFill(even / 2, NaN, dh);
    cuda.floatToHalf(n, dx, dh);
    const gotWords = new Int32Array(even / 2);
    cuda.cudaDownload(dh, gotWords);
    const gotBits = new Uint16Array(gotWords.buffer, 0, n);
    const badBits = gotBits.findIndex((v, i) => v !== wantBits[i]);
    t.is(badBits, -1, `floatToHalf n=${n}: element ${badBits} (${x[badBits]}) is 0x${gotBits[badBits]?.toString(16)}, expected 0x${wantBits[badBits]?.toString(16)}`);

    t.throws(() => cuda.halfToFloat(n + 4, dh, dout), { message: /Expected a device buffer of at least/ });
    for (const b of [dh, dout, dx]) b.dispose();
  }
}

test('halfToFloat and floatToHalf on device buffers, over the emulated CUDA surface: the device path against the CPU kernels', (t) => {
  deviceParity(t, emulatedCuda());
});

const report = devices();
if (report.cudaCompiled && report.devices.length > 0) {
  test('halfToFloat and floatToHalf on the GPU: the CUDA kernels against the CPU kernels', (t) => {
    deviceParity(t, native);
  });
} else {
  test('half conversions without a usable GPU: the CUDA kernels\' parity check is not run', (t) => {
    t.log(`the CUDA kernels' parity check did NOT RUN here: ${report.reason}`);
    // No device buffer can be made here; anything else in its place is refused.
    t.throws(() => native.halfToFloat(2, new Uint16Array(2), {} as never), { instanceOf: TypeError, message: /Expected a Float32Array, Float64Array or DeviceBuffer for out but received an object/ });
    t.throws(() => native.floatToHalf(2, {} as never, new Uint16Array(2)), { instanceOf: TypeError, message: /Expected a Float32Array, Float64Array or DeviceBuffer for x/ });
  });
}
