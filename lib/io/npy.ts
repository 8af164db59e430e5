// NumPy .npy reader/writer (format versions 1.0, 2.0 and 3.0), limited to
// little-endian, C-order arrays of the dtypes the models consume.
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// Files are read header first (lib/io/reader.ts): the magic, the header and
// the data size are checked against the file before the data is allocated,
// and the data is read straight into the returned array.
import { FormatError, expectedRange, expectedType } from '../errors';
import { writeFileAtomic, writeFileAtomicAsync } from './atomic';
import { Parser, allocateFor, parseBytesWith, readFileWith, readFileWithAsync } from './reader';

/** 'bool' (numpy '|b1', e.g. masks) is held as a Uint8Array of 0 and 1. */
export type NpyDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

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

// numpy refuses to read headers over 10,000 bytes unless told otherwise; ten
// times that leaves room for any real file and keeps a hostile length cheap.
export const MAX_NPY_HEADER = 100_000;
// Nesting a real header needs: a dict holding a tuple.
const MAX_NPY_DEPTH = 8;

const DESCR: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4', int64: '<i8', uint8: '|u1', bool: '|b1' };
const DTYPE_OF_DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<i4': 'int32',
  '<i8': 'int64',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '|b1': 'bool',
};
const ARRAY_TYPE = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
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
  private depth = 0;
  private static readonly WORD = /[-+]?\d+L?|True|False|None/y;

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
    if (c === '{' || c === '(' || c === '[') {
      // Recursion is bounded so that "((((..." is a format error, not a stack overflow.
      if (++this.depth > MAX_NPY_DEPTH) this.fail(`nesting deeper than ${MAX_NPY_DEPTH} levels`);
      const v = c === '{' ? this.dict() : this.sequence(c === '(' ? ')' : ']');
      this.depth--;
      return v;
    }
    if (c === "'" || c === '"') return this.string();
    LiteralParser.WORD.lastIndex = this.pos;
    const word = LiteralParser.WORD.exec(this.text);
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

/** Text from the file, escaped (newlines, controls) so that a message stays one line. */
function printable(text: string): string {
  const shown = text.length > 40 ? text.slice(0, 40) + '…' : text;
  return JSON.stringify(shown).slice(1, -1);
}

function describeDescr(descr: PyLiteral): string {
  if (typeof descr === 'string') return `'${printable(descr)}'`;
  return Array.isArray(descr) ? 'a structured dtype' : `descr ${JSON.stringify(descr)}`;
}

