// safetensors reader/writer: u64 little-endian header length N, N bytes of
// JSON header, then the tensors' bytes. Validation follows the reference
// implementation (huggingface/safetensors) so that files it rejects are
// rejected here too, with a message naming the offending tensor. Files are
// read header first (lib/io/reader.ts): the header is checked against the
// file's size before any tensor is allocated, then each tensor is read
// straight into its array.
import { FormatError, expectedRange, expectedType } from '../errors';
import { writeFileAtomic, writeFileAtomicAsync } from './atomic';
import { Parser, allocateFor, parseBytesWith, readFileWith, readFileWithAsync } from './reader';

export type SafeDtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
}

export interface SafetensorsFile {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
}

const ARRAY_TYPE = {
  F32: Float32Array,
  F64: Float64Array,
  I32: Int32Array,
  I64: BigInt64Array,
  U8: Uint8Array,
} as const;
const SUPPORTED = Object.keys(ARRAY_TYPE).join(', ');
const METADATA_KEY = '__metadata__';
// The reference implementation's limit; guards against allocating for a corrupt length.
export const MAX_HEADER_SIZE = 100_000_000;
// A safetensors header is an object of objects holding arrays: depth 3. JSON
// deeper than this is refused before JSON.parse, whose recursion would
// overflow the stack on "[[[[...".
const MAX_JSON_DEPTH = 16;

export interface ReadSafetensorsOptions {
  /** A lower cap on the header's length in bytes (default and maximum 100,000,000, the reference's). */
  maxHeaderBytes?: number;
}

function isSafeDtype(v: unknown): v is SafeDtype {
  return typeof v === 'string' && Object.hasOwn(ARRAY_TYPE, v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Rust's sort order (bytes of the UTF-8 encoding), which differs from
// JavaScript's UTF-16 order for characters outside the BMP.
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------- encode

function checkTensor(t: unknown, name: string): SafeTensor {
  if (!isPlainObject(t)) throw expectedType('a SafeTensor object', name, t);
  const { dtype, shape, data } = t;
  if (!isSafeDtype(dtype)) throw expectedType(`one of ${SUPPORTED}`, `${name}.dtype`, dtype);
  if (!Array.isArray(shape)) throw expectedType('an array of dimensions', `${name}.shape`, shape);
  shape.forEach((d: unknown, i) => {
    if (!isCount(d)) throw expectedRange('a non-negative integer', `${name}.shape[${i}]`, d);
  });
  const Ctor = ARRAY_TYPE[dtype];
  if (!(data instanceof Ctor)) throw expectedType(`a ${Ctor.name} (dtype ${dtype})`, `${name}.data`, data);
  const count = (shape as number[]).reduce((a, d) => a * d, 1);
  if (data.length !== count) {
    throw expectedRange(`length ${count} (the product of shape [${shape.join(', ')}])`, `${name}.data`, data);
  }
  return t as unknown as SafeTensor;
}

export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Buffer {
  if (!isPlainObject(tensors)) throw expectedType('an object mapping names to tensors', 'tensors', tensors);
  const names = Object.keys(tensors).sort(compareNames);
  if (names.includes(METADATA_KEY)) throw expectedType('a tensor name other than __metadata__', 'tensors', METADATA_KEY);
  const entries = names.map((name) => checkTensor(tensors[name], `tensors[${JSON.stringify(name)}]`));

  // Built by hand rather than with JSON.stringify(object): JavaScript objects
  // enumerate integer-like keys ("0", "10") first, which would break name order.
  const fields: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw expectedType('an object of strings', 'metadata', metadata);
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw expectedType('a string', `metadata[${JSON.stringify(key)}]`, value);
    }
    fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  names.forEach((name, i) => {
    const { dtype, shape, data } = entries[i];
    const end = offset + data.byteLength;
    fields.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape, data_offsets: [offset, end] })}`);
    offset = end;
  });
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  // Padding to 8 bytes keeps the data buffer 8-byte aligned within the file.
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded + offset, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  let at = 8 + padded;
  for (const { data } of entries) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------- parse

interface Entry {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count). */
function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; ++i) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

function* readHeader(size: number, file: string, maxHeader: number): Generator<import('./reader').ReadOp, { header: Record<string, unknown>; dataStart: number }, Buffer | undefined> {
  if (size < 8) throw new FormatError(file, `truncated: file is ${size} bytes, too short for the 8-byte header length`);
  const length = (yield { at: 0, length: 8 })!.readBigUInt64LE(0);
  if (length > BigInt(maxHeader)) {
    throw new FormatError(file, `header length ${length} exceeds the limit of ${maxHeader} bytes (corrupt header length?)`);
  }
  const n = Number(length);
  if (8 + n > size) {
    throw new FormatError(file, `truncated: header length ${n} exceeds the ${size - 8} bytes after the length field`);
  }
  const raw = (yield { at: 8, length: n })!;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new FormatError(file, 'header is not valid UTF-8');
  }
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new FormatError(file, `header JSON nests deeper than ${MAX_JSON_DEPTH} levels (a safetensors header needs 3)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    // V8 quotes part of the text, which may hold line breaks: kept on one line.
    throw new FormatError(file, `header is not valid JSON: ${(err as Error).message.replace(/[\r\n\u2028\u2029]+/g, ' ')}`);
  }
  if (!isPlainObject(header)) throw new FormatError(file, 'header is not a JSON object');
  return { header, dataStart: 8 + n };
}

function readMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null) return {};
  if (!isPlainObject(value)) throw new FormatError(file, '__metadata__ is not an object');
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new FormatError(file, `__metadata__ value for ${JSON.stringify(key)} is not a string (got ${JSON.stringify(v)})`);
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function readEntry(name: string, info: unknown, dataLength: number, file: string): Entry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(info)) throw new FormatError(file, `${where}: description is not an object`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (!isSafeDtype(dtype)) throw new FormatError(file, `${where}: unsupported dtype ${JSON.stringify(dtype)}; supported: ${SUPPORTED}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new FormatError(file, `${where}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw new FormatError(file, `${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with integers 0 <= begin <= end`);
  }
  const [begin, end] = offsets as number[];
  const count = (shape as number[]).reduce((a, d) => a * d, 1);
  const needed = count * ARRAY_TYPE[dtype].BYTES_PER_ELEMENT;
  if (!Number.isSafeInteger(needed) || end - begin !== needed) {
    throw new FormatError(
      file,
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but dtype ${dtype} with shape [${shape.join(', ')}] needs ${needed}`,
    );
  }
  if (end > dataLength) {
    throw new FormatError(file, `truncated: ${where} ends at byte ${end} of the data buffer but only ${dataLength} bytes are present`);
  }
  return { name, dtype, shape: [...(shape as number[])], begin, end };
}

// The format requires the tensors to tile the data buffer exactly: no
// overlaps (aliasing) and no holes (unaccounted bytes).
function checkLayout(entries: Entry[], dataLength: number, file: string): void {
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: Entry | undefined;
  for (const e of ordered) {
    if (e.begin < expected) {
      throw new FormatError(file, `tensor ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlaps tensor ${JSON.stringify(previous?.name)} [${previous?.begin}, ${previous?.end}]`);
    }
    if (e.begin > expected) {
      throw new FormatError(file, `data buffer has a hole: bytes [${expected}, ${e.begin}) before tensor ${JSON.stringify(e.name)} belong to no tensor`);
    }
    expected = e.end;
    previous = e;
  }
  if (expected !== dataLength) {
    throw new FormatError(file, `data buffer has ${dataLength - expected} trailing bytes after the last tensor (tensors cover ${expected} of ${dataLength})`);
  }
}

function checkOptions(options: unknown): number {
  if (options === undefined) return MAX_HEADER_SIZE;
  if (!isPlainObject(options)) throw expectedType('an options object', 'options', options);
  const cap = (options as ReadSafetensorsOptions).maxHeaderBytes;
  if (cap === undefined) return MAX_HEADER_SIZE;
  if (!isCount(cap) || cap > MAX_HEADER_SIZE) throw expectedRange(`an integer in [0, ${MAX_HEADER_SIZE}]`, 'options.maxHeaderBytes', cap);
  return cap;
}

function safetensorsParser(maxHeader: number): Parser<SafetensorsFile> {
  return function* (size, file) {
    const { header, dataStart } = yield* readHeader(size, file, maxHeader);
    const dataLength = size - dataStart;
    let metadata: Record<string, string> = {};
    const entries: Entry[] = [];
    for (const [name, info] of Object.entries(header)) {
      if (name === METADATA_KEY) metadata = readMetadata(info, file);
      else entries.push(readEntry(name, info, dataLength, file));
    }
    checkLayout(entries, dataLength, file);
    entries.sort((a, b) => compareNames(a.name, b.name));
    const tensors: Record<string, SafeTensor> = {};
    for (const { name, dtype, shape, begin, end } of entries) {
      const Ctor = ARRAY_TYPE[dtype];
      const count = (end - begin) / Ctor.BYTES_PER_ELEMENT;
      // A fresh array: tensor offsets in the file need not suit the element alignment.
      const data = allocateFor(Ctor, count, Ctor.BYTES_PER_ELEMENT, file, `tensor ${JSON.stringify(name)}`);
      if (count > 0) yield { at: dataStart + begin, into: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
      Object.defineProperty(tensors, name, { value: { dtype, shape, data }, enumerable: true, writable: true, configurable: true });
    }
    return { tensors, metadata };
  };
}

export function parseSafetensors(buf: Buffer | Uint8Array, file = '<buffer>', options?: ReadSafetensorsOptions): SafetensorsFile {
  if (!(buf instanceof Uint8Array)) throw expectedType('a Buffer or Uint8Array', 'buf', buf);
  return parseBytesWith(buf, file, safetensorsParser(checkOptions(options)));
}

// ---------------------------------------------------------------- files

/** Reads a safetensors file header first; only regular files (a device or FIFO is an error naming it). */
export function readSafetensors(path: string, options?: ReadSafetensorsOptions): SafetensorsFile {
  return readFileWith(path, safetensorsParser(checkOptions(options)));
}

export async function readSafetensorsAsync(path: string, options?: ReadSafetensorsOptions): Promise<SafetensorsFile> {
  return readFileWithAsync(path, safetensorsParser(checkOptions(options)));
}

export function writeSafetensors(path: string, tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export async function writeSafetensorsAsync(
  path: string,
  tensors: Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomicAsync(path, encodeSafetensors(tensors, metadata));
}
