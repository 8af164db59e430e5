// Atomic writes: an output is written to a temp file beside it, flushed, then
// renamed over the target, so a crash or error mid-write leaves the previous
// file, or none, never a half-written one. What the rename may replace is
// checked first, because a rename replaces whatever the path is:
// - a symlink is followed: its target is replaced and the link kept;
// - a directory, device, FIFO or socket is refused (a rename would swap a
//   system node such as /dev/null for a regular file);
// - a file without write permission (mode 444) is refused, as cp and tee do.
// Every error names the target, never the temp file. Temp files left by a
// writer that was killed (kill -9 mid-write) are removed by the next write to
// the same target once their process is gone.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { expectedType } from '../errors';
import { fileError, kindOf, readFileWith, wholeFile } from './reader';

export type FileData = Buffer | Uint8Array | Uint8Array[];

// writeSync moves at most 2^31 - 1 bytes per call.
const PIECE = 1 << 30;
const MAX_SYMLINK_HOPS = 40;

function checkArgs(target: unknown, data: unknown): { target: string; chunks: Uint8Array[] } {
  if (typeof target !== 'string' || target === '') throw expectedType('a non-empty path string', 'path', target);
  if (target.includes('\0')) throw expectedType('a path without NUL characters', 'path', target);
  if (data instanceof Uint8Array) return { target, chunks: [data] };
  if (Array.isArray(data) && data.every((c) => c instanceof Uint8Array)) return { target, chunks: data };
  throw expectedType('a Buffer or an array of Uint8Array', 'data', data);
}

function refuse(target: string, why: string, code: string): Error {
  return Object.assign(new Error(`${target}: ${why}`), { code });
}

/**
 * The regular file (existing or not) that writing `target` replaces: symlinks
 * followed (dangling ones too, to where they point), everything else refused.
 * Returns the path to rename onto and the existing file's mode, if any.
 */
export function resolveOutput(target: string): { file: string; mode: number | null } {
  let file = path.resolve(target);
  for (let hop = 0; ; ++hop) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') break;
      throw fileError(target, err, 'cannot write');
    }
    if (st.isSymbolicLink()) {
      if (hop >= MAX_SYMLINK_HOPS) throw refuse(target, 'too many levels of symbolic links (a symlink loop?)', 'ELOOP');
      file = path.resolve(path.dirname(file), fs.readlinkSync(file));
      continue;
    }
    if (!st.isFile()) {
      throw refuse(target, `is ${kindOf(st)}; hgad writes an output by replacing a regular file, so it will not replace this`, st.isDirectory() ? 'EISDIR' : 'ENOTREG');
    }
    // Root may write anything, so the mode bits are what say "read-only" here.
    if ((st.mode & 0o222) === 0) throw refuse(target, `is read-only (mode ${(st.mode & 0o777).toString(8)}); make it writable or choose another --out`, 'EACCES');
    return { file, mode: st.mode & 0o7777 };
  }
  const dir = path.dirname(file);
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch (err) {
    throw refuse(target, `directory ${dir} does not exist`, (err as NodeJS.ErrnoException).code ?? 'ENOENT');
  }
  if (!dirStat.isDirectory()) throw refuse(target, `${dir} is not a directory`, 'ENOTDIR');
  return { file, mode: null };
}

const TEMP = /^\.(.*)\.(\d+)\.[0-9a-f]{12}\.tmp$/;

// Same directory as the target so that rename() stays on one file system and
// is atomic; pid + random suffix keeps concurrent writers from colliding, and
// the pid says whether the writer still lives.
function tempPathFor(file: string): string {
  const suffix = `${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  return path.join(path.dirname(file), `.${path.basename(file)}.${suffix}.tmp`);
}

/** Whether process `pid` runs (this one always does; EPERM: it runs as another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes this target's temp files whose writing process no longer exists (a writer killed mid-write). */
export function removeStaleTemps(file: string): number {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || m[1] !== base || processAlive(Number(m[2]))) continue;
    try {
      // Only a regular file: a directory or link of that name is someone else's.
      if (fs.lstatSync(path.join(dir, name)).isFile()) {
        fs.unlinkSync(path.join(dir, name));
        removed++;
      }
    } catch {
      // removed meanwhile by another writer: nothing to do
    }
  }
  return removed;
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

function pieces(chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) for (let off = 0; off < c.length; off += PIECE) out.push(c.subarray(off, off + PIECE));
  return out;
}

function writeError(target: string, err: unknown): Error {
  if (err instanceof Error && (err as NodeJS.ErrnoException).code && err.message.startsWith(`${target}: `)) return err;
  return fileError(target, err, 'cannot write');
}

/** Writes `data` to `target` atomically (see the top of this file for what may be replaced). */
export function writeFileAtomic(targetArg: string, data: FileData): void {
  const { target, chunks } = checkArgs(targetArg, data);
  const { file, mode } = resolveOutput(target);
  removeStaleTemps(file);
  const tmp = tempPathFor(file);
  // Only a temp file this call created may be removed: after a failed
  // exclusive open the name could belong to someone else.
  let created = false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode ?? 0o666);
    created = true;
    if (mode !== null) fs.fchmodSync(fd, mode);
    for (const chunk of pieces(chunks)) {
      // writeSync may write fewer bytes than asked.
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // the original error is the one worth reporting
      }
    }
    if (created) fs.rmSync(tmp, { force: true });
    throw writeError(target, err);
  }
  syncDirectory(path.dirname(file));
}

export async function writeFileAtomicAsync(targetArg: string, data: FileData): Promise<void> {
  const { target, chunks } = checkArgs(targetArg, data);
  const { file, mode } = resolveOutput(target);
  removeStaleTemps(file);
  const tmp = tempPathFor(file);
  let created = false;
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(tmp, 'wx', mode ?? 0o666);
    created = true;
    if (mode !== null) await handle.chmod(mode);
    for (const chunk of pieces(chunks)) {
      for (let off = 0; off < chunk.length; ) {
        off += (await handle.write(chunk, off, chunk.length - off)).bytesWritten;
      }
    }
    await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    await fs.promises.rename(tmp, file);
  } catch (err) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    if (created) await fs.promises.rm(tmp, { force: true });
    throw writeError(target, err);
  }
  await syncDirectoryAsync(path.dirname(file));
}

/** Reads a whole regular file; errors name the file (ENOENT: "<path>: no such file"). */
export function readFileWhole(file: string): Buffer {
  return readFileWith(file, wholeFile);
}
