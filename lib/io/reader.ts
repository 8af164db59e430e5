// Header-first file reading. A format's parser is written once as a generator
// that asks for byte ranges ("give me bytes [at, at+length)" or "fill this
// array from byte at"); a driver serves the requests from an open file (sync
// or async) or from a buffer in memory. So a parser checks the magic and the
// header against the file's size before it allocates for the data, reads the
// data straight into the array it returns (no whole-file Buffer, no 2 GiB
// limit), and the same code serves readX, readXAsync and parseX.
//
// Only regular files are read: a device (/dev/zero), a FIFO or a socket has no
// size to check against and would be read forever, so opening one is an error
// naming it. FIFOs are opened non-blocking so that the check itself cannot hang.
import * as fs from 'fs';
import { FormatError, expectedType } from '../errors';

/** A request of a parser: `length` bytes at `at`, or enough bytes at `at` to fill `into`. */
export type ReadOp = { at: number; length: number } | { at: number; into: Uint8Array };

/** A parser over a source of `size` bytes named `file`; yields reads, receives the bytes (or undefined after a fill). */
export type Parser<T> = (size: number, file: string) => Generator<ReadOp, T, Buffer | undefined>;

// fs.read moves at most 2^31 - 1 bytes per call; 1 GiB pieces stay well within that.
const PIECE = 1 << 30;

/** What a path that is not a regular file is, in words. */
export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The one-line error of a path that cannot be opened or read, naming the path, with the errno code kept. */
export function fileError(file: string, err: unknown, doing = 'cannot read'): Error {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const text: Record<string, string> = {
    ENOENT: 'no such file',
    ELOOP: 'too many levels of symbolic links (a symlink loop?)',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'a component of the path is not a directory',
    EISDIR: 'is a directory, expected a file',
    ENAMETOOLONG: 'the path is too long',
    EMFILE: 'too many open files',
  };
  const why = code && text[code] ? text[code] : `${doing}: ${e?.message ?? String(err)}`;
  return Object.assign(new Error(`${file}: ${why}`, { cause: err }), code ? { code } : {});
}

function checkPath(file: unknown): string {
  if (typeof file !== 'string' || file === '') throw expectedType('a non-empty path string', 'path', file);
  if (file.includes('\0')) throw expectedType('a path without NUL characters', 'path', file);
  return file;
}

function checkRegular(file: string, st: fs.Stats): number {
  if (!st.isFile()) throw Object.assign(new Error(`${file}: is ${kindOf(st)}, expected a regular file`), { code: 'ENOTREG' });
  return st.size;
}

const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

function shortRead(file: string, at: number, want: number, got: number): FormatError {
  return new FormatError(file, `truncated: expected ${want} bytes at offset ${at}, the file ended after ${got} (did it change while being read?)`);
}

function pieces(op: { at: number; into: Uint8Array }): { at: number; view: Uint8Array }[] {
  const out = [];
  for (let off = 0; off < op.into.length; off += PIECE) {
    out.push({ at: op.at + off, view: op.into.subarray(off, Math.min(op.into.length, off + PIECE)) });
  }
  return out;
}

function readFullySync(fd: number, file: string, view: Uint8Array, at: number): void {
  for (let got = 0; got < view.length; ) {
    const n = fs.readSync(fd, view, got, view.length - got, at + got);
    if (n === 0) throw shortRead(file, at, view.length, got);
    got += n;
  }
}

async function readFully(handle: fs.promises.FileHandle, file: string, view: Uint8Array, at: number): Promise<void> {
  for (let got = 0; got < view.length; ) {
    const { bytesRead } = await handle.read(view, got, view.length - got, at + got);
    if (bytesRead === 0) throw shortRead(file, at, view.length, got);
    got += bytesRead;
  }
}

/** Runs `parse` over a regular file, reading only what it asks for. */
export function readFileWith<T>(fileArg: string, parse: Parser<T>): T {
  const file = checkPath(fileArg);
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    throw fileError(file, err);
  }
  try {
    const size = checkRegular(file, fs.fstatSync(fd));
    const gen = parse(size, file);
    let next = gen.next();
    while (!next.done) {
      const op = next.value;
      if ('into' in op) {
        for (const p of pieces(op)) readFullySync(fd, file, p.view, p.at);
        next = gen.next(undefined);
      } else {
        const buf = Buffer.allocUnsafe(op.length);
        readFullySync(fd, file, buf, op.at);
        next = gen.next(buf);
      }
    }
    return next.value;
  } finally {
    fs.closeSync(fd);
  }
}

/** readFileWith without blocking the event loop on the reads. */
export async function readFileWithAsync<T>(fileArg: string, parse: Parser<T>): Promise<T> {
  const file = checkPath(fileArg);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, OPEN_FLAGS);
  } catch (err) {
    throw fileError(file, err);
  }
  try {
    const size = checkRegular(file, await handle.stat());
    const gen = parse(size, file);
    let next = gen.next();
    while (!next.done) {
      const op = next.value;
      if ('into' in op) {
        for (const p of pieces(op)) await readFully(handle, file, p.view, p.at);
        next = gen.next(undefined);
      } else {
        const buf = Buffer.allocUnsafe(op.length);
        await readFully(handle, file, buf, op.at);
        next = gen.next(buf);
      }
    }
    return next.value;
  } finally {
    await handle.close();
  }
}

/** A parser that wants the whole file as one Buffer (small files only). */
export const wholeFile: Parser<Buffer> = function* (size) {
  return (yield { at: 0, length: size })!;
};

/** Runs `parse` over bytes already in memory. */
export function parseBytesWith<T>(bytes: Uint8Array, file: string, parse: Parser<T>): T {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const gen = parse(buf.length, file);
  let next = gen.next();
  while (!next.done) {
    const op = next.value;
    const want = 'into' in op ? op.into.length : op.length;
    if (op.at + want > buf.length) throw shortRead(file, op.at, want, Math.max(0, buf.length - op.at));
    const slice = buf.subarray(op.at, op.at + want);
    if ('into' in op) {
      op.into.set(slice);
      next = gen.next(undefined);
    } else next = gen.next(slice);
  }
  return next.value;
}

/**
 * A typed array of `count` elements, or a FormatError naming the file when
 * the machine cannot hold it (rather than V8's "Invalid typed array length").
 */
type AnyArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
type AnyArrayConstructor = new (n: number) => AnyArray;

export function allocateFor(Ctor: AnyArrayConstructor, count: number, bytesPerElement: number, file: string, what: string): AnyArray {
  try {
    return new Ctor(count);
  } catch (err) {
    if (err instanceof RangeError) {
      throw new FormatError(file, `${what} needs ${count * bytesPerElement} bytes, more than this process can allocate in one array`);
    }
    throw err;
  }
}
