// float16 <-> float32 conversion (native/ops/half.h), the feature cache's
// storage type: the CPU kernels against a reference written from the IEEE 754
// binary16 definition (every one of the 65,536 bit patterns, and fresh random
// floats for the rounding), then the device op through the emulated CUDA
// surface and, where a GPU is present, the CUDA kernel against the CPU.
import test from 'ava';
import { native } from '../lib/binding';
import { CudaAddon } from '../lib/cuda';
import { devices } from '../lib/devices';
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
    native.halfToFloat(allHalves, out);
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
  native.halfToFloat(allHalves, values);
  const back = new Uint16Array(65536);
  native.floatToHalf(values, back);
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
  native.floatToHalf(x, h);
  let bad = 0;
  for (let i = 0; i < n; ++i) {
    const want = nearestHalf(x[i]);
    const same = Number.isNaN(x[i]) ? (h[i] & 0x7c00) === 0x7c00 && (h[i] & 0x3ff) !== 0 : h[i] === want;
    if (!same && bad++ < 5) t.fail(`${x[i]} -> 0x${h[i].toString(16)}, expected 0x${want.toString(16)}`);
  }
  t.is(bad, 0);
});

test('half conversions check their arguments', (t) => {
  t.throws(() => native.halfToFloat(new Int16Array(4) as never, new Float32Array(4)), { instanceOf: TypeError, message: /Expected a Uint16Array \(float16 bit patterns\) for h but received/ });
  t.throws(() => native.halfToFloat(new Uint16Array(3), new Float32Array(4)), { instanceOf: RangeError, message: /Expected at least 4 elements for h but received 3/ });
  t.throws(() => native.halfToFloat(new Uint16Array(4), new Int32Array(4) as never), { instanceOf: TypeError, message: /Float32Array or Float64Array for out/ });
  t.throws(() => native.floatToHalf(new Float32Array(4), new Uint16Array(2)), { instanceOf: RangeError, message: /at least 4 elements for h/ });
});

/** The device op on fresh random halves, output poisoned, every element checked against the CPU kernel. */
function deviceParity(t: import('ava').ExecutionContext, cuda: CudaAddon): void {
  const rng = seeded(t);
  for (const n of [1, 2, 7, 4099]) {
    const h = new Uint16Array(n + (n % 2));
    for (let i = 0; i < n; ++i) h[i] = Math.floor(rng.uniform() * 65536);
    const want = new Float32Array(n);
    native.halfToFloat(h.subarray(0, n), want);
    const dh = new cuda.DeviceBuffer(2 * h.length);
    const dout = new cuda.DeviceBuffer(4 * n);
    cuda.cudaUpload(dh, new Int32Array(h.buffer, 0, h.length / 2));
    cuda.cudaFill(n, NaN, dout);
    cuda.cudaHalfToFloat(n, dh, dout);
    const got = new Float32Array(n);
    cuda.cudaDownload(dout, got);
    for (let i = 0; i < n; ++i) {
      if (!(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) {
        t.fail(`n=${n}: element ${i} (0x${h[i].toString(16)}) is ${got[i]}, expected ${want[i]}`);
        break;
      }
    }
    t.throws(() => cuda.cudaHalfToFloat(n + 4, dh, dout), { message: /Expected a device buffer of at least/ });
    dh.dispose();
    dout.dispose();
  }
  t.pass();
}

test('cudaHalfToFloat over the emulated CUDA surface: the device path against the CPU kernel', (t) => {
  deviceParity(t, emulatedCuda());
});

const report = devices();
if (report.cudaCompiled && report.devices.length > 0) {
  test('cudaHalfToFloat on the GPU: the CUDA kernel against the CPU kernel', (t) => {
    deviceParity(t, native as unknown as CudaAddon);
  });
} else {
  test('cudaHalfToFloat is registered when CUDA is compiled in', (t) => {
    t.log(`the CUDA kernel's parity check did NOT RUN here: ${report.reason}`);
    if (report.cudaCompiled) t.is(typeof (native as unknown as CudaAddon).cudaHalfToFloat, 'function');
    else t.pass('compiled without CUDA');
  });
}
