// Feature extraction into the on-disk cache (format: lib/data/feature_cache.ts).
// Images are decoded, preprocessed and run through the backbone a batch at a
// time; each batch's maps are transposed to rows (h*w, C) per image, narrowed
// to float16 and appended to the level files. Memory: one batch of images and
// of maps, whatever the data set's size. The folder is built under a temporary
// name and renamed into place once complete: an error or Ctrl-C (the process's
// exit) removes it, so no broken cache is ever found under a key.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { floatToHalf } from '../backend/host';
import { FormatError } from '../errors';
import {
  bytesPerValue, CACHE_FORMAT, CACHE_META, CACHE_VERSION, CacheDType, CachedImage, CacheLevel, CacheMeta, levelFile, readCacheMeta,
} from '../data/feature_cache';
import { Backbone } from './backbone';
import { ImageEntry } from './dataset';
import * as disk from './disk';
import { mapLimited, SkippedImage } from './inspect';
import { loadImage, Preprocessing } from './preprocess';

export interface ExtractProgress {
  phase: 'extract';
  done: number;
  total: number;
  imagesPerSecond: number;
  etaSeconds: number;
  /** seconds spent so far in each stage */
  seconds: { decode: number; backbone: number; write: number };
}

export interface ExtractOptions {
  images: readonly ImageEntry[];
  classNames: readonly string[];
  backbone: Backbone;
  preprocessing: Preprocessing;
  /** folder holding caches, one sub-folder per key */
  cacheDir: string;
  dtype?: CacheDType;
  /** images per backbone run (default 8) */
  batchSize?: number;
  /** leave out images that fail to decode (listed in the cache) instead of failing */
  skipUnreadable?: boolean;
  /** images already left out by the header check, recorded with the cache */
  skipped?: readonly SkippedImage[];
  onProgress?: (p: ExtractProgress) => void;
}

export interface ExtractResult {
  dir: string;
  meta: CacheMeta;
  /** true when a cache with the same key was found and nothing was extracted */
  reused: boolean;
}

async function describeImages(images: readonly ImageEntry[]): Promise<CachedImage[]> {
  return mapLimited(images, 16, async (e) => {
    const s = await fs.promises.stat(e.path).catch((err) => {
      throw new FormatError(e.path, `cannot read the image (${(err as Error).message})`);
    });
    return { path: e.path, size: s.size, mtimeMs: s.mtimeMs, classId: e.classId };
  });
}

/** The key: everything the stored features depend on. */
export function cacheKey(images: readonly CachedImage[], classNames: readonly string[], backbone: Backbone, p: Preprocessing, dtype: CacheDType): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, version: CACHE_VERSION, dtype, classNames, backbone: backbone.sha256, outputs: backbone.outputs, pyramid: backbone.pyramid, p }));
  for (const im of images) h.update(`\n${im.classId}\t${im.size}\t${im.mtimeMs}\t${im.path}`);
  return h.digest('hex');
}

/** Rows of one image: maps (C, h, w) -> (h*w, C). */
function toRows(maps: Float32Array, C: number, hw: number, out: Float32Array): void {
  for (let c = 0; c < C; ++c) {
    const plane = c * hw;
    for (let i = 0; i < hw; ++i) out[i * C + c] = maps[plane + i];
  }
}

// Temporary folders of this process, removed at exit (Ctrl-C included: the CLI exits on SIGINT).
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

function existing(dir: string, key: string): CacheMeta | null {
  if (!fs.existsSync(path.join(dir, CACHE_META))) return null;
  const meta = readCacheMeta(dir);
  if (meta.key !== key) throw new FormatError(dir, 'a feature cache of another key under this key\'s name; delete the folder');
  return meta;
}

