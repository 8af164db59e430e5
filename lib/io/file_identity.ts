// One identity for an input file across runs: its path, size and
// modification time, hashed. `hgad predict --resume` skips the images its
// output already holds by it, and the queue names an image's job by it (so
// adding the same unchanged image twice is one job).
import * as crypto from 'crypto';

/** sha256 (hex) of path, size and mtime: a changed or replaced file gets a new identity. */
export function fileIdentity(file: string, size: number, mtimeMs: number): string {
  return crypto.createHash('sha256').update(`${file}\0${size}\0${mtimeMs}`).digest('hex');
}
