// Feature extraction into the on-disk cache (format: lib/data/feature_cache.ts).
// Images are decoded, preprocessed and run through the backbone a batch at a
// time; each batch's maps are transposed to rows (h*w, C) per image, narrowed
// to float16 and appended to the level files (lib/data/cache_writer.ts, which
// makes the folder appear whole or not at all). Memory: one batch of images
// and of maps, whatever the data set's size.
import * as crypto from 'crypto';
import * as fs from 'fs';
import { FormatError } from '../errors';
import { CacheWriter, cacheFolder, findCache } from '../data/cache_writer';
import { CACHE_FORMAT, CACHE_VERSION, CacheDType, CachedImage, CacheLevel, CacheMeta } from '../data/feature_cache';
import { PYRAMID_RESIZE } from './backbone';
import type { FeatureExtractor } from './feature_extractor';
import { ImageEntry } from './dataset';
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
  backbone: FeatureExtractor;
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
  /** extract again even when the cache holds these images' features, and replace them */
  rebuild?: boolean;
  /** one line per broken cache found (and rebuilt) or stale temporary folders removed (default: process.emitWarning) */
  onWarning?: (message: string) => void;
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
export function cacheKey(images: readonly CachedImage[], classNames: readonly string[], backbone: FeatureExtractor, p: Preprocessing, dtype: CacheDType): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, version: CACHE_VERSION, dtype, classNames, backbone: backbone.record.sha256, outputs: backbone.record.outputs, pyramid: backbone.record.pyramid ? PYRAMID_RESIZE : false, p }));
  for (const im of images) h.update(`\n${im.classId}\t${im.size}\t${im.mtimeMs}\t${im.path}`);
  return h.digest('hex');
}

/** Extracts the features of `images` into the cache, or finds them there. */
export async function extractFeatures(o: ExtractOptions): Promise<ExtractResult> {
  const dtype = o.dtype ?? 'float16';
  const batchSize = o.batchSize ?? 8;
  const described = await describeImages(o.images);
  const key = cacheKey(described, o.classNames, o.backbone, o.preprocessing, dtype);
  const dir = cacheFolder(o.cacheDir, key);
  const found = findCache(dir, key, { rebuild: o.rebuild, onWarning: o.onWarning });
  if (found) return { dir, meta: found, reused: true };

  // The level shapes, from one image of zeros; the disk check needs them before anything is written.
  const S = o.preprocessing.crop;
  const probe = await o.backbone.run(new Float32Array(3 * S * S), 1, S);
  const names = o.backbone.levelNames;
  const levels: CacheLevel[] = probe.map((m, l) => ({ name: names[l], channels: m.channels, height: m.height, width: m.width }));
  const perImage = levels.map((l) => l.height * l.width * l.channels);
  const writer = new CacheWriter(dir, levels, dtype, o.images.length, { replace: o.rebuild === true || fs.existsSync(dir) });
  try {
    const kept: CachedImage[] = [];
    const skipped: SkippedImage[] = [...(o.skipped ?? [])];
    const seconds = { decode: 0, backbone: 0, write: 0 };
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
          for (let i = 0; i < B; ++i) writer.appendImage(l, m.data.subarray(i * perImage[l], (i + 1) * perImage[l]), good[i].path);
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
    const meta = writer.finish({ key, classNames: [...o.classNames], images: kept, backbone: o.backbone.record, preprocessing: { ...o.preprocessing }, skipped });
    return { dir, meta, reused: false };
  } catch (err) {
    writer.abort();
    throw err;
  }
}
