// Free disk space, checked before a large write (the feature cache) so that a
// run fails at once with what it needs rather than hours later with ENOSPC.
import * as fs from 'fs';
import { FormatError } from '../errors';

/** Bytes a non-root user may still write on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

/** Throws a FormatError naming `dir` when fewer than `need` bytes (plus a 5% / 16 MB margin) are free. */
export function checkFreeSpace(dir: string, need: number, what: string, free: (d: string) => number = freeBytes): void {
  const margin = Math.max(need * 0.05, 16 * 2 ** 20);
  const have = free(dir);
  if (have < need + margin) {
    throw new FormatError(dir, `too little free disk for ${what}: it needs ${mb(need)} (plus ${mb(margin)} spare) and ${mb(have)} are free`);
  }
}
