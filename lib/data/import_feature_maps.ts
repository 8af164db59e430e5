// Precomputed feature maps (one .npy per level, N x C x H x W, any float or
// integer dtype numpy writes) into the feature cache, for users with their
// own extractor: read a few images at a time (only those rows' bytes), so
// memory stays one chunk whatever N is; keyed by the files' paths, sizes and
// modification times and the labels.
import * as crypto from 'crypto';
import * as fs from 'fs';
import { expectedRange, expectedType, FormatError } from '../errors';
import { readNpyHeaderAsync, readNpyRowsAsync, toFloat32 } from '../io/npy';
import { CacheWriter, cacheFolder, findCache } from './cache_writer';
import { CACHE_FORMAT, CACHE_VERSION, CacheDType, CacheLevel, CacheMeta } from './feature_cache';

export interface ImportFeatureMapsOptions {
  /** one .npy file per level, each (N, C, H, W), N the same for all */
  files: string[];
  /** (N) class ids in [0, classNames.length) */
  labels: Int32Array;
  classNames: string[];
  cacheDir: string;
  dtype?: CacheDType;
  /** copy again even when the cache holds these maps, and replace them */
  rebuild?: boolean;
  /** one line per broken cache found (and rebuilt) or stale temporary folders removed */
  onWarning?: (message: string) => void;
}

const CHUNK = 16;

export async function importFeatureMaps(o: ImportFeatureMapsOptions): Promise<{ dir: string; meta: CacheMeta; reused: boolean }> {
  if (!Array.isArray(o.files) || o.files.length === 0 || !o.files.every((f) => typeof f === 'string' && f !== '')) {
    throw expectedType('a non-empty array of .npy paths (one per level)', 'featureMaps', o.files);
  }
  if (!Array.isArray(o.classNames) || o.classNames.length === 0) throw expectedType('a non-empty array of class names', 'classNames', o.classNames);
  if (!(o.labels instanceof Int32Array)) throw expectedType('an Int32Array of class ids', 'labels', o.labels);
  const dtype = o.dtype ?? 'float16';
  const headers = await Promise.all(o.files.map((f) => readNpyHeaderAsync(f)));
  let N = -1;
  const levels: CacheLevel[] = headers.map((h, l) => {
    if (h.shape.length !== 4) throw new FormatError(o.files[l], `expected feature maps of shape (N, C, H, W) but found (${h.shape.join(', ')})`);
    if (h.dtype === 'bool') throw new FormatError(o.files[l], 'expected numeric feature maps but found bool');
    if (N < 0) N = h.shape[0];
    else if (h.shape[0] !== N) throw new FormatError(o.files[l], `holds ${h.shape[0]} images but ${o.files[0]} holds ${N}`);
    const [, channels, height, width] = h.shape;
    if (channels < 2 || height < 1 || width < 1) throw new FormatError(o.files[l], `expected at least 2 channels and a non-empty map but found (${h.shape.join(', ')})`);
    return { name: `level${l}`, channels, height, width };
  });
  if (N < 1) throw new FormatError(o.files[0], 'holds no image');
  if (o.labels.length !== N) throw expectedRange(`${N} labels (one per image of ${o.files[0]})`, 'labels', o.labels.length);
  const K = o.classNames.length;
  const bad = o.labels.findIndex((k) => k < 0 || k >= K);
  if (bad >= 0) throw expectedRange(`class ids in [0, ${K})`, `labels[${bad}]`, o.labels[bad]);

  const stats = await Promise.all(o.files.map((f) => fs.promises.stat(f)));
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, version: CACHE_VERSION, dtype, classNames: o.classNames, kind: 'npy' }));
  o.files.forEach((f, l) => h.update(`\n${f}\t${stats[l].size}\t${stats[l].mtimeMs}`));
  h.update(new Uint8Array(o.labels.buffer, o.labels.byteOffset, o.labels.byteLength));
  const key = h.digest('hex');
  const dir = cacheFolder(o.cacheDir, key);
  const found = findCache(dir, key, { rebuild: o.rebuild, onWarning: o.onWarning });
  if (found) return { dir, meta: found, reused: true };

  const writer = new CacheWriter(dir, levels, dtype, N, { replace: o.rebuild === true || fs.existsSync(dir) });
  try {
    for (let i0 = 0; i0 < N; i0 += CHUNK) {
      const count = Math.min(CHUNK, N - i0);
      for (let l = 0; l < levels.length; ++l) {
        const chunk = toFloat32(await readNpyRowsAsync(o.files[l], i0, count), o.files[l]);
        const per = levels[l].channels * levels[l].height * levels[l].width;
        for (let i = 0; i < count; ++i) {
          const maps = chunk.subarray(i * per, (i + 1) * per);
          for (let j = 0; j < maps.length; ++j) {
            if (!Number.isFinite(maps[j])) throw new FormatError(o.files[l], `non-finite value ${maps[j]} in image ${i0 + i}`);
          }
          writer.appendImage(l, maps, `${o.files[l]} (image ${i0 + i})`);
        }
      }
    }
    const images = Array.from(o.labels, (classId, i) => ({ path: `${o.files[0]}#${i}`, size: stats[0].size, mtimeMs: stats[0].mtimeMs, classId }));
    const meta = writer.finish({
      key, classNames: [...o.classNames], images,
      backbone: { sha256: '', file: 'precomputed', outputs: levels.map((l) => l.name), pyramid: false },
      preprocessing: { imageSize: 0, crop: 0, mean: [], std: [] },
      skipped: [],
    });
    return { dir, meta, reused: false };
  } catch (err) {
    writer.abort();
    throw err;
  }
}
