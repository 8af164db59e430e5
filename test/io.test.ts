import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FormatError } from '../lib/errors';
import { readFileWhole, writeFileAtomic, writeFileAtomicAsync } from '../lib/io/atomic';
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
  SafeDtype,
  SafeTensor,
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  readSafetensorsAsync,
  writeSafetensors,
  writeSafetensorsAsync,
} from '../lib/io/safetensors';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'npy');
const fixture = (name: string): string => path.join(FIXTURES, name);

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-io-'));
}

const SHAPES: number[][] = [[], [5], [2, 3, 4], [2, 0, 3], [0]];
const NPY_DTYPES: NpyDtype[] = ['float32', 'float64', 'int32', 'int64', 'uint8'];

function sampleData(dtype: NpyDtype, n: number): NpyArray['data'] {
  const values = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : -i) * 3 + 1);
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values, (v) => v / 8);
    case 'float64':
      return Float64Array.from(values, (v) => v / 7);
    case 'int32':
      return Int32Array.from(values, (v) => v * 1000003);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(v) * 3000000000017n);
    case 'uint8':
      return Uint8Array.from(values, (v) => v & 0xff);
  }
}

const product = (shape: number[]): number => shape.reduce((a, d) => a * d, 1);

// Builds a .npy file around a hand-written header, for inputs numpy itself would not write.
function npyWithHeader(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Buffer {
  const text = Buffer.from(header + '\n', 'latin1');
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0, 0, 0, 0, 0]).subarray(0, major === 1 ? 10 : 12);
  if (major === 1) prefix.writeUInt16LE(text.length, 8);
  else prefix.writeUInt32LE(text.length, 8);
  return Buffer.concat([prefix, text, data]);
}

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
  for (const descr of ['<f2', '<c8', '|i1', '<u4', '|b1', '<U3']) {
    const err = t.throws(() => parseNpy(npyWithHeader(`{'descr': '${descr}', 'fortran_order': False, 'shape': (0,), }`)), {
      instanceOf: FormatError,
    });
    t.is(err!.message, `<buffer>: unsupported dtype '${descr}'; supported: '<f4', '<f8', '<i4', '<i8', '|u1'`);
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
  t.regex(err!.message, /^Expected one of float32, float64, int32, int64, uint8 for arr\.dtype but received "float16"$/);
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

// ================================================================ safetensors

const SAFE_DTYPES: Record<SafeDtype, NpyDtype> = { F32: 'float32', F64: 'float64', I32: 'int32', I64: 'int64', U8: 'uint8' };

// Builds a safetensors file from a raw header, for inputs the encoder refuses to write.
function craft(header: unknown, data: Uint8Array = new Uint8Array(0)): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

function safeError(t: import('ava').ExecutionContext, buf: Buffer, message: RegExp | string): void {
  const err = t.throws(() => parseSafetensors(buf, 'm.safetensors'), { instanceOf: FormatError });
  if (typeof message === 'string') t.is(err!.message, `m.safetensors: ${message}`);
  else t.regex(err!.message, message);
}

test('safetensors round-trips every dtype and shape with metadata', (t) => {
  const tensors: Record<string, SafeTensor> = {};
  for (const [dtype, npy] of Object.entries(SAFE_DTYPES) as Array<[SafeDtype, NpyDtype]>) {
    SHAPES.forEach((shape, i) => {
      tensors[`${dtype.toLowerCase()}.${i}`] = { dtype, shape, data: sampleData(npy, product(shape)) };
    });
  }
  const metadata = { format: 'pt', note: 'ünïcødé ✓', '10': 'numeric key' };
  const buf = encodeSafetensors(tensors, metadata);
  t.is(Number(buf.readBigUInt64LE(0)) % 8, 0);
  const back = parseSafetensors(buf);
  t.deepEqual(back, { tensors, metadata });
  t.deepEqual(parseSafetensors(encodeSafetensors(tensors)), { tensors, metadata: {} });
});

test('encodeSafetensors writes the exact layout: sorted names, contiguous offsets, space padding', (t) => {
  const buf = encodeSafetensors(
    {
      w: { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) },
      '10': { dtype: 'U8', shape: [3], data: Uint8Array.from([7, 8, 9]) },
      '9': { dtype: 'I64', shape: [], data: BigInt64Array.from([-1n]) },
    },
    { k: 'v' },
  );
  const json =
    '{"__metadata__":{"k":"v"},' +
    '"10":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},' +
    '"9":{"dtype":"I64","shape":[],"data_offsets":[3,11]},' +
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[11,19]}}';
  const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
  const data = Buffer.concat([Buffer.from([7, 8, 9]), Buffer.from(BigInt64Array.from([-1n]).buffer), Buffer.from(Float32Array.from([1, 2]).buffer)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  t.true(buf.equals(Buffer.concat([length, Buffer.from(padded), data])));
  // The I64 tensor sits at an odd offset; the copy must still be readable.
  t.deepEqual(parseSafetensors(buf).tensors['9'].data, BigInt64Array.from([-1n]));
});

