// File-system primitives shared by the format codecs: whole-file reads that
// report a missing file plainly, and writes that never expose a half-written
// target (a crash or error mid-write leaves the previous file, or none).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { expectedType } from '../errors';

export type FileData = Buffer | Uint8Array[];

function checkArgs(target: unknown, data: unknown): Uint8Array[] {
  if (typeof target !== 'string' || target === '') throw expectedType('a non-empty path string', 'path', target);
  if (data instanceof Uint8Array) return [data];
  if (Array.isArray(data) && data.every((c) => c instanceof Uint8Array)) return data;
  throw expectedType('a Buffer or an array of Uint8Array', 'data', data);
}

// Same directory as the target so that rename() stays on one file system and
// is atomic; pid + random suffix keeps concurrent writers from colliding.
function tempPathFor(target: string): string {
  const suffix = `${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  return path.join(path.dirname(target), `.${path.basename(target)}.${suffix}.tmp`);
}

// Makes the rename itself durable. Some platforms (Windows) cannot open or
// fsync a directory; the target is already complete there, so it is skipped.
function syncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // best effort, see above
  }
}

async function syncDirectoryAsync(dir: string): Promise<void> {
  try {
    const handle = await fs.promises.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort, see syncDirectory
  }
}

export function writeFileAtomic(target: string, data: FileData): void {
  const chunks = checkArgs(target, data);
  const tmp = tempPathFor(target);
  // Only a temp file this call created may be removed: after a failed
  // exclusive open the name could belong to someone else.
  let created = false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    created = true;
    for (const chunk of chunks) {
      // writeSync may write fewer bytes than asked.
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // the original error is the one worth reporting
      }
    }
    if (created) fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(path.dirname(target));
}

export async function writeFileAtomicAsync(target: string, data: FileData): Promise<void> {
  const chunks = checkArgs(target, data);
  const tmp = tempPathFor(target);
  let created = false;
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(tmp, 'wx');
    created = true;
    for (const chunk of chunks) {
      for (let off = 0; off < chunk.length; ) {
        off += (await handle.write(chunk, off, chunk.length - off)).bytesWritten;
      }
    }
    await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    await fs.promises.rename(tmp, target);
  } catch (err) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    if (created) await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await syncDirectoryAsync(path.dirname(target));
}

function noSuchFile(file: string, cause: unknown): Error {
  return Object.assign(new Error(`${file}: no such file`, { cause }), { code: 'ENOENT' });
}

function checkPath(file: unknown): string {
  if (typeof file !== 'string' || file === '') throw expectedType('a non-empty path string', 'path', file);
  return file;
}

/** Reads a whole file; a missing file raises Error("<path>: no such file") with code ENOENT. */
export function readFileWhole(file: string): Buffer {
  try {
    return fs.readFileSync(checkPath(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchFile(file, err);
    throw err;
  }
}

export async function readFileWholeAsync(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(checkPath(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchFile(file, err);
    throw err;
  }
}
