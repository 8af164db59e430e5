// Bad inputs are TypeErrors/RangeErrors that name the argument ("Expected X for
// Y but received Z"), never a crash: the native binding's own checks, Tensor,
// Flow and GaussianMixture.
import test from 'ava';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { native } from '../lib/binding';
import { Flow } from '../lib/nn/flow';
import { GaussianMixture } from '../lib/nn/heads';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { randn, randTensor, seeded } from './helpers/numeric';

const f32 = (n: number) => randn(new Random(n + 1), n, 'float32');
const f64 = (n: number) => randn(new Random(n + 2), n, 'float64');
const rangeError = (message: RegExp) => ({ instanceOf: RangeError, message });
const typeError = (message: RegExp) => ({ instanceOf: TypeError, message });
// The binding's functions take positional arguments of several types; tests pass wrong ones on purpose.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const raw = native as any;

// A valid gemm call (2x3 times 3x4 into 2x4) with one argument replaced.
function gemmArgs(dtype: 'float32' | 'float64', replace: Record<number, unknown> = {}): unknown[] {
  const make = dtype === 'float32' ? f32 : f64;
  const args: unknown[] = [false, false, 2, 4, 3, make(6), 3, make(12), 4, 0, make(8), 4, null, false];
  for (const [i, v] of Object.entries(replace)) args[Number(i)] = v;
  return args;
}

test('gemm: a valid call passes; each bad argument is named', (t) => {
  for (const dtype of ['float32', 'float64'] as const) t.notThrows(() => raw.gemm(...gemmArgs(dtype)));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 5: new Int32Array(6) })), typeError(/Expected a Float32Array, Float64Array or DeviceBuffer for A but received an? Int32Array of length 6/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 7: f64(12) })), typeError(/Expected a Float32Array for B but received a Float64Array of length 12/));
  t.throws(() => raw.gemm(...gemmArgs('float64', { 10: f32(8) })), typeError(/Expected a Float64Array for C but received a Float32Array/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 12: f64(4) })), typeError(/Expected a Float32Array for bias/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 10: f32(7) })), rangeError(/Expected at least 8 elements for C but received 7/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 5: f32(5) })), rangeError(/Expected at least 6 elements for A but received 5/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 12: f32(3) })), rangeError(/Expected at least 4 elements for bias but received 3/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 2: -1 })), rangeError(/Expected an integer >= 0 for M but received -1/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 4: 2.5 })), rangeError(/for K but received 2\.5/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 3: NaN })), rangeError(/for N but received NaN/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 3: Infinity })), rangeError(/for N/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 3: '4' })), typeError(/Expected an integer for N but received a string/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 9: NaN })), rangeError(/Expected a finite number for beta but received NaN/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 0: 0 })), typeError(/Expected a boolean for transA but received 0/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 13: 'yes' })), typeError(/Expected a boolean for relu/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 6: 2 })), rangeError(/Expected a leading dimension >= 3 for lda but received 2/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 8: 3 })), rangeError(/Expected a leading dimension >= 4 for ldb but received 3/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 11: 3 })), rangeError(/Expected a leading dimension >= 4 for ldc but received 3/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 1: true, 8: 2 })), rangeError(/leading dimension >= 3 for ldb/), 'transposed B is (N, K): ldb >= K');
  t.throws(() => raw.gemm(), typeError(/for transA but received undefined/));
  // The device implementation code (arguments 14: stream, 15: backend) is checked on the host too, and has no effect there.
  t.throws(() => raw.gemm(...gemmArgs('float32', { 14: null, 15: 5 })), rangeError(/Expected a backend in 0\.\.4 for backend but received 5/));
  t.throws(() => raw.gemm(...gemmArgs('float32', { 14: null, 15: 'tf32' })), typeError(/Expected an integer for backend but received a string/));
  for (const code of [0, 1, 2, 3, 4]) t.notThrows(() => raw.gemm(...gemmArgs('float64', { 14: null, 15: code })));
});

