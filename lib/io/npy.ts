// NumPy .npy reader/writer (format versions 1.0, 2.0 and 3.0), limited to
// little-endian, C-order arrays of the dtypes the models consume.
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
import { FormatError, expectedRange, expectedType } from '../errors';
import { readFileWhole, readFileWholeAsync, writeFileAtomic, writeFileAtomicAsync } from './atomic';

export type NpyDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"
// numpy aligns the data to 64 bytes so that it can be memory-mapped.
const ARRAY_ALIGN = 64;
// numpy leaves room after the header so the leading dimension can grow in place.
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCR: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4', int64: '<i8', uint8: '|u1' };
const DTYPE_OF_DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<i4': 'int32',
  '<i8': 'int64',
  '|u1': 'uint8',
  '<u1': 'uint8',
};
const ARRAY_TYPE = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
} as const;
const SUPPORTED = Object.values(DESCR)
  .map((d) => `'${d}'`)
  .join(', ');

// ---------------------------------------------------------------- header

type PyLiteral = string | number | boolean | null | PyLiteral[] | PyDict;
interface PyDict {
  [key: string]: PyLiteral;
}

/**
 * Parses the Python literal subset numpy writes into .npy headers (dicts,
 * strings, integers, booleans, None, tuples and lists), so that files from
 * any numpy version or hand-written tools parse without a regex's brittleness.
 */
class LiteralParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  parseAll(): PyLiteral {
    const value = this.value();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected ${JSON.stringify(this.text[this.pos])}`);
    return value;
  }

  private fail(what: string): never {
    throw new FormatError(this.file, `malformed .npy header at character ${this.pos}: ${what}`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private value(): PyLiteral {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence(')');
    if (c === '[') return this.sequence(']');
    if (c === "'" || c === '"') return this.string();
    const word = /^(?:[-+]?\d+L?|True|False|None)/.exec(this.text.slice(this.pos));
    if (word === null) this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
    this.pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    // Python 2 numpy wrote long integers with an "L" suffix, e.g. (3L, 4L).
    return Number(word[0].replace(/L$/, ''));
  }

  private string(): string {
    const quote = this.text[this.pos++];
    let out = '';
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      if (this.text[this.pos] === '\\') this.pos++;
      out += this.text[this.pos++] ?? '';
    }
    if (this.pos >= this.text.length) this.fail('unterminated string');
    this.pos++;
    return out;
  }

  /** Items separated by commas, trailing comma allowed, as in "(5,)". */
  private sequence(close: string): PyLiteral[] {
    this.pos++;
    const items: PyLiteral[] = [];
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === close) break;
      items.push(this.value());
      this.skipSpace();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== close) this.fail(`expected ',' or '${close}'`);
    }
    this.pos++;
    return items;
  }

  private dict(): PyDict {
    this.pos++;
    const out: PyDict = {};
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === '}') break;
      const key = this.value();
      if (typeof key !== 'string') this.fail('dictionary keys must be strings');
      this.skipSpace();
      if (this.text[this.pos++] !== ':') this.fail("expected ':'");
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true });
      this.skipSpace();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== '}') this.fail("expected ',' or '}'");
    }
    this.pos++;
    return out;
  }
}

function describeDescr(descr: PyLiteral): string {
  if (typeof descr === 'string') return `'${descr}'`;
  return Array.isArray(descr) ? 'a structured dtype' : `descr ${JSON.stringify(descr)}`;
}

function interpretHeader(header: PyLiteral, file: string): { dtype: NpyDtype; shape: number[] } {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FormatError(file, '.npy header is not a dictionary');
  }
  const keys = Object.keys(header).sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    throw new FormatError(file, `.npy header must have exactly the keys descr, fortran_order, shape; found ${keys.join(', ') || 'none'}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = header;
  const dtype = typeof descr === 'string' ? DTYPE_OF_DESCR[descr] : undefined;
  if (dtype === undefined) {
    if (typeof descr === 'string' && descr.startsWith('>')) {
      throw new FormatError(file, `big-endian dtype '${descr}' is not supported; save little-endian data (numpy: arr.astype('<${descr.slice(1)}'))`);
    }
    throw new FormatError(file, `unsupported dtype ${describeDescr(descr)}; supported: ${SUPPORTED}`);
  }
  if (typeof fortranOrder !== 'boolean') throw new FormatError(file, '.npy header fortran_order is not True or False');
  if (fortranOrder) {
    throw new FormatError(file, 'Fortran-order (column-major) arrays are not supported; save a C-order array (numpy: np.ascontiguousarray(arr))');
  }
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(file, '.npy header shape is not a tuple of non-negative integers');
  }
  return { dtype, shape: shape as number[] };
}

function elementCount(shape: number[], file: string): number {
  const n = shape.reduce((a, d) => a * d, 1);
  if (!Number.isSafeInteger(n)) throw new FormatError(file, `shape (${shape.join(', ')}) has too many elements`);
  return n;
}

// ---------------------------------------------------------------- decode / encode

