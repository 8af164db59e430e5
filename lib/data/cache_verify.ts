// Checking a feature cache's level files before they are trained on: each
// file's sha1, computed while it was written and stored in cache.json, is
// recomputed over the whole file in one sequential pass (a training run reads
// every file many times over, so one more read is small beside it), and the
// same pass looks for non-finite values. A mismatch means the bytes changed
// after extraction (a disk error, a copy cut short, an edit): the cache is
// rebuilt. A non-finite value under a good checksum was written so: the error
// names the level file, the image and where in its map.
import * as crypto from 'crypto';
import * as fs from 'fs';
import { firstNonFinite } from '../backend/host';
import { FormatError } from '../errors';
import { bytesPerValue, CacheDType, CacheLevel, CacheMeta, levelFile } from './feature_cache';

const CHUNK = 8 << 20;

/** A non-finite value in a cache whose checksums hold: it was stored so, and rebuilding would store it again. */
export class NonFiniteCacheError extends FormatError {}

/** The checksum stored per level file: sha1 of its bytes, hex. */
export function levelHash(): crypto.Hash {
  return crypto.createHash('sha1');
}

/** Index of the first non-finite value of `bytes` (whole values of `dtype`), or -1. */
export function firstNonFiniteValue(bytes: Uint8Array, dtype: CacheDType): number {
  if (dtype === 'float32') {
    return firstNonFinite(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  }
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  // Two halves per 32-bit word where aligned (3x faster than one by one); exponent bits all set: Inf or NaN.
  const words = bytes.byteOffset % 4 === 0 ? bytes.byteLength >> 2 : 0;
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
    for (let i = 0; i < words; ++i) {
      const v = w[i];
      if ((v & 0x7c00) === 0x7c00 || (v & 0x7c000000) === 0x7c000000) return (v & 0x7c00) === 0x7c00 ? 2 * i : 2 * i + 1;
    }
  }
  for (let i = 2 * words; i < halves.length; ++i) if ((halves[i] & 0x7c00) === 0x7c00) return i;
  return -1;
}

/** Where value `index` of level file `l` lies: the image's index, and the level, map position and channel. */
export function locateValue(levels: readonly CacheLevel[], l: number, index: number): { image: number; where: string } {
  const { channels: C, height, width, name } = levels[l];
  const per = height * width * C;
  const image = Math.floor(index / per);
  const within = index - image * per;
  const pos = Math.floor(within / C);
  const y = Math.floor(pos / width);
  return { image, where: `level ${l} (${name}), position (y ${y}, x ${pos - y * width}), channel ${within - pos * C}` };
}

/**
 * Verifies the level files of the cache in `dir` against meta.checksums.
 * Returns why the cache cannot be trusted (to rebuild it), or null when it
 * can; throws a FormatError naming the file and the image for a non-finite
 * value under a good checksum.
 */
export function verifyCache(dir: string, meta: CacheMeta): string | null {
  if (!Array.isArray(meta.checksums) || meta.checksums.length !== meta.levels.length) return 'cache.json holds no checksums of its level files (written by an older hgad)';
  const bpv = bytesPerValue(meta.dtype);
  const buf = new Uint8Array(CHUNK);
  for (let l = 0; l < meta.levels.length; ++l) {
    const file = levelFile(dir, l);
    const hash = levelHash();
    let nonFinite = -1;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      return `${file}: cannot be read (${(err as Error).message})`;
    }
    try {
      for (let pos = 0; ; ) {
        const n = fs.readSync(fd, buf, 0, CHUNK, pos);
        if (n === 0) break;
        const bytes = buf.subarray(0, n);
        hash.update(bytes);
        if (nonFinite < 0 && n % bpv === 0) {
          const i = firstNonFiniteValue(bytes, meta.dtype);
          if (i >= 0) nonFinite = pos / bpv + i;
        }
        pos += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (hash.digest('hex') !== meta.checksums[l]) return `${file}: its checksum differs from the one recorded at extraction (the file changed since)`;
    if (nonFinite >= 0) {
      const { image, where } = locateValue(meta.levels, l, nonFinite);
      const path = meta.images[image]?.path ?? '?';
      throw new NonFiniteCacheError(file, `a non-finite feature value of image ${image} (${path}), ${where}; delete the cache folder ${dir} or run again with --rebuild-cache`);
    }
  }
  return null;
}