test('coupling kernels: dtype, length, channel count and clamp are checked', (t) => {
  const [N, C] = [3, 5];
  t.notThrows(() => native.couplingForward(N, C, f32(15), f32(12), 1.9, null, f32(1), f32(15), f32(3)));
  t.throws(() => raw.couplingForward(N, C, new Int32Array(15), f32(12), 1.9, null, f32(1), f32(15), f32(3)), typeError(/for x but received an? Int32Array/));
  t.throws(() => raw.couplingForward(N, C, f32(15), f64(12), 1.9, null, f32(1), f32(15), f32(3)), typeError(/Expected a Float32Array for a but received a Float64Array/));
  t.throws(() => raw.couplingForward(N, C, f32(15), f32(11), 1.9, null, f32(1), f32(15), f32(3)), rangeError(/at least 12 elements for a but received 11/));
  t.throws(() => raw.couplingForward(N, C, f32(15), f32(12), 1.9, f32(2), f32(1), f32(15), f32(3)), rangeError(/at least 3 elements for logdetIn/));
  t.throws(() => raw.couplingForward(N, C, f32(15), f32(12), 1.9, null, f32(1), f32(15), f64(3)), typeError(/for logdetOut but received a Float64Array/));
  t.throws(() => raw.couplingForward(N, 1, f32(15), f32(12), 1.9, null, f32(1), f32(15), f32(3)), rangeError(/Expected an integer >= 2 for C but received 1/));
  t.throws(() => raw.couplingForward(N, C, f32(15), f32(12), NaN, null, f32(1), f32(15), f32(3)), rangeError(/finite number for clamp but received NaN/));
  t.throws(() => raw.couplingForward(N, C, f32(15), f32(12), 1.9, null, f32(0), f32(15), f32(3)), rangeError(/at least 1 elements? for logdetConst/));
  t.throws(() => raw.couplingInverse(N, C, f64(15), f64(12), 1.9, null, f64(1), f64(14), f64(3)), rangeError(/at least 15 elements for x but received 14/));
  t.throws(() => raw.couplingBackward(N, C, f64(15), f64(12), 1.9, f64(15), null, f64(15), f32(12)), typeError(/Expected a Float64Array for da/));
  t.throws(() => raw.couplingBackward(-3, C, f64(15), f64(12), 1.9, f64(15), null, f64(15), f64(12)), rangeError(/for N but received -3/));
});

test('elementwise and row kernels: dtype, length and sizes are checked', (t) => {
  t.throws(() => raw.axpy(4, 1, f32(4), f64(4)), typeError(/Expected a Float32Array for y but received a Float64Array/));
  t.throws(() => raw.axpy(4, 1, f32(4), f32(3)), rangeError(/at least 4 elements for y but received 3/));
  t.throws(() => raw.axpy(4, NaN, f32(4), f32(4)), rangeError(/finite number for alpha but received NaN/));
  t.throws(() => raw.axpy(2, 1, [1, 2], f32(2)), typeError(/for x but received an array/));
  t.throws(() => raw.axpy(5, 1, f32(4), f32(5)), rangeError(/at least 5 elements for x but received 4/));
  t.throws(() => raw.scale(4, 2, f64(4), f32(4)), typeError(/Expected a Float64Array for out/));
  t.throws(() => raw.scale(3, 2, new Int32Array(3), f32(3)), typeError(/for x but received an? Int32Array/));
  t.throws(() => raw.reluBackward(4, f32(4), f32(3)), rangeError(/for dh/));
  t.throws(() => raw.columnSum(4, 3, f32(12), 0, f32(2)), rangeError(/at least 3 elements for v but received 2/));
  t.throws(() => raw.columnSum(4, 3, f32(11), 0, f32(3)), rangeError(/at least 12 elements for X but received 11/));
  t.throws(() => raw.rowSum(4, 0, f32(4), f32(4)), rangeError(/Expected an integer >= 1 for M but received 0/));
  t.throws(() => raw.logSoftmaxRows(4, 3, f32(12), f32(11)), rangeError(/at least 12 elements for Y/));
  t.throws(() => raw.logSoftmaxRowsBackward(2, 3, f32(6), f64(6), f32(6)), typeError(/Float32Array for dY/));
  t.throws(() => raw.packColumns(2, f32(8), 4, 2, 3, null, 0, f32(6)), rangeError(/c0 \+ W0 <= ldx for columns but received 5/));
  t.throws(() => raw.packColumns(2, f32(8), 4, 1, 3, null, 2, f32(10)), typeError(/Expected a Float32Array for Z but received null/));
  t.throws(() => raw.packColumns(2, f32(8), 4, 1, 3, f32(4), 2, f32(9)), rangeError(/at least 10 elements for out/));
  t.throws(() => raw.unpackColumnsBackward(2, f32(10), 3, 2, f32(7), 4, 1, null), rangeError(/at least 8 elements for dX/));
  t.throws(() => raw.unpackColumnsBackward(2, f32(10), 3, 2, f32(8), 4, 2, null), rangeError(/for columns/));
  t.throws(() => raw.firstNonFinite(new Int32Array(4)), typeError(/Float32Array or Float64Array for x but received an? Int32Array/));
  t.throws(() => raw.firstNonFinite(null), typeError(/for x but received null/));
});