export function parseNpy(buf: Buffer | Uint8Array, file = '<buffer>'): NpyArray {
  if (!(buf instanceof Uint8Array)) throw expectedType('a Buffer or Uint8Array', 'buf', buf);
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new FormatError(file, 'not a .npy file (bad magic string)');
  }
  if (bytes.length < 8) throw new FormatError(file, 'truncated: .npy preamble is incomplete');
  const major = bytes[6];
  const minor = bytes[7];
  if (minor !== 0 || major < 1 || major > 3) throw new FormatError(file, `unsupported .npy format version ${major}.${minor}`);
  const lengthSize = major === 1 ? 2 : 4;
  const headerStart = 8 + lengthSize;
  if (bytes.length < headerStart) throw new FormatError(file, 'truncated: .npy preamble is incomplete');
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) {
    throw new FormatError(file, `truncated: expected a ${headerLength}-byte header, found ${bytes.length - headerStart}`);
  }
  // Versions 1.0 and 2.0 store the header as latin-1; 3.0 switched to UTF-8.
  const headerText = bytes.toString(major === 3 ? 'utf8' : 'latin1', headerStart, dataStart);
  const { dtype, shape } = interpretHeader(new LiteralParser(headerText, file).parseAll(), file);

  const Ctor = ARRAY_TYPE[dtype];
  const count = elementCount(shape, file);
  const expected = count * Ctor.BYTES_PER_ELEMENT;
  const found = bytes.length - dataStart;
  if (found < expected) throw new FormatError(file, `truncated: expected ${expected} bytes of data, found ${found}`);
  if (found > expected) throw new FormatError(file, `expected ${expected} bytes of data, found ${found} (trailing bytes)`);
  // A fresh array: the data offset in the file need not suit the element alignment.
  const data = new Ctor(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
  return { dtype, shape: [...shape], data };
}

function checkArray(arr: unknown, name: string): NpyArray {
  if (arr === null || typeof arr !== 'object') throw expectedType('an NpyArray object', name, arr);
  const { dtype, shape, data } = arr as NpyArray;
  if (typeof dtype !== 'string' || !Object.hasOwn(ARRAY_TYPE, dtype)) {
    throw expectedType(`one of ${Object.keys(ARRAY_TYPE).join(', ')}`, `${name}.dtype`, dtype);
  }
  if (!Array.isArray(shape)) throw expectedType('an array of dimensions', `${name}.shape`, shape);
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw expectedRange('a non-negative integer', `${name}.shape[${i}]`, d);
    }
  });
  const Ctor = ARRAY_TYPE[dtype];
  if (!(data instanceof Ctor)) throw expectedType(`a ${Ctor.name} (dtype ${dtype})`, `${name}.data`, data);
  const count = shape.reduce((a, d) => a * d, 1);
  if (data.length !== count) {
    throw expectedRange(`length ${count} (the product of shape [${shape.join(', ')}])`, `${name}.data`, data);
  }
  return arr as NpyArray;
}

function pythonTuple(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Encodes exactly as numpy's np.save does, so files compare byte for byte. */
export function encodeNpy(arr: NpyArray): Buffer {
  const { dtype, shape, data } = checkArray(arr, 'arr');
  let header = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${pythonTuple(shape)}, }`;
  if (shape.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  // Like numpy, fall back to version 2.0 only when the header outgrows 1.0's u16 length.
  let major = 1;
  let prefixLength = 10;
  let padding = ARRAY_ALIGN - ((prefixLength + header.length + 1) % ARRAY_ALIGN);
  if (header.length + 1 + padding > 0xffff) {
    major = 2;
    prefixLength = 12;
    padding = ARRAY_ALIGN - ((prefixLength + header.length + 1) % ARRAY_ALIGN);
  }
  const headerLength = header.length + padding + 1;
  const prefix = Buffer.alloc(prefixLength);
  MAGIC.copy(prefix);
  prefix[6] = major;
  if (major === 1) prefix.writeUInt16LE(headerLength, 8);
  else prefix.writeUInt32LE(headerLength, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header + ' '.repeat(padding) + '\n', 'latin1'),
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

// ---------------------------------------------------------------- files

export function readNpy(path: string): NpyArray {
  return parseNpy(readFileWhole(path), path);
}

export async function readNpyAsync(path: string): Promise<NpyArray> {
  return parseNpy(await readFileWholeAsync(path), path);
}

export function writeNpy(path: string, arr: NpyArray): void {
  writeFileAtomic(path, encodeNpy(arr));
}

export async function writeNpyAsync(path: string, arr: NpyArray): Promise<void> {
  await writeFileAtomicAsync(path, encodeNpy(arr));
}

// ---------------------------------------------------------------- conversions

const INT64_EXACT = 2n ** 53n;

/** The values as float32; returns arr.data itself when it already is float32. */
export function toFloat32(arr: NpyArray, name: string): Float32Array {
  const { data } = checkArray(arr, name);
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  if (data instanceof BigInt64Array) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v > INT64_EXACT || v < -INT64_EXACT) throw expectedRange('int64 values within ±2^53', `${name}[${i}]`, Number(v));
      out[i] = Number(v);
    }
    return out;
  }
  out.set(data);
  return out;
}

/** Class labels as int32; float arrays are accepted only when every value is an integer. */
export function toInt32Labels(arr: NpyArray, name: string): Int32Array {
  const { data } = checkArray(arr, name);
  if (data instanceof Int32Array) return data;
  if (data instanceof Uint8Array) return Int32Array.from(data);
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v === 'number' && !Number.isInteger(v)) throw expectedType('integer label values', `${name}[${i}]`, v);
    const n = Number(v);
    if (n < -0x80000000 || n > 0x7fffffff) throw expectedRange('label values within the int32 range', `${name}[${i}]`, n);
    out[i] = n;
  }
  return out;
}
