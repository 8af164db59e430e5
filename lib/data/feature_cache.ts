// The on-disk feature cache: the feature maps of a data set's images,
// extracted once by a frozen backbone and read back image batch by image
// batch by the training loop (in whichever thread opens it).
//
// A cache is one folder, named after its key (a sha256 of the images' paths,
// sizes and modification times, the backbone's sha256, the levels and the
// preprocessing), holding:
//   cache.json      this file's CacheMeta (written last: a folder without it is no cache),
//                   with the sha1 of each level file (checked by ./cache_verify.ts)
//   level<l>.bin    (numImages, height*width, channels) float16 or float32, little-endian:
//                   each image's rows contiguous, (y, x) order, so reading an image is one read
// The folder is built under a temporary name and renamed into place whole, so
// an interrupted extraction leaves no folder under the key's name; a broken
// folder found under it is rebuilt and swapped in (./cache_writer.ts).
import * as fs from 'fs';
import * as path from 'path';
import { halfToFloat } from '../backend/host';
import { expectedRange, FormatError, received } from '../errors';
import { checkRowRead, FeatureSource, LevelShape } from './feature_source';

export const CACHE_FORMAT = 'hgad-feature-cache';
export const CACHE_VERSION = 1;
export const CACHE_META = 'cache.json';

export type CacheDType = 'float16' | 'float32';

export interface CacheLevel extends LevelShape {
  /** the backbone output it came from (pyramid: output@scale) */
  name: string;
}

export interface CachedImage {
  path: string;
  size: number;
  mtimeMs: number;
  classId: number;
}

export interface CacheMeta {
  format: typeof CACHE_FORMAT;
  version: number;
  /** sha256 (hex) of everything the features depend on; the folder is named after its first 16 digits */
  key: string;
  dtype: CacheDType;
  classNames: string[];
  levels: CacheLevel[];
  /** the images whose features are stored, in storage order */
  images: CachedImage[];
  /** what the key was made of, kept for model files and for people */
  backbone: { sha256: string; file: string; outputs: string[]; pyramid: boolean };
  preprocessing: { imageSize: number; crop: number; mean: number[]; std: number[] };
  /** images left out because they could not be read */
  skipped: { path: string; reason: string }[];
  /** sha1 (hex) of each level file, computed while it was written (./cache_verify.ts) */
  checksums?: string[];
}

/** How a worker opens a cache itself: the folder's path is all it needs. */
export interface CacheSourceSpec {
  kind: 'cache';
  dir: string;
}

export function levelFile(dir: string, level: number): string {
  return path.join(dir, `level${level}.bin`);
}

export function bytesPerValue(dtype: CacheDType): number {
  return dtype === 'float16' ? 2 : 4;
}

/** Reads and checks a cache folder's cache.json and its level files' sizes. */
export function readCacheMeta(dir: string): CacheMeta {
  const file = path.join(dir, CACHE_META);
  let meta: CacheMeta;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheMeta;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (not a feature cache folder)' : `not valid JSON (${(err as Error).message})`;
    throw new FormatError(file, why);
  }
  if (meta?.format !== CACHE_FORMAT || meta.version !== CACHE_VERSION) throw new FormatError(file, `not a version-${CACHE_VERSION} hgad feature cache`);
  if (meta.dtype !== 'float16' && meta.dtype !== 'float32') throw new FormatError(file, `unknown dtype ${JSON.stringify(meta.dtype)}`);
  if (!Array.isArray(meta.levels) || meta.levels.length === 0 || !Array.isArray(meta.images) || meta.images.length === 0) {
    throw new FormatError(file, 'no levels or no images');
  }
  const bpv = bytesPerValue(meta.dtype);
  meta.levels.forEach((l, i) => {
    const want = meta.images.length * l.height * l.width * l.channels * bpv;
    let size = -1;
    try {
      size = fs.statSync(levelFile(dir, i)).size;
    } catch {
      // reported below
    }
    if (size !== want) throw new FormatError(levelFile(dir, i), `expected ${want} bytes for ${meta.images.length} images of ${l.height}x${l.width}x${l.channels} ${meta.dtype} but found ${size < 0 ? 'no file' : size}`);
  });
  return meta;
}

/**
 * A FeatureSource over a cache folder. Memory: one scratch buffer of one
 * image's level rows (the largest level), whatever the number of images.
 */