test('mixture head: labels out of range, wrong label type, missing Y or labels', (t) => {
  const [N, C, K, M] = [4, 3, 3, 2];
  const call = (labels: unknown, Y: unknown, outs: unknown[]) =>
    raw.mixtureHeadForward(N, C, K, M, f64(N * C), f64(N), labels, Y, f64(K * M * C), f64(K), f64(K * M), ...outs);
  const all = () => [f64(N), f64(N), f64(N), f64(N), f64(N)];
  t.notThrows(() => call(Int32Array.from([0, 1, 2, 0]), f64(N * K), all()));
  t.throws(() => call(Int32Array.from([0, 1, 3, 0]), f64(N * K), all()), rangeError(/Expected class ids in \[0, 3\) for labels but received 3 at index 2/));
  t.throws(() => call(Int32Array.from([0, -1, 2, 0]), f64(N * K), all()), rangeError(/for labels but received -1 at index 1/));
  t.throws(() => call(Float64Array.from([0, 1, 2, 0]), f64(N * K), all()), typeError(/Expected an Int32Array for labels but received a Float64Array/));
  t.throws(() => call(Int32Array.from([0, 1, 2]), f64(N * K), all()), rangeError(/at least 4 elements for labels/));
  t.throws(() => call(Int32Array.from([0, 1, 2, 0]), null, all()), typeError(/for Y/));
  t.throws(() => call(null, f64(N * K), all()), typeError(/labels when Lgi or logp is wanted for labels/));
  t.throws(() => call(Int32Array.from([0, 1, 2, 0]), f32(N * K), all()), typeError(/Expected a Float64Array for Y but received a Float32Array/));
  t.throws(() => raw.mixtureHeadForward(N, C, 0, M, f64(N * C), f64(N), null, null, f64(18), f64(3), f64(6), null, null, null, null, null), rangeError(/integer >= 1 for K/));
  const grads = [f64(N * C), f64(N), f64(K * M * C), f64(K), f64(K * M)];
  const back = (labels: unknown, weights: number[]) =>
    raw.mixtureHeadBackward(N, C, K, M, f64(N * C), f64(N), labels, f64(N * K), f64(K * M * C), f64(K), f64(K * M), ...weights, ...grads);
  t.notThrows(() => back(Int32Array.from([0, 1, 2, 0]), [1, 1, 1, 1, 1]));
  t.throws(() => back(Int32Array.from([0, 1, 2, 0]), [NaN, 1, 1, 1, 1]), rangeError(/for weights\.g but received NaN/));
  t.throws(() => back(null, [1, 1, 1, 1, 0]), typeError(/labels when weights\.gi or weights\.z is not 0/));
  t.throws(() => back(Int32Array.from([0, 1, 2, 5]), [1, 1, 1, 0, 0]), rangeError(/received 5 at index 3/));
});

test('alloc and setThreadCount: bad dtype, length, fill and counts', (t) => {
  t.throws(() => raw.alloc(4, 'int8'), typeError(/Expected "float32", "float64" or "int32" for dtype but received "int8"/));
  t.throws(() => raw.alloc(4), typeError(/for dtype but received undefined/));
  t.throws(() => raw.alloc(-1, 'float32'), rangeError(/Expected an integer >= 0 for length but received -1/));
  t.throws(() => raw.alloc(1.5, 'float32'), rangeError(/for length but received 1\.5/));
  t.throws(() => raw.alloc(NaN, 'float64'), rangeError(/for length but received NaN/));
  const stringLength = t.throws(() => raw.alloc('8', 'float64'), { message: /Expected an integer.* for length/ });
  t.true(stringLength instanceof TypeError || stringLength instanceof RangeError);
  t.throws(() => raw.alloc(2 ** 40, 'float32'), rangeError(/below 2\^40 bytes for length/));
  t.throws(() => raw.alloc(4, 'float32', 'x'), typeError(/Expected a number for fill/));
  t.throws(() => raw.alignOffset(new Float32Array(2)), typeError(/Expected an ArrayBuffer for buffer/));
  t.throws(() => raw.addressModulo(new Float32Array(2), 0), rangeError(/for modulus but received 0/));
  const before = native.threadCount();
  t.throws(() => raw.setThreadCount(0), rangeError(/Expected an integer >= 1 for threads but received 0/));
  t.throws(() => raw.setThreadCount(257), rangeError(/at most 256 for threads but received 257/));
  t.throws(() => raw.setThreadCount(1.5), rangeError(/for threads/));
  t.throws(() => raw.setThreadCount('2'), typeError(/for threads/));
  t.is(native.threadCount(), before, 'a rejected call leaves the count unchanged');
});

