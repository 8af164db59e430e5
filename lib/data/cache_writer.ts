// Builds one feature cache folder (format: ./feature_cache.ts) image by image:
// a temporary folder beside the final one receives the level files (their
// sha1 computed on the way), and finish() writes cache.json and renames the
// folder into place. An error, abort() or the process's exit (Ctrl-C
// included: the CLI exits on SIGINT) removes the temporary folder; one left
// by a killed process (kill -9) is removed by a later run (../io/stale_temps).
// A broken folder under the key's name (cache.json missing, a level file
// truncated, missing or changed) is not trusted: findCache() says so in one
// warning, and finish() swaps the new folder in (the old one is renamed to
// a temporary name first, then removed), so the name never holds a partial
// folder. Memory: one image's rows per level, whatever the number of images.
import * as fs from 'fs';
import * as path from 'path';
import { floatToHalf } from '../backend/host';
import { FormatError } from '../errors';
import * as disk from '../io/disk';
import { removeStaleFolders, tempFolderName } from '../io/stale_temps';
import { firstNonFiniteValue, levelHash, locateValue, NonFiniteCacheError, verifyCache } from './cache_verify';
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

export interface FindCacheOptions {
  /** ignore the folder found under the key: it is rebuilt and replaced */
  rebuild?: boolean;
  /** receives one line per broken cache found and per sweep of stale temporary folders */
  onWarning?: (message: string) => void;
}

// .<key>.<pid>.<random>.tmp: the temporary folders of hgad before they named their owner.
const LEGACY_TEMP = /^\.[0-9a-f]{16}\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Removes the temporary folders under a cache root left by killed runs; returns how many. */
export function removeStaleCacheTemps(root: string): number {
  let removed = removeStaleFolders(root, (base) => /^[0-9a-f]{16}$/.test(base)).length;
  let names: string[] = [];
  try {
    names = fs.readdirSync(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = LEGACY_TEMP.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    try {
      if (!fs.lstatSync(path.join(root, name)).isDirectory()) continue;
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
      removed++;
    } catch {
      // removed meanwhile by another run
    }
  }
  return removed;
}

/**
 * The cache of `key` in `dir`, read and verified (sizes, checksums, finite
 * values), or null: when there is none, when a rebuild is asked, or when the
 * folder is broken (one warning says why; the next CacheWriter replaces it).
 * Also removes the cache root's stale temporary folders.
 */
export function findCache(dir: string, key: string, o: FindCacheOptions = {}): CacheMeta | null {
  const warn = o.onWarning ?? ((m: string) => process.emitWarning(m, 'HgadCacheWarning'));
  const swept = removeStaleCacheTemps(path.dirname(dir));
  if (swept > 0) warn(`removed ${swept} temporary folder${swept === 1 ? '' : 's'} of killed runs from ${path.dirname(dir)}`);
  if (o.rebuild || !fs.existsSync(dir)) return null;
  let why: string | null;
  let meta: CacheMeta | null = null;
  try {
    meta = readCacheMeta(dir);
    why = meta.key !== key ? 'cache.json holds another key' : verifyCache(dir, meta);
  } catch (err) {
    if (!(err instanceof FormatError) || err instanceof NonFiniteCacheError) throw err;
    why = err.message;
  }
  if (why === null) return meta;
  warn(`the feature cache ${dir} is broken (${why}); rebuilding it`);
  return null;
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
  private readonly hashes: ReturnType<typeof levelHash>[];
  private readonly counts: number[];
  private done = false;

  /**
   * Checks the free disk for `images` images and opens the level files in a
   * temporary folder. replace: the folder under the key's name (broken, or to
   * be rebuilt) is replaced by finish() rather than taken as another run's.
   */
  constructor(readonly dir: string, readonly levels: CacheLevel[], readonly dtype: CacheDType, images: number, readonly options: { replace?: boolean } = {}) {
    const perImage = levels.map((l) => l.height * l.width * l.channels);
    const need = images * perImage.reduce((a, b) => a + b, 0) * bytesPerValue(dtype);
    const root = path.dirname(dir);
    fs.mkdirSync(root, { recursive: true });
    removeStaleCacheTemps(root);
    disk.checkFreeSpace(root, need, 'the feature cache');
    this.tmp = path.join(root, tempFolderName(path.basename(dir)));
    fs.mkdirSync(this.tmp);
    track(this.tmp);
    this.rows = perImage.map((n) => new Float32Array(n));
    this.halves = perImage.map((n) => new Uint16Array(dtype === 'float16' ? n : 0));
    this.hashes = levels.map(() => levelHash());
    this.counts = levels.map(() => 0);
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
   * source: the image, named by the error of a non-finite value
   */
  appendImage(l: number, maps: Float32Array, source?: string): void {
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
    const bad = firstNonFiniteValue(bytes, this.dtype);
    if (bad >= 0) {
      const { where } = locateValue(this.levels, l, bad);
      const why = Number.isFinite(rows[bad]) ? `${rows[bad]} is beyond float16's range (65504): store the cache as float32 (--cache-float32)` : `the feature extractor gave ${rows[bad]}`;
      throw new FormatError(source ?? `image ${this.counts[l]}`, `a non-finite feature value in ${where}: ${why}`);
    }
    this.hashes[l].update(bytes);
    this.counts[l]++;
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(this.fds[l], bytes, off, bytes.length - off);
  }

  /** Makes the cache visible under its key: level files synced, cache.json written (with checksums), folder renamed. */
  finish(meta: Omit<CacheMeta, 'format' | 'version' | 'dtype' | 'levels' | 'checksums'>): CacheMeta {
    for (const fd of this.fds.splice(0)) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    const checksums = this.hashes.map((h) => h.digest('hex'));
    const full: CacheMeta = { format: CACHE_FORMAT, version: CACHE_VERSION, dtype: this.dtype, levels: this.levels, ...meta, checksums };
    try {
      fs.writeFileSync(path.join(this.tmp, CACHE_META), JSON.stringify(full));
      try {
        fs.renameSync(this.tmp, this.dir);
      } catch (err) {
        if (!fs.existsSync(this.dir)) throw err;
        // Another run finished the same key first: its cache is as good as ours.
        if (!this.options.replace && fs.existsSync(path.join(this.dir, CACHE_META))) fs.rmSync(this.tmp, { recursive: true, force: true });
        else this.swapIn();
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    pending.delete(this.tmp);
    this.done = true;
    return readCacheMeta(this.dir);
  }

  /** Replaces the folder under the key's name: renamed aside (a temporary name a later run may sweep), ours renamed in, then removed. */
  private swapIn(): void {
    const aside = path.join(path.dirname(this.dir), tempFolderName(path.basename(this.dir)));
    try {
      fs.renameSync(this.dir, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      fs.renameSync(this.tmp, this.dir);
    } catch (err) {
      // A run rebuilding the same key swapped its folder in between: it is as new as ours.
      if (!fs.existsSync(path.join(this.dir, CACHE_META))) throw err;
      fs.rmSync(this.tmp, { recursive: true, force: true });
    }
    fs.rmSync(aside, { recursive: true, force: true });
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