export class CacheFeatureSource implements FeatureSource {
  readonly meta: CacheMeta;
  readonly levels: readonly LevelShape[];
  readonly numImages: number;
  readonly labels: Int32Array;
  private readonly fds: number[];
  private readonly scratch: Buffer;

  constructor(readonly dir: string) {
    this.meta = readCacheMeta(dir);
    this.levels = this.meta.levels.map(({ channels, height, width }) => ({ channels, height, width }));
    this.numImages = this.meta.images.length;
    this.labels = Int32Array.from(this.meta.images, (im) => im.classId);
    const largest = Math.max(...this.levels.map((l) => l.height * l.width * l.channels));
    // 8 spare bytes so that the float16 view can start on an even address
    this.scratch = Buffer.allocUnsafe(largest * bytesPerValue(this.meta.dtype) + 8);
    this.fds = [];
    try {
      for (let l = 0; l < this.levels.length; ++l) this.fds.push(fs.openSync(levelFile(dir, l), 'r'));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get spec(): CacheSourceSpec {
    return { kind: 'cache', dir: this.dir };
  }

  read(level: number, ids: Int32Array, out: Float32Array): void {
    if (!Number.isInteger(level) || level < 0 || level >= this.levels.length) throw expectedRange(`a level in [0, ${this.levels.length})`, 'level', level);
    const { channels, height, width } = this.levels[level];
    const per = height * width * channels;
    if (out.length !== ids.length * per) throw expectedRange(`${ids.length * per} values`, 'out', received(`${out.length} values`));
    const bpv = bytesPerValue(this.meta.dtype);
    const bytes = per * bpv;
    for (let j = 0; j < ids.length; ++j) {
      const i = ids[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.numImages) throw expectedRange(`image ids in [0, ${this.numImages})`, 'ids', i);
      const position = i * bytes;
      const dst = out.subarray(j * per, (j + 1) * per);
      if (bpv === 4) {
        readFully(this.fds[level], new Uint8Array(dst.buffer, dst.byteOffset, bytes), position, levelFile(this.dir, level));
      } else {
        const start = this.scratch.byteOffset % 2;
        const raw = this.scratch.subarray(start, start + bytes);
        readFully(this.fds[level], raw, position, levelFile(this.dir, level));
        halfToFloat(per, new Uint16Array(raw.buffer, raw.byteOffset, per), dst);
      }
    }
  }

  /**
   * The rows of the sampled positions only (see FeatureSource.readRows): each
   * run of consecutive positions of an image is one read (positions sorted
   * per image read fewest), the float16 rows are widened all at once.
   */
  readRows(level: number, ids: Int32Array, positions: Int32Array, n: number, out: Float32Array): void {
    if (!Number.isInteger(level) || level < 0 || level >= this.levels.length) throw expectedRange(`a level in [0, ${this.levels.length})`, 'level', level);
    const { channels: C, height, width } = this.levels[level];
    const hw = height * width;
    checkRowRead(hw, C, this.numImages, ids, positions, n, out);
    const bpv = bytesPerValue(this.meta.dtype);
    const rowBytes = C * bpv;
    const file = levelFile(this.dir, level);
    const fd = this.fds[level];
    // float32 rows land in `out` directly; float16 rows in the scratch buffer, n rows of an image at a time
    const start = this.scratch.byteOffset % 2;
    for (let j = 0; j < ids.length; ++j) {
      const image = ids[j] * hw;
      const dst = bpv === 4 ? new Uint8Array(out.buffer, out.byteOffset + j * n * rowBytes, n * rowBytes) : this.scratch.subarray(start, start + n * rowBytes);
      for (let r = 0; r < n; ) {
        let end = r + 1;
        while (end < n && positions[j * n + end] === positions[j * n + end - 1] + 1) ++end;
        readFully(fd, dst.subarray(r * rowBytes, end * rowBytes), (image + positions[j * n + r]) * rowBytes, file);
        r = end;
      }
      if (bpv === 2) halfToFloat(n * C, new Uint16Array(dst.buffer, dst.byteOffset, n * C), out.subarray(j * n * C, (j + 1) * n * C));
    }
  }

  close(): void {
    for (const fd of this.fds.splice(0)) fs.closeSync(fd);
  }
}

function readFully(fd: number, into: Uint8Array, position: number, file: string): void {
  for (let off = 0; off < into.length; ) {
    const n = fs.readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new FormatError(file, `ends at ${position + off} bytes, before the image's rows end (a truncated cache: the next run rebuilds it)`);
    off += n;
  }
}
