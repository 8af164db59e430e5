// NumPy .npy reading and writing.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from '../lib/errors';
import {
  NpyArray,
  NpyDtype,
  encodeNpy,
  parseNpy,
  readNpy,
  readNpyAsync,
  toFloat32,
  toInt32Labels,
  writeNpy,
  writeNpyAsync,
} from '../lib/io/npy';
import {
  readSafetensors,
  readSafetensorsAsync,
} from '../lib/io/safetensors';
import { fixture, tempDir, SHAPES, NPY_DTYPES, sampleData, product, npyWithHeader } from './helpers/io_fixtures';

// ================================================================ npy

test('npy round-trips every dtype and shape', (t) => {
  for (const dtype of NPY_DTYPES) {
    for (const shape of SHAPES) {
      const arr: NpyArray = { dtype, shape, data: sampleData(dtype, product(shape)) };
      const back = parseNpy(encodeNpy(arr));
      t.deepEqual(back, arr, `${dtype} [${shape}]`);
    }
  }
});

test('encodeNpy aligns the data to 64 bytes and ends the header with a newline', (t) => {
  for (const shape of SHAPES) {
    const buf = encodeNpy({ dtype: 'float64', shape, data: new Float64Array(product(shape)) });
    const headerEnd = 10 + buf.readUInt16LE(8);
    t.is(headerEnd % 64, 0);
    t.is(buf[headerEnd - 1], 0x0a);
  }
});

test('encodeNpy matches files written by numpy byte for byte', (t) => {
  const cases: Array<[string, NpyArray]> = [
    ['float32_3x4.npy', { dtype: 'float32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => (i - 5.5) / 4) }],
    ['float64_5.npy', { dtype: 'float64', shape: [5], data: Float64Array.from([0.1, -2.5, 1e300, -0, Math.PI]) }],
    [
      'int32_2x2x2.npy',
      { dtype: 'int32', shape: [2, 2, 2], data: Int32Array.from([-2147483648, -1, 0, 1, 2, 3, 2147483647, 42]) },
    ],
    [
      'int64_4.npy',
      { dtype: 'int64', shape: [4], data: BigInt64Array.from([-(2n ** 63n), -1n, 2n ** 53n + 1n, 2n ** 63n - 1n]) },
    ],
    ['uint8_3.npy', { dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 128, 255]) }],
    ['float32_scalar.npy', { dtype: 'float32', shape: [], data: Float32Array.from([2.5]) }],
    ['float32_0x3.npy', { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }],
  ];
  for (const [name, expected] of cases) {
    const bytes = fs.readFileSync(fixture(name));
    t.true(encodeNpy(expected).equals(bytes), `encode ${name}`);
    const parsed = parseNpy(bytes, name);
    t.deepEqual(parsed, expected, `parse ${name}`);
    t.is(Object.is(parsed.data[3], -0), name === 'float64_5.npy', `sign of zero in ${name}`);
  }
});

test('parseNpy reads format versions 2.0 and 3.0 written by numpy', (t) => {
  t.deepEqual(readNpy(fixture('v2_int32_3.npy')), { dtype: 'int32', shape: [3], data: Int32Array.from([7, -8, 9]) });
  t.deepEqual(readNpy(fixture('v3_float64_2.npy')), { dtype: 'float64', shape: [2], data: Float64Array.from([1.5, -2.25]) });
});

test('parseNpy rejects a Fortran-order file written by numpy', (t) => {
  const err = t.throws(() => readNpy(fixture('fortran_2x3.npy')), { instanceOf: FormatError });
  t.regex(err!.message, /fortran_2x3\.npy: Fortran-order .*not supported/);
});

test('parseNpy rejects a big-endian file written by numpy', (t) => {
  const err = t.throws(() => readNpy(fixture('bigendian_3.npy')), { instanceOf: FormatError });
  t.regex(err!.message, /big-endian dtype '>f4' is not supported/);
});

test('parseNpy copies data from an unaligned offset into an aligned array', (t) => {
  const bytes = encodeNpy({ dtype: 'float64', shape: [3], data: Float64Array.from([1, 2, 3]) });
  const shifted = Buffer.alloc(bytes.length + 3);
  bytes.copy(shifted, 3);
  const arr = parseNpy(shifted.subarray(3));
  t.deepEqual(arr.data, Float64Array.from([1, 2, 3]));
  t.is(arr.data.byteOffset, 0);
  t.not(arr.data.buffer, shifted.buffer);
});

