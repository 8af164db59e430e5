// Where hgad predict's images come from and where its lines go in the
// streaming mode: the IMAGE arguments or a manifest read lazily (one path a
// line, blank lines and # comments ignored, relative paths relative to the
// manifest's folder), each path checked to be a regular file (else what it
// is); the --jsonl file appended batch by batch, each batch flushed to disk
// (fsync) so that a kill loses at most the batch in flight; and, for
// --resume, the images it already holds (a torn last line, left by a kill
// mid-write, is cut off).
import { fileIdentity } from '../io/file_identity';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { manifestEntries } from '../io/manifest';
import { kindOf } from '../io/reader';
import { CliError } from './errors';

/** An image to score, with its identity (size and modification time) at the time it was read. */
export interface ImageItem {
  /** the path as printed in its line (manifest entries resolved against the manifest's folder) */
  image: string;
  size: number;
  mtimeMs: number;
}

/** Why `file` is not an image file that can be read, or null when it is one. */
export function notAnImage(file: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'is a symbolic link loop';
    if (code === 'ENOENT') return fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() ? 'is a dangling symbolic link' : 'no such image file';
    if (code === 'EACCES') return 'permission denied';
    return `cannot be read (${code ?? (e as Error).message})`;
  }
  return st.isFile() ? null : `is ${kindOf(st)}, not an image file`;
}

/** The item of an image path; a CliError (prefixed with `where`) when it is not a regular file. */
export function imageItem(file: string, where = ''): ImageItem {
  const why = notAnImage(file);
  if (why !== null) throw new CliError(`${where}${file}: ${why}`);
  const st = fs.statSync(file);
  return { image: file, size: st.size, mtimeMs: st.mtimeMs };
}

/**
 * The key by which --resume recognises an image already scored: 128 bits of
 * its file identity (lib/io/file_identity.ts, as the queue's job ids; 32
 * characters whatever the path's length, so that the keys of a long earlier
 * run stay small).
 */
export function itemKey(item: { image: string; size: number; mtimeMs: number }): string {
  return fileIdentity(item.image, item.size, item.mtimeMs).slice(0, 32);
}

/** The manifest's images, read line by line (memory flat in the manifest's length). */
export async function* manifestItems(manifest: string): AsyncGenerator<ImageItem> {
  const why = notAnImage(manifest);
  if (why !== null) throw new CliError(`--manifest ${manifest}: ${why === 'no such image file' ? 'no such file' : why.replace(', not an image file', '')}`);
  for await (const entry of manifestEntries(manifest)) yield imageItem(entry.path, `${manifest}:${entry.line}: `);
}

/**
 * The keys of the images `jsonl` already holds, for --resume. A last line
 * without its newline (a kill mid-append) is cut off the file; any other line
 * that is not a line of hgad predict is refused.
 */
export async function resumeKeys(jsonl: string): Promise<Set<string>> {
  const keys = new Set<string>();
  const st = fs.statSync(jsonl, { throwIfNoEntry: false });
  if (!st) return keys;
  if (!st.isFile()) throw new CliError(`--jsonl ${jsonl}: is ${kindOf(st)}`);
  // the end of the last complete line: cut a torn tail before reading
  const fd = fs.openSync(jsonl, 'r+');
  try {
    let end = st.size;
    const buf = Buffer.alloc(1 << 16);
    while (end > 0) {
      const n = Math.min(buf.length, end);
      fs.readSync(fd, buf, 0, n, end - n);
      const nl = buf.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        end = end - n + nl + 1;
        break;
      }
      end -= n;
    }
    if (end < st.size) {
      fs.ftruncateSync(fd, end);
      fs.fsyncSync(fd);
      process.stderr.write(`hgad: ${jsonl}: dropped a torn last line (${st.size - end} bytes) left by an interrupted run\n`);
    }
  } finally {
    fs.closeSync(fd);
  }
  const lines = readline.createInterface({ input: fs.createReadStream(jsonl, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    ++n;
    if (line.trim() === '') continue;
    let v: { image?: unknown; size?: unknown; mtime?: unknown };
    try {
      v = JSON.parse(line);
    } catch {
      throw new CliError(`--jsonl ${jsonl}:${n}: not a JSON line; expected the lines of an earlier hgad predict --jsonl run`);
    }
    if (typeof v?.image !== 'string' || typeof v.size !== 'number' || typeof v.mtime !== 'number') {
      throw new CliError(`--jsonl ${jsonl}:${n}: expected a line of hgad predict --jsonl ({"image", "size", "mtime", ...})`);
    }
    keys.add(itemKey({ image: v.image, size: v.size, mtimeMs: v.mtime }));
  }
  return keys;
}

/** Appends whole lines to a file, each batch written in full and flushed to disk before the next. */
export class LineAppender {
  private fd: number;

  constructor(readonly file: string) {
    const created = !fs.existsSync(file);
    this.fd = fs.openSync(file, 'a');
    if (created) {
      // the new file's directory entry reaches the disk too
      const dir = fs.openSync(path.dirname(path.resolve(file)), 'r');
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    }
  }

  append(lines: string[]): void {
    if (lines.length === 0) return;
    const buf = Buffer.from(lines.join('\n') + '\n', 'utf8');
    for (let off = 0; off < buf.length; ) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    fs.fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