/** Extracts the features of `images` into the cache, or finds them there. */
export async function extractFeatures(o: ExtractOptions): Promise<ExtractResult> {
  const dtype = o.dtype ?? 'float16';
  const batchSize = o.batchSize ?? 8;
  const described = await describeImages(o.images);
  const key = cacheKey(described, o.classNames, o.backbone, o.preprocessing, dtype);
  const dir = path.join(path.resolve(o.cacheDir), key.slice(0, 16));
  const found = existing(dir, key);
  if (found) return { dir, meta: found, reused: true };

  // The level shapes, from one image of zeros; the disk check needs them before anything is written.
  const S = o.preprocessing.crop;
  const probe = await o.backbone.run(new Float32Array(3 * S * S), 1, S);
  const names = o.backbone.levelNames;
  const levels: CacheLevel[] = probe.map((m, l) => ({ name: names[l], channels: m.channels, height: m.height, width: m.width }));
  const perImage = levels.map((l) => l.height * l.width * l.channels);
  const bpv = bytesPerValue(dtype);
  const need = o.images.length * perImage.reduce((a, b) => a + b, 0) * bpv;
  await fs.promises.mkdir(path.resolve(o.cacheDir), { recursive: true });
  disk.checkFreeSpace(path.resolve(o.cacheDir), need, 'the feature cache');

  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  fs.mkdirSync(tmp);
  track(tmp);
  const fds: number[] = [];
  try {
    for (let l = 0; l < levels.length; ++l) fds.push(fs.openSync(levelFile(tmp, l), 'wx'));
    const kept: CachedImage[] = [];
    const skipped: SkippedImage[] = [...(o.skipped ?? [])];
    const seconds = { decode: 0, backbone: 0, write: 0 };
    const rows = levels.map((_, l) => new Float32Array(perImage[l]));
    const halves = levels.map((_, l) => new Uint16Array(dtype === 'float16' ? perImage[l] : 0));
    const started = Date.now();
    for (let b0 = 0; b0 < o.images.length; b0 += batchSize) {
      const batch = described.slice(b0, b0 + batchSize);
      let t = performance.now();
      const decoded = await mapLimited(batch, 4, async (im) => {
        try {
          return await loadImage(im.path, o.preprocessing);
        } catch (err) {
          if (o.skipUnreadable && err instanceof FormatError) {
            skipped.push({ path: im.path, reason: err.message.slice(im.path.length + 2) });
            return null;
          }
          throw err;
        }
      });
      const good = batch.filter((_, i) => decoded[i] !== null);
      const B = good.length;
      const input = new Float32Array(B * 3 * S * S);
      decoded.filter((x): x is Float32Array => x !== null).forEach((x, i) => input.set(x, i * 3 * S * S));
      seconds.decode += (performance.now() - t) / 1000;
      if (B > 0) {
        t = performance.now();
        const maps = await o.backbone.run(input, B, S);
        seconds.backbone += (performance.now() - t) / 1000;
        t = performance.now();
        maps.forEach((m, l) => {
          const lv = levels[l];
          if (m.channels !== lv.channels || m.height !== lv.height || m.width !== lv.width) {
            throw new FormatError(o.backbone.file, `output "${lv.name}" changed shape from ${lv.channels}x${lv.height}x${lv.width} to ${m.channels}x${m.height}x${m.width}`);
          }
          for (let i = 0; i < B; ++i) {
            toRows(m.data.subarray(i * perImage[l], (i + 1) * perImage[l]), lv.channels, lv.height * lv.width, rows[l]);
            let bytes: Uint8Array;
            if (dtype === 'float16') {
              floatToHalf(perImage[l], rows[l], halves[l]);
              bytes = new Uint8Array(halves[l].buffer);
            } else bytes = new Uint8Array(rows[l].buffer);
            for (let off = 0; off < bytes.length; ) off += fs.writeSync(fds[l], bytes, off, bytes.length - off);
          }
        });
        kept.push(...good);
        seconds.write += (performance.now() - t) / 1000;
      }
      const done = Math.min(b0 + batchSize, o.images.length);
      const elapsed = (Date.now() - started) / 1000;
      const rate = done / Math.max(elapsed, 1e-9);
      o.onProgress?.({ phase: 'extract', done, total: o.images.length, imagesPerSecond: rate, etaSeconds: (o.images.length - done) / rate, seconds: { ...seconds } });
    }
    if (kept.length === 0) throw new FormatError(o.images[0].path, 'no training image could be decoded');
    for (const fd of fds.splice(0)) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    const meta: CacheMeta = {
      format: CACHE_FORMAT, version: CACHE_VERSION, key, dtype, classNames: [...o.classNames], levels, images: kept,
      backbone: o.backbone.record, preprocessing: { ...o.preprocessing }, skipped,
    };
    fs.writeFileSync(path.join(tmp, CACHE_META), JSON.stringify(meta));
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another run finished the same key first: its cache is as good as ours.
      if (!fs.existsSync(path.join(dir, CACHE_META))) throw err;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    pending.delete(tmp);
    return { dir, meta: readCacheMeta(dir), reused: false };
  } catch (err) {
    for (const fd of fds) fs.closeSync(fd);
    fs.rmSync(tmp, { recursive: true, force: true });
    pending.delete(tmp);
    throw err;
  }
}
