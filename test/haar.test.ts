// The native Householder construction of the Haar rotation: the same rotation
// as the former Gram-Schmidt for the same Gaussian draws (so a seed builds
// the model it always built), in float64 and float32, and fast at the
// channel counts of real backbones.
import test from 'ava';
import { haarRotation } from '../lib/nn/init';
import { cpu } from '../lib/backend/cpu';
import { Random } from '../lib/random';
import { determinantSign, gramSchmidtRotation } from './helpers/haar_reference';
import { assertClose } from './helpers/numeric';

test('the native rotation equals Gram-Schmidt on the same draws, around the 32-column panels', (t) => {
  const seed = Math.floor(Math.random() * 2 ** 31);
  for (const C of [1, 2, 31, 32, 33, 65, 130]) {
    const native = haarRotation(new Random(seed), C);
    const reference = gramSchmidtRotation(new Random(seed), C);
    assertClose(t, `C=${C} seed=${seed}`, native, reference, 1e-11, 1e-9);
    t.is(determinantSign(native, C), 1);
  }
});

test('the float32 kernel follows the float64 one', (t) => {
  const rng = new Random(Math.floor(Math.random() * 2 ** 31));
  for (const C of [3, 40, 100]) {
    const a = Float64Array.from({ length: C * C }, () => rng.normal());
    const q64 = new Float64Array(C * C);
    const q32 = new Float32Array(C * C).fill(NaN);
    cpu.haarOrthogonal(C, Float32Array.from(a), q32);
    cpu.haarOrthogonal(C, a.slice(), q64);
    assertClose(t, `C=${C}`, q32, q64, 5e-5, 1e-3);
  }
});

test('C = 1000 takes well under a second of the former 6 s', (t) => {
  const started = process.hrtime.bigint();
  const R = haarRotation(new Random(1), 1000);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.log(`C=1000: ${seconds.toFixed(3)} s`);
  // orthogonality of a few rows (the whole product is C^3)
  for (const [i, j] of [[0, 0], [0, 999], [500, 501], [999, 999]]) {
    let dot = 0;
    for (let k = 0; k < 1000; ++k) dot += R[i * 1000 + k] * R[j * 1000 + k];
    t.true(Math.abs(dot - (i === j ? 1 : 0)) < 1e-12, `row ${i} . row ${j} = ${dot}`);
  }
  t.true(seconds < 3, `${seconds} s`);
});