test('parseNpy accepts header variants: double quotes, Python 2 longs, spacing, <u1', (t) => {
  const data = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  const arr = parseNpy(npyWithHeader(`{"shape" : (2L,3L) ,"descr":"<u1",  "fortran_order":False}`, data));
  t.deepEqual(arr, { dtype: 'uint8', shape: [2, 3], data });
  t.deepEqual(parseNpy(npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (), }`, new Uint8Array(4))).shape, []);
});

test('parseNpy rejects truncated files with the byte counts', (t) => {
  const bytes = encodeNpy({ dtype: 'float32', shape: [3, 4], data: new Float32Array(12) });
  let err = t.throws(() => parseNpy(bytes.subarray(0, bytes.length - 1), 'a.npy'), { instanceOf: FormatError });
  t.is(err!.message, 'a.npy: truncated: expected 48 bytes of data, found 47');
  err = t.throws(() => parseNpy(bytes.subarray(0, 128)), { instanceOf: FormatError });
  t.is(err!.message, '<buffer>: truncated: expected 48 bytes of data, found 0');
  err = t.throws(() => parseNpy(bytes.subarray(0, 40)), { instanceOf: FormatError });
  t.regex(err!.message, /truncated: expected a 118-byte header, found 30/);
  err = t.throws(() => parseNpy(bytes.subarray(0, 9)), { instanceOf: FormatError });
  t.regex(err!.message, /truncated: \.npy preamble is incomplete/);
  err = t.throws(() => parseNpy(Buffer.concat([bytes, Buffer.alloc(2)])), { instanceOf: FormatError });
  t.regex(err!.message, /expected 48 bytes of data, found 50 \(trailing bytes\)/);
});

test('parseNpy rejects a bad magic string and unknown versions', (t) => {
  const bytes = encodeNpy({ dtype: 'uint8', shape: [1], data: new Uint8Array(1) });
  for (const bad of [Buffer.from('PK\x03\x04 not numpy'), Buffer.alloc(0), Buffer.from(bytes).fill(0x4e, 0, 1)]) {
    const err = t.throws(() => parseNpy(bad), { instanceOf: FormatError });
    t.regex(err!.message, /not a \.npy file \(bad magic string\)/);
  }
  const v4 = Buffer.from(bytes);
  v4[6] = 4;
  t.regex(t.throws(() => parseNpy(v4), { instanceOf: FormatError })!.message, /unsupported \.npy format version 4\.0/);
});

test('parseNpy names unsupported dtypes and the supported ones', (t) => {
  for (const descr of ['<f2', '<c8', '|i1', '<u4', '<U3']) {
    const err = t.throws(() => parseNpy(npyWithHeader(`{'descr': '${descr}', 'fortran_order': False, 'shape': (0,), }`)), {
      instanceOf: FormatError,
    });
    t.is(err!.message, `<buffer>: unsupported dtype '${descr}'; supported: '<f4', '<f8', '<i4', '<i8', '|u1', '|b1'`);
  }
  const structured = npyWithHeader(`{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(8));
  t.regex(t.throws(() => parseNpy(structured), { instanceOf: FormatError })!.message, /unsupported dtype a structured dtype/);
});

test('parseNpy rejects malformed headers', (t) => {
  const cases: Array<[string, RegExp]> = [
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (3,}`, /malformed \.npy header at character 53: unexpected "}"/],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (3 4)}`, /malformed \.npy header at character 53: expected ',' or '\)'/],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,), }`, /malformed \.npy header/],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } junk`, /malformed \.npy header.*unexpected "j"/],
    [`{'descr': '<f4, 'fortran_order': False}`, /malformed \.npy header/],
    [`{'descr': '<f4', 'fortran_order': False}`, /exactly the keys descr, fortran_order, shape; found descr, fortran_order/],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}`, /exactly the keys/],
    [`{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }`, /fortran_order is not True or False/],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }`, /shape is not a tuple of non-negative integers/],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': 3, }`, /shape is not a tuple of non-negative integers/],
    [`['descr', '<f4']`, /header is not a dictionary/],
    [``, /unexpected end/],
  ];
  for (const [header, message] of cases) {
    t.regex(t.throws(() => parseNpy(npyWithHeader(header), 'h.npy'), { instanceOf: FormatError })!.message, message, header);
  }
});

test('encodeNpy validates dtype, shape and data', (t) => {
  let err = t.throws(() => encodeNpy({ dtype: 'float32', shape: [3, 4], data: new Float32Array(11) }), { instanceOf: RangeError });
  t.is(err!.message, 'Expected length 12 (the product of shape [3, 4]) for arr.data but received a Float32Array of length 11');
  err = t.throws(() => encodeNpy({ dtype: 'float32', shape: [2], data: new Float64Array(2) }), { instanceOf: TypeError });
  t.is(err!.message, 'Expected a Float32Array (dtype float32) for arr.data but received a Float64Array of length 2');
  err = t.throws(() => encodeNpy({ dtype: 'float16' as NpyDtype, shape: [2], data: new Float32Array(2) }), { instanceOf: TypeError });
  t.regex(err!.message, /^Expected one of float32, float64, int32, int64, uint8, bool for arr\.dtype but received "float16"$/);
  err = t.throws(() => encodeNpy({ dtype: 'uint8', shape: [2, -1], data: new Uint8Array(0) }), { instanceOf: RangeError });
  t.is(err!.message, 'Expected a non-negative integer for arr.shape[1] but received -1');
  t.throws(() => encodeNpy(null as unknown as NpyArray), { instanceOf: TypeError, message: /for arr but received null/ });
});