test('safetensors with no tensors round-trips', (t) => {
  const buf = encodeSafetensors({});
  t.is(buf.length, 16);
  t.deepEqual(parseSafetensors(buf), { tensors: {}, metadata: {} });
});

test('parseSafetensors rejects files truncated at any point', (t) => {
  const buf = encodeSafetensors({ a: { dtype: 'F32', shape: [4], data: new Float32Array(4) }, b: { dtype: 'U8', shape: [3], data: new Uint8Array(3) } });
  const headerEnd = 8 + Number(buf.readBigUInt64LE(0));
  for (const cut of [0, 1, 7]) {
    safeError(t, buf.subarray(0, cut), `truncated: file is ${cut} bytes, too short for the 8-byte header length`);
  }
  for (const cut of [8, 20, headerEnd - 1]) {
    safeError(t, buf.subarray(0, cut), new RegExp(`truncated: header length ${headerEnd - 8} exceeds the ${cut - 8} bytes after the length field`));
  }
  safeError(t, buf.subarray(0, headerEnd), 'truncated: tensor "a" ends at byte 16 of the data buffer but only 0 bytes are present');
  safeError(t, buf.subarray(0, buf.length - 1), 'truncated: tensor "b" ends at byte 19 of the data buffer but only 18 bytes are present');
});

test('parseSafetensors rejects a corrupted header length', (t) => {
  const buf = encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
  const huge = Buffer.from(buf);
  huge.writeBigUInt64LE(2n ** 62n, 0);
  safeError(t, huge, /header length 4611686018427387904 exceeds the limit of 100000000 bytes/);
  const long = Buffer.from(buf);
  long.writeBigUInt64LE(BigInt(buf.length), 0);
  safeError(t, long, /truncated: header length \d+ exceeds the \d+ bytes after the length field/);
  const short = Buffer.from(buf);
  short.writeBigUInt64LE(10n, 0);
  safeError(t, short, /header is not valid JSON/);
});

test('parseSafetensors rejects headers that are not a JSON object', (t) => {
  safeError(t, craft('{"a": {"dtype": "F32",'), /header is not valid JSON: /);
  safeError(t, craft('[1, 2]'), 'header is not a JSON object');
  safeError(t, craft('null'), 'header is not a JSON object');
  safeError(t, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc3, 0x28])]), 'header is not valid UTF-8');
});