// Sizes whose products would overflow int64 in the binding's length checks (N*C,
// (rows-1)*ld + cols) must be rejected before any pointer is touched. Run in a child
// process so that a regression shows as a failed test, not as a crashed test runner.
const OVERFLOW_CALLS: Record<string, string> = {
  couplingForward: 'const f = new Float64Array(4096); n.couplingForward(2048, 2 ** 52, f, f, 1.9, null, f, f, f);',
  gemm: 'const f = new Float64Array(4096); n.gemm(false, false, 2049, 1, 1, f, 2 ** 52, f, 1, 0, f, 2 ** 52, null, false);',
  rowSum: 'const f = new Float64Array(4096); n.rowSum(2048, 2 ** 52, f, f);',
};
for (const [name, call] of Object.entries(OVERFLOW_CALLS)) {
  test(`${name} with sizes whose product would overflow int64 throws a RangeError`, (t) => {
    const addon = path.join(__dirname, '..', '..', 'build', 'Release', 'hgad.node');
    const script = `const n = require(${JSON.stringify(addon)}); try { ${call} console.log('returned'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30000 });
    t.log(`exit ${r.status} signal ${r.signal} stdout ${r.stdout.trim()}`);
    t.is(r.signal, null, 'the process was killed by a signal');
    t.regex(r.stdout, /^RangeError: Expected /);
  });
}

test('Tensor: data or values of the wrong length', (t) => {
  t.throws(() => Tensor.from([1, 2, 3, 4, 5], [2, 3]), rangeError(/Expected 6 values for shape \[2, 3\] for values but received an array of length 5/));
  t.throws(() => Tensor.from(new Float32Array(7), [2, 3], 'float64'), rangeError(/for values but received a Float32Array of length 7/));
  t.throws(() => new Tensor(native.alloc(5, 'float32'), [3, 2]), rangeError(/Expected 6 elements for shape \[3, 2\] for data/));
  t.notThrows(() => Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]));
});

test('Flow.create rejects bad configurations, naming the field', (t) => {
  const good = { channels: 4, condChannels: 2, couplings: 2, clamp: 1.9 };
  t.notThrows(() => Flow.create(good, 1));
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ channels: 1 }, /Expected an integer >= 2 for config\.channels but received 1/],
    [{ channels: 0 }, /for config\.channels but received 0/],
    [{ channels: 3.5 }, /for config\.channels but received 3\.5/],
    [{ channels: NaN }, /for config\.channels but received NaN/],
    [{ channels: '4' }, /for config\.channels but received "4"/],
    [{ condChannels: -1 }, /Expected an integer >= 0 for config\.condChannels but received -1/],
    [{ condChannels: NaN }, /for config\.condChannels but received NaN/],
    [{ couplings: 0 }, /Expected a positive integer for config\.couplings but received 0/],
    [{ couplings: 1.5 }, /for config\.couplings/],
    [{ clamp: -1 }, /Expected a positive finite number for config\.clamp but received -1/],
    [{ clamp: 0 }, /for config\.clamp but received 0/],
    [{ clamp: NaN }, /for config\.clamp but received NaN/],
    [{ clamp: Infinity }, /for config\.clamp but received Infinity/],
    [{ hidden: 0 }, /Expected a positive integer for config\.hidden but received 0/],
  ];
  for (const [change, message] of bad) {
    t.throws(() => Flow.create({ ...good, ...change } as typeof good, 1), rangeError(message), JSON.stringify(change));
  }
  t.throws(() => Flow.create(null as unknown as typeof good), typeError(/Expected a flow configuration object for config but received null/));
});

test('Flow.forward and inverse reject bad x and cond, naming them', (t) => {
  const rng = seeded(t);
  const [N, C, P] = [3, 4, 2];
  // checkMatrix and checkFinite hand a preformatted "shape [..]" / "NaN at index i" to expectedRange,
  // whose describe() quotes strings: the '"?' in the patterns tolerates that (reported, cosmetic).
  const cflow = Flow.create({ channels: C, condChannels: P, couplings: 2, clamp: 1.9 }, rng);
  const uflow = Flow.create({ channels: C, condChannels: 0, couplings: 2, clamp: 1.9 }, rng);
  const x = randTensor(rng, [N, C], 'float32');
  const cond = randTensor(rng, [N, P], 'float32');
  t.notThrows(() => cflow.forward(x, cond));
  t.notThrows(() => uflow.forward(x));
  t.throws(() => uflow.forward(randTensor(rng, [N, C + 1], 'float32')), rangeError(/Expected 4 columns for x but received "?shape \[3, 5\]/));
  t.throws(() => uflow.forward(randTensor(rng, [N * C], 'float32')), rangeError(/Expected a 2-D tensor for x/));
  t.throws(() => uflow.forward(x.data as unknown as Tensor), typeError(/Expected a Tensor for x but received a Float32Array/));
  t.throws(() => uflow.forward(x.clone('float64')), typeError(/Expected a float32 tensor for x but received a float64 tensor/));
  t.throws(() => uflow.forward(x, cond), typeError(/Expected no condition \(the flow is unconditional\) for cond/));
  t.throws(() => cflow.forward(x), typeError(/Expected a Tensor for cond but received null/));
  t.throws(() => cflow.forward(x, randTensor(rng, [N + 1, P], 'float32')), rangeError(/Expected 3 rows for cond but received "?shape \[4, 2\]/));
  t.throws(() => cflow.forward(x, randTensor(rng, [N, P + 1], 'float32')), rangeError(/Expected 2 columns for cond/));
  t.throws(() => cflow.forward(x, cond.clone('float64')), typeError(/Expected a float32 tensor for cond/));
  for (const [bad, word] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
    const xb = x.clone();
    xb.data[7] = bad;
    t.throws(() => cflow.forward(xb, cond), rangeError(new RegExp(`Expected finite values for x but received "?${word} at index 7`)));
    const cb = cond.clone();
    cb.data[5] = bad;
    t.throws(() => cflow.forward(x, cb), rangeError(new RegExp(`Expected finite values for cond but received "?${word} at index 5`)));
    t.throws(() => cflow.inverse(xb, cond), rangeError(new RegExp(`Expected finite values for z but received "?${word} at index 7`)));
  }
  t.throws(() => uflow.inverse(randTensor(rng, [N, C - 1], 'float32')), rangeError(/for z/));
});