test('readNpy/writeNpy and their async variants go through files', async (t) => {
  const dir = tempDir();
  const arr: NpyArray = { dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([1n, -2n, 3n, -4n]) };
  writeNpy(path.join(dir, 'a.npy'), arr);
  t.deepEqual(readNpy(path.join(dir, 'a.npy')), arr);
  await writeNpyAsync(path.join(dir, 'b.npy'), arr);
  t.deepEqual(await readNpyAsync(path.join(dir, 'b.npy')), arr);
  t.deepEqual(fs.readdirSync(dir).sort(), ['a.npy', 'b.npy']);
});

test('reading a missing file says so', async (t) => {
  const missing = path.join(tempDir(), 'nope.npy');
  t.throws(() => readNpy(missing), { instanceOf: Error, message: `${missing}: no such file` });
  await t.throwsAsync(readNpyAsync(missing), { message: `${missing}: no such file` });
  t.throws(() => readSafetensors(missing), { message: `${missing}: no such file` });
  await t.throwsAsync(readSafetensorsAsync(missing), { message: `${missing}: no such file` });
});

test('parse errors from files name the file', (t) => {
  const file = path.join(tempDir(), 'bad.npy');
  fs.writeFileSync(file, 'hello');
  const err = t.throws(() => readNpy(file), { instanceOf: FormatError });
  t.is((err as FormatError).file, file);
  t.true(err!.message.startsWith(`${file}: `));
});

test('toFloat32 converts every dtype', (t) => {
  const want = [0, 1, 2, 250];
  t.deepEqual(Array.from(toFloat32({ dtype: 'float64', shape: [4], data: Float64Array.from(want) }, 'x')), want);
  t.deepEqual(Array.from(toFloat32({ dtype: 'int32', shape: [4], data: Int32Array.from(want) }, 'x')), want);
  t.deepEqual(Array.from(toFloat32({ dtype: 'uint8', shape: [4], data: Uint8Array.from(want) }, 'x')), want);
  t.deepEqual(Array.from(toFloat32({ dtype: 'int64', shape: [4], data: BigInt64Array.from(want.map(BigInt)) }, 'x')), want);
  const f32 = Float32Array.from(want);
  t.is(toFloat32({ dtype: 'float32', shape: [2, 2], data: f32 }, 'x'), f32);
  t.deepEqual(Array.from(toFloat32({ dtype: 'int64', shape: [2], data: BigInt64Array.from([2n ** 53n, -(2n ** 53n)]) }, 'x')), [
    2 ** 53,
    -(2 ** 53),
  ]);
  const err = t.throws(() => toFloat32({ dtype: 'int64', shape: [2], data: BigInt64Array.from([0n, 2n ** 53n + 1n]) }, 'features'), {
    instanceOf: RangeError,
  });
  t.regex(err!.message, /^Expected int64 values within ±2\^53 for features\[1\] but received 9007199254740992$/);
});

test('toInt32Labels accepts integer dtypes and integer-valued floats only', (t) => {
  const want = [0, 3, 1, 2];
  t.deepEqual(Array.from(toInt32Labels({ dtype: 'int64', shape: [4], data: BigInt64Array.from(want.map(BigInt)) }, 'y')), want);
  t.deepEqual(Array.from(toInt32Labels({ dtype: 'uint8', shape: [4], data: Uint8Array.from(want) }, 'y')), want);
  t.deepEqual(Array.from(toInt32Labels({ dtype: 'int32', shape: [4], data: Int32Array.from(want) }, 'y')), want);
  t.deepEqual(Array.from(toInt32Labels({ dtype: 'float32', shape: [4], data: Float32Array.from(want) }, 'y')), want);
  t.deepEqual(Array.from(toInt32Labels({ dtype: 'float64', shape: [4], data: Float64Array.from(want) }, 'y')), want);
  const err = t.throws(() => toInt32Labels({ dtype: 'float64', shape: [3], data: Float64Array.from([1, 0.5, 2]) }, 'labels'), {
    instanceOf: TypeError,
  });
  t.is(err!.message, 'Expected integer label values for labels[1] but received 0.5');
  t.throws(() => toInt32Labels({ dtype: 'float32', shape: [1], data: Float32Array.from([NaN]) }, 'labels'), {
    instanceOf: TypeError,
    message: /for labels\[0\] but received NaN/,
  });
  t.throws(() => toInt32Labels({ dtype: 'int64', shape: [1], data: BigInt64Array.from([2n ** 40n]) }, 'labels'), {
    instanceOf: RangeError,
    message: /within the int32 range for labels\[0\]/,
  });
});