test('parseSafetensors validates each tensor description', (t) => {
  const data = new Uint8Array(8);
  const cases: Array<[unknown, string]> = [
    [{ a: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }, 'tensor "a": unsupported dtype "F16"; supported: F32, F64, I32, I64, U8'],
    [{ a: { dtype: 'float32', shape: [2], data_offsets: [0, 8] } }, 'tensor "a": unsupported dtype "float32"; supported: F32, F64, I32, I64, U8'],
    [{ a: { shape: [2], data_offsets: [0, 8] } }, 'tensor "a": unsupported dtype undefined; supported: F32, F64, I32, I64, U8'],
    [{ a: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, 'tensor "a": shape [2.5] is not an array of non-negative integers'],
    [{ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 'tensor "a": shape [-2] is not an array of non-negative integers'],
    [{ a: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, 'tensor "a": shape "2" is not an array of non-negative integers'],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 'tensor "a": data_offsets [0] is not [begin, end] with integers 0 <= begin <= end'],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 'tensor "a": data_offsets [8,0] is not [begin, end] with integers 0 <= begin <= end'],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: ['0', 8] } }, 'tensor "a": data_offsets ["0",8] is not [begin, end] with integers 0 <= begin <= end'],
    [{ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 'tensor "a": data_offsets [0, 8] span 8 bytes but dtype F32 with shape [3] needs 12'],
    [{ a: { dtype: 'F64', shape: [2, 2], data_offsets: [0, 8] } }, 'tensor "a": data_offsets [0, 8] span 8 bytes but dtype F64 with shape [2, 2] needs 32'],
    [{ a: 'F32' }, 'tensor "a": description is not an object'],
  ];
  for (const [header, message] of cases) safeError(t, craft(header, data), message);
});

test('parseSafetensors requires tensors to cover the data buffer exactly', (t) => {
  const data = new Uint8Array(16);
  safeError(
    t,
    craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, data.subarray(0, 12)),
    'tensor "b" [4, 12] overlaps tensor "a" [0, 8]',
  );
  safeError(
    t,
    craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data.subarray(0, 8)),
    /tensor "[ab]" \[0, 8\] overlaps tensor "[ab]" \[0, 8\]/,
  );
  safeError(
    t,
    craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, data),
    'data buffer has a hole: bytes [8, 12) before tensor "b" belong to no tensor',
  );
  safeError(
    t,
    craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data.subarray(0, 10)),
    'data buffer has 2 trailing bytes after the last tensor (tensors cover 8 of 10)',
  );
  // Zero-sized tensors take no room and may share an offset with a neighbour.
  const ok = craft(
    { z: { dtype: 'F64', shape: [0, 3], data_offsets: [8, 8] }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'U8', shape: [8], data_offsets: [8, 16] } },
    data,
  );
  t.deepEqual(Object.keys(parseSafetensors(ok).tensors), ['a', 'b', 'z']);
});

test('parseSafetensors validates metadata', (t) => {
  const tensor = { a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } };
  const one = new Uint8Array(1);
  safeError(t, craft({ __metadata__: { version: 2 }, ...tensor }, one), '__metadata__ value for "version" is not a string (got 2)');
  safeError(t, craft({ __metadata__: { nested: { a: 'b' } }, ...tensor }, one), '__metadata__ value for "nested" is not a string (got {"a":"b"})');
  safeError(t, craft({ __metadata__: ['a'], ...tensor }, one), '__metadata__ is not an object');
  t.deepEqual(parseSafetensors(craft({ __metadata__: null, ...tensor }, one)).metadata, {});
  t.deepEqual(parseSafetensors(craft({ __metadata__: { a: 'b' }, ...tensor }, one)).metadata, { a: 'b' });
});

test('encodeSafetensors validates its arguments', (t) => {
  t.throws(() => encodeSafetensors({ x: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }), {
    instanceOf: RangeError,
    message: 'Expected length 4 (the product of shape [2, 2]) for tensors["x"].data but received a Float32Array of length 3',
  });
  t.throws(() => encodeSafetensors({ x: { dtype: 'I32', shape: [1], data: new Float32Array(1) } }), {
    instanceOf: TypeError,
    message: 'Expected a Int32Array (dtype I32) for tensors["x"].data but received a Float32Array of length 1',
  });
  t.throws(() => encodeSafetensors({ x: { dtype: 'BF16' as SafeDtype, shape: [1], data: new Float32Array(1) } }), {
    instanceOf: TypeError,
    message: /for tensors\["x"\]\.dtype but received "BF16"/,
  });
  t.throws(() => encodeSafetensors({}, { a: 1 as unknown as string }), {
    instanceOf: TypeError,
    message: 'Expected a string for metadata["a"] but received 1',
  });
  t.throws(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), { instanceOf: TypeError });
});