test('GaussianMixture rejects parameters of the wrong shape, naming them', (t) => {
  const rng = seeded(t);
  const [C, K, M] = [5, 3, 4];
  const config = { channels: C, classes: K, intraCentres: M };
  const shapes = { mu: [K, C], muDelta: [K, M - 1, C], phiInter: [K], phiIntra: [K, M] };
  const make = (override: Partial<Record<keyof typeof shapes, number[]>>) => {
    const s = { ...shapes, ...override };
    return () => new GaussianMixture(config, randTensor(rng, s.mu, 'float32'), randTensor(rng, s.muDelta, 'float32'),
      randTensor(rng, s.phiInter, 'float32'), randTensor(rng, s.phiIntra, 'float32'));
  };
  t.notThrows(make({}));
  t.throws(make({ mu: [K, C + 1] }), rangeError(/Expected shape \[3, 5\] for mu but received \[3, 6\]/));
  t.throws(make({ mu: [K * C] }), rangeError(/for mu but received \[15\]/));
  t.throws(make({ muDelta: [K, M, C] }), rangeError(/Expected shape \[3, 3, 5\] for muDelta but received \[3, 4, 5\]/));
  t.throws(make({ phiInter: [K + 1] }), rangeError(/Expected shape \[3\] for phiInter but received \[4\]/));
  t.throws(make({ phiIntra: [M, K] }), rangeError(/Expected shape \[3, 4\] for phiIntra but received \[4, 3\]/));
});