function interpretHeader(header: PyLiteral, file: string): { dtype: NpyDtype; shape: number[] } {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FormatError(file, '.npy header is not a dictionary');
  }
  const keys = Object.keys(header).sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    throw new FormatError(file, `.npy header must have exactly the keys descr, fortran_order, shape; found ${keys.map(printable).join(', ') || 'none'}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = header;
  const dtype = typeof descr === 'string' ? DTYPE_OF_DESCR[descr] : undefined;
  if (dtype === undefined) {
    if (typeof descr === 'string' && descr.startsWith('>')) {
      const d = printable(descr);
      throw new FormatError(file, `big-endian dtype '${d}' is not supported; save little-endian data (numpy: arr.astype('<${d.slice(1)}'))`);
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

const PREAMBLE = 12;

/** What a .npy header says: the dtype, the shape and where the data starts (its byte count is checked against the file). */
export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  dataOffset: number;
}

const npyHeaderParser: Parser<NpyHeader> = function* (size, file) {
  const pre = (yield { at: 0, length: Math.min(size, PREAMBLE) })!;
  if (pre.length < MAGIC.length || !pre.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new FormatError(file, 'not a .npy file (bad magic string)');
  }
  if (pre.length < 8) throw new FormatError(file, 'truncated: .npy preamble is incomplete');
  const major = pre[6];
  const minor = pre[7];
  if (minor !== 0 || major < 1 || major > 3) throw new FormatError(file, `unsupported .npy format version ${major}.${minor}`);
  const lengthSize = major === 1 ? 2 : 4;
  const headerStart = 8 + lengthSize;
  if (pre.length < headerStart) throw new FormatError(file, 'truncated: .npy preamble is incomplete');
  const headerLength = major === 1 ? pre.readUInt16LE(8) : pre.readUInt32LE(8);
  if (headerLength > MAX_NPY_HEADER) {
    throw new FormatError(file, `.npy header length ${headerLength} exceeds the limit of ${MAX_NPY_HEADER} bytes (numpy itself reads at most 10000)`);
  }
  const dataStart = headerStart + headerLength;
  if (size < dataStart) {
    throw new FormatError(file, `truncated: expected a ${headerLength}-byte header, found ${size - headerStart}`);
  }
  const headerBytes = (yield { at: headerStart, length: headerLength })!;
  // Versions 1.0 and 2.0 store the header as latin-1; 3.0 switched to UTF-8.
  const headerText = headerBytes.toString(major === 3 ? 'utf8' : 'latin1');
  const { dtype, shape } = interpretHeader(new LiteralParser(headerText, file).parseAll(), file);
  const expected = elementCount(shape, file) * ARRAY_TYPE[dtype].BYTES_PER_ELEMENT;
  const found = size - dataStart;
  if (found < expected) throw new FormatError(file, `truncated: expected ${expected} bytes of data, found ${found}`);
  if (found > expected) throw new FormatError(file, `expected ${expected} bytes of data, found ${found} (trailing bytes)`);
  return { dtype, shape, dataOffset: dataStart };
};

function checkBool(data: Uint8Array, file: string, first: number): void {
  const bad = data.findIndex((v) => v > 1);
  if (bad >= 0) throw new FormatError(file, `boolean value ${data[bad]} at index ${first + bad} is neither 0 nor 1`);
}

/** Rows [start, start + count) of the leading axis (all of the array when omitted), read after the header is checked. */
function npyParser(rows?: { start: number; count: number }): Parser<NpyArray> {
  return function* (size, file) {
    const { dtype, shape, dataOffset } = yield* npyHeaderParser(size, file);
    const Ctor = ARRAY_TYPE[dtype];
    let outShape = shape;
    let skip = 0;
    if (rows) {
      const n = shape.length === 0 ? 1 : shape[0];
      if (rows.start + rows.count > n) throw new FormatError(file, `rows [${rows.start}, ${rows.start + rows.count}) are past the ${n} rows of the array`);
      const rowSize = shape.slice(1).reduce((a, d) => a * d, 1);
      outShape = [rows.count, ...shape.slice(1)];
      skip = rows.start * rowSize;
    }
    const count = elementCount(outShape, file);
    // A fresh array: the data offset in the file need not suit the element alignment.
    const data = allocateFor(Ctor as new (n: number) => NpyArray['data'], count, Ctor.BYTES_PER_ELEMENT, file, `shape (${outShape.join(', ')})`);
    yield { at: dataOffset + skip * Ctor.BYTES_PER_ELEMENT, into: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    if (dtype === 'bool') checkBool(data as unknown as Uint8Array, file, skip);
    return { dtype, shape: [...outShape], data };
  };
}

const wholeNpy = npyParser();

export function parseNpy(buf: Buffer | Uint8Array, file = '<buffer>'): NpyArray {
  if (!(buf instanceof Uint8Array)) throw expectedType('a Buffer or Uint8Array', 'buf', buf);
  return parseBytesWith(buf, file, wholeNpy);
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

/**
 * The file's bytes as [preamble and header, the array's own bytes], exactly
 * as numpy's np.save writes them; writing a file needs no copy of the data.
 */
function npyChunks(arr: NpyArray): [Buffer, Uint8Array] {
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
  const head = Buffer.concat([prefix, Buffer.from(header + ' '.repeat(padding) + '\n', 'latin1')]);
  return [head, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
}

/** Encodes exactly as numpy's np.save does, so files compare byte for byte. */
export function encodeNpy(arr: NpyArray): Buffer {
  return Buffer.concat(npyChunks(arr));
}

// ---------------------------------------------------------------- files

/** Reads a .npy file header first; only regular files (a device or FIFO is an error naming it). */
export function readNpy(path: string): NpyArray {
  return readFileWith(path, wholeNpy);
}

export async function readNpyAsync(path: string): Promise<NpyArray> {
  return readFileWithAsync(path, wholeNpy);
}

/** Only the header (dtype, shape, data offset), checked against the file's size: for files too large to load whole. */
export function readNpyHeader(path: string): NpyHeader {
  return readFileWith(path, npyHeaderParser);
}

export async function readNpyHeaderAsync(path: string): Promise<NpyHeader> {
  return readFileWithAsync(path, npyHeaderParser);
}

function checkRows(start: unknown, count: unknown): { start: number; count: number } {
  if (!Number.isSafeInteger(start) || (start as number) < 0) throw expectedRange('a non-negative integer', 'start', start);
  if (!Number.isSafeInteger(count) || (count as number) < 0) throw expectedRange('a non-negative integer', 'count', count);
  return { start: start as number, count: count as number };
}

/** Rows [start, start + count) of the leading axis, reading only those bytes. */
export function readNpyRows(path: string, start: number, count: number): NpyArray {
  return readFileWith(path, npyParser(checkRows(start, count)));
}

export async function readNpyRowsAsync(path: string, start: number, count: number): Promise<NpyArray> {
  return readFileWithAsync(path, npyParser(checkRows(start, count)));
}

export function writeNpy(path: string, arr: NpyArray): void {
  writeFileAtomic(path, npyChunks(arr));
}

export async function writeNpyAsync(path: string, arr: NpyArray): Promise<void> {
  await writeFileAtomicAsync(path, npyChunks(arr));
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