test('writeSafetensors/readSafetensors and async variants go through files', async (t) => {
  const dir = tempDir();
  const tensors: Record<string, SafeTensor> = { 'layer.0.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } };
  writeSafetensors(path.join(dir, 'a.safetensors'), tensors, { epoch: '3' });
  t.deepEqual(readSafetensors(path.join(dir, 'a.safetensors')), { tensors, metadata: { epoch: '3' } });
  await writeSafetensorsAsync(path.join(dir, 'b.safetensors'), tensors);
  t.deepEqual(await readSafetensorsAsync(path.join(dir, 'b.safetensors')), { tensors, metadata: {} });
  t.deepEqual(fs.readdirSync(dir).sort(), ['a.safetensors', 'b.safetensors']);
});

// ================================================================ atomic writes

test('writeFileAtomic writes buffers and chunk lists, replacing the target', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'out.bin');
  writeFileAtomic(file, Buffer.from('first version, longer'));
  writeFileAtomic(file, [Buffer.from('sec'), new Uint8Array([0x6f, 0x6e, 0x64]), new Uint8Array(0)]);
  t.is(fs.readFileSync(file, 'utf8'), 'second');
  await writeFileAtomicAsync(file, [Buffer.from('th'), Buffer.from('ird')]);
  t.is(readFileWhole(file).toString(), 'third');
  t.deepEqual(fs.readdirSync(dir), ['out.bin']);
});

test('writing inside a missing directory fails and creates nothing', async (t) => {
  const dir = tempDir();
  const target = path.join(dir, 'missing', 'x.npy');
  const arr: NpyArray = { dtype: 'uint8', shape: [1], data: new Uint8Array(1) };
  t.throws(() => writeNpy(target, arr), { code: 'ENOENT' });
  await t.throwsAsync(writeNpyAsync(target, arr), { code: 'ENOENT' });
  t.throws(() => writeFileAtomic(target, Buffer.from('x')), { code: 'ENOENT' });
  t.deepEqual(fs.readdirSync(dir), []);
});

test('a failed encode leaves the existing target untouched', async (t) => {
  const dir = tempDir();
  const target = path.join(dir, 'keep.npy');
  fs.writeFileSync(target, 'precious');
  const bad = { dtype: 'float32', shape: [2], data: new Float32Array(3) } as NpyArray;
  t.throws(() => writeNpy(target, bad), { instanceOf: RangeError });
  await t.throwsAsync(writeNpyAsync(target, bad), { instanceOf: RangeError });
  const safe = path.join(dir, 'keep.safetensors');
  fs.writeFileSync(safe, 'also precious');
  t.throws(() => writeSafetensors(safe, { x: { dtype: 'U8', shape: [2], data: new Uint8Array(1) } }), { instanceOf: RangeError });
  t.is(fs.readFileSync(target, 'utf8'), 'precious');
  t.is(fs.readFileSync(safe, 'utf8'), 'also precious');
  t.deepEqual(fs.readdirSync(dir).sort(), ['keep.npy', 'keep.safetensors']);
});

test('a failed rename removes the temp file', async (t) => {
  const dir = tempDir();
  // A non-empty directory cannot be replaced by a file, so the final rename fails.
  const target = path.join(dir, 'occupied');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'inner'), 'x');
  t.throws(() => writeFileAtomic(target, Buffer.from('data')));
  await t.throwsAsync(writeFileAtomicAsync(target, Buffer.from('data')));
  t.deepEqual(fs.readdirSync(dir), ['occupied']);
  t.deepEqual(fs.readdirSync(target), ['inner']);
});

test('writeFileAtomic validates its arguments', (t) => {
  const file = path.join(tempDir(), 'x');
  t.throws(() => writeFileAtomic(file, 'text' as unknown as Buffer), {
    instanceOf: TypeError,
    message: 'Expected a Buffer or an array of Uint8Array for data but received "text"',
  });
  t.throws(() => writeFileAtomic(file, [Buffer.from('a'), 'b'] as unknown as Uint8Array[]), { instanceOf: TypeError });
  t.throws(() => writeFileAtomic('', Buffer.from('a')), { instanceOf: TypeError, message: /for path but received ""/ });
  t.false(fs.existsSync(file));
});
