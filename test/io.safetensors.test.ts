// safetensors reading and writing, and atomic file writes.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from '../lib/errors';
import {
  readFileWhole,
  writeFileAtomic,
  writeFileAtomicAsync,
} from '../lib/io/atomic';
import {
  NpyArray,
  NpyDtype,
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
import { tempDir, SHAPES, sampleData, product } from './helpers/io_fixtures';

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

