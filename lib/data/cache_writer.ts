// Builds one feature cache folder (format: ./feature_cache.ts) image by image:
// a temporary folder beside the final one receives the level files, and
// finish() writes cache.json and renames the folder into place. An error,
// abort() or the process's exit (Ctrl-C included: the CLI exits on SIGINT)
// removes the temporary folder, so no broken cache is ever found under a key.
// Memory: one image's rows per level, whatever the number of images.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { floatToHalf } from '../backend/host';
import { FormatError } from '../errors';
import * as disk from '../io/disk';
import {
  bytesPerValue, CACHE_FORMAT, CACHE_META, CACHE_VERSION, CacheDType, CacheLevel, CacheMeta, levelFile, readCacheMeta,
} from './feature_cache';

// Temporary folders of this process, removed at exit.
const pending = new Set<string>();
let exitHook = false;
function track(dir: string): void {
  pending.add(dir);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const d of pending) fs.rmSync(d, { recursive: true, force: true });
    });
  }
}

/** The complete cache under `dir` when there is one for `key`, else null. */
export function findCache(dir: string, key: string): CacheMeta | null {
  if (!fs.existsSync(path.join(dir, CACHE_META))) return null;
  const meta = readCacheMeta(dir);
  if (meta.key !== key) throw new FormatError(dir, "a feature cache of another key under this key's name; delete the folder");
  return meta;
}

/** The folder of the cache of `key` under `cacheRoot`. */
export function cacheFolder(cacheRoot: string, key: string): string {
  return path.join(path.resolve(cacheRoot), key.slice(0, 16));
}

export class CacheWriter {
  readonly tmp: string;
  private readonly fds: number[] = [];
  private readonly rows: Float32Array[];
  private readonly halves: Uint16Array[];
  private done = false;

  /** Checks the free disk for `images` images and opens the level files in a temporary folder. */
  constructor(readonly dir: string, readonly levels: CacheLevel[], readonly dtype: CacheDType, images: number) {
    const perImage = levels.map((l) => l.height * l.width * l.channels);
    const need = images * perImage.reduce((a, b) => a + b, 0) * bytesPerValue(dtype);
    const root = path.dirname(dir);
    fs.mkdirSync(root, { recursive: true });
    disk.checkFreeSpace(root, need, 'the feature cache');
    this.tmp = path.join(root, `.${path.basename(dir)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    fs.mkdirSync(this.tmp);
    track(this.tmp);
    this.rows = perImage.map((n) => new Float32Array(n));
    this.halves = perImage.map((n) => new Uint16Array(dtype === 'float16' ? n : 0));
    try {
      for (let l = 0; l < levels.length; ++l) this.fds.push(fs.openSync(levelFile(this.tmp, l), 'wx'));
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /**
   * Appends one image's maps of level l, transposed to rows.
   * maps: (C, h, w) float32 -> stored (h*w, C) in (y, x) order
   */
  appendImage(l: number, maps: Float32Array): void {
    const { channels: C, height, width } = this.levels[l];
    const hw = height * width;
    const rows = this.rows[l];
    if (maps.length !== C * hw) throw new RangeError(`Expected ${C * hw} values (${C} x ${height} x ${width}) for level ${l} maps but received ${maps.length}`);
    for (let c = 0; c < C; ++c) {
      const plane = c * hw;
      for (let i = 0; i < hw; ++i) rows[i * C + c] = maps[plane + i];
    }
    let bytes: Uint8Array;
    if (this.dtype === 'float16') {
      floatToHalf(rows.length, rows, this.halves[l]);
      bytes = new Uint8Array(this.halves[l].buffer);
    } else bytes = new Uint8Array(rows.buffer);
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(this.fds[l], bytes, off, bytes.length - off);
  }

  /** Makes the cache visible under its key: level files synced, cache.json written, folder renamed. */
  finish(meta: Omit<CacheMeta, 'format' | 'version' | 'dtype' | 'levels'>): CacheMeta {
    for (const fd of this.fds.splice(0)) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    const full: CacheMeta = { format: CACHE_FORMAT, version: CACHE_VERSION, dtype: this.dtype, levels: this.levels, ...meta };
    try {
      fs.writeFileSync(path.join(this.tmp, CACHE_META), JSON.stringify(full));
      try {
        fs.renameSync(this.tmp, this.dir);
      } catch (err) {
        // Another run finished the same key first: its cache is as good as ours.
        if (!fs.existsSync(path.join(this.dir, CACHE_META))) throw err;
        fs.rmSync(this.tmp, { recursive: true, force: true });
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    pending.delete(this.tmp);
    this.done = true;
    return readCacheMeta(this.dir);
  }

  /** Removes the temporary folder (after an error). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    for (const fd of this.fds.splice(0)) fs.closeSync(fd);
    fs.rmSync(this.tmp, { recursive: true, force: true });
    pending.delete(this.tmp);
  }
}
