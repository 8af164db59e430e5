// Training data of a unified model, image by image: the seam between where
// features come from (a user's arrays, the on-disk feature cache of the image
// path) and the training loop that consumes them batch by batch.
//
// Layout: for level l and image i, the rows of every position of the map in
// (y, x) order, each a vector of the level's C channels: (height*width, C),
// row-major. A batch of images is those blocks one after another, which is the
// (image, y, x) order of the reference's training loop.
import { expectedRange, expectedType, isPositiveInteger, received } from '../errors';
import type { CacheSourceSpec } from './feature_cache';
import type { RelabelledSourceSpec } from './relabelled_source';

/** Shape of one feature level: a (height, width) map of C-vectors. */
export interface LevelShape {
  channels: number;
  height: number;
  width: number;
  /**
   * P of per-position conditions the source supplies itself (readConditions);
   * absent or 0: the trainer uses the level's positional encoding.
   */
  condChannels?: number;
}

/** A data set of feature maps, read image batch by image batch. */
export interface FeatureSource {
  readonly levels: readonly LevelShape[];
  readonly numImages: number;
  /** class id of each image: (numImages) */
  readonly labels: Int32Array;
  /**
   * Fills `out` (ids.length * height * width * channels floats) with level
   * `level`'s rows of the images `ids`, image after image.
   */
  read(level: number, ids: Int32Array, out: Float32Array): void;
  /**
   * For a level whose shape has condChannels P > 0: fills `out`
   * (ids.length * height * width * P floats) with those positions' conditions.
   */
  readConditions?(level: number, ids: Int32Array, out: Float32Array): void;
  /**
   * Position sampling: fills `out` (ids.length * n * channels floats) with the
   * rows of level `level` at `positions` (ids.length * n, image after image,
   * each in [0, height*width)), reading only those rows. Optional: without
   * it, the trainer reads whole images and keeps the sampled rows.
   */
  readRows?(level: number, ids: Int32Array, positions: Int32Array, n: number, out: Float32Array): void;
  /** As readRows, for the conditions of a level with condChannels P > 0: (ids.length * n * P) floats. */
  readConditionRows?(level: number, ids: Int32Array, positions: Int32Array, n: number, out: Float32Array): void;
  /** Releases files or memory the source holds. */
  close(): void;
}

/**
 * A description from which a worker thread opens the same source itself, so
 * the data set never crosses threads by copy: 'memory' shares its buffers
 * (SharedArrayBuffer), other kinds name files.
 */
export type FeatureSourceSpec = MemorySourceSpec | CacheSourceSpec | RelabelledSourceSpec;

export interface MemorySourceSpec {
  kind: 'memory';
  levels: LevelShape[];
  /** (numImages) class ids, backed by a SharedArrayBuffer */
  labels: Int32Array;
  /** per level: (numImages * height * width * channels) floats, backed by a SharedArrayBuffer */
  data: Float32Array[];
  /** per level with condChannels P > 0: (numImages * height * width * P) floats, else null */
  cond?: (Float32Array | null)[];
}

function checkLevelShape(s: unknown, name: string): LevelShape {
  if (typeof s !== 'object' || s === null) throw expectedType('a level shape {channels, height, width}', name, s);
  const { channels, height, width, condChannels } = s as LevelShape;
  for (const [k, v] of [['channels', channels], ['height', height], ['width', width]] as const) {
    if (!isPositiveInteger(v)) throw expectedRange('a positive integer', `${name}.${k}`, v);
  }
  if (condChannels === undefined || condChannels === 0) return { channels, height, width };
  if (!isPositiveInteger(condChannels)) throw expectedRange('an integer >= 0', `${name}.condChannels`, condChannels);
  return { channels, height, width, condChannels };
}

/** A source over arrays in memory (shared when they are backed by a SharedArrayBuffer). */
export class MemoryFeatureSource implements FeatureSource {
  readonly levels: readonly LevelShape[];
  readonly numImages: number;

  constructor(readonly spec: MemorySourceSpec) {
    if (!Array.isArray(spec.levels) || spec.levels.length === 0) throw expectedType('a non-empty array of level shapes', 'levels', spec.levels);
    this.levels = spec.levels.map((s, l) => checkLevelShape(s, `levels[${l}]`));
    if (!(spec.labels instanceof Int32Array) || spec.labels.length === 0) throw expectedType('a non-empty Int32Array of class ids', 'labels', spec.labels);
    this.numImages = spec.labels.length;
    if (!Array.isArray(spec.data) || spec.data.length !== this.levels.length) {
      throw expectedType(`an array of ${this.levels.length} Float32Arrays (one per level)`, 'data', spec.data);
    }
    spec.data.forEach((d, l) => {
      const { channels, height, width } = this.levels[l];
      const want = this.numImages * height * width * channels;
      if (!(d instanceof Float32Array)) throw expectedType('a Float32Array', `data[${l}]`, d);
      if (d.length !== want) {
        throw expectedRange(`${want} values (${this.numImages} images x ${height} x ${width} x ${channels})`, `data[${l}]`, received(`${d.length} values`));
      }
    });
    if (spec.cond !== undefined && (!Array.isArray(spec.cond) || spec.cond.length !== this.levels.length)) {
      throw expectedType(`an array of ${this.levels.length} Float32Arrays or nulls (one per level)`, 'cond', spec.cond);
    }
    this.levels.forEach(({ height, width, condChannels: P }, l) => {
      const c = spec.cond?.[l] ?? null;
      if (!P) {
        if (c !== null) throw expectedType('null (the level has no condChannels)', `cond[${l}]`, c);
        return;
      }
      const want = this.numImages * height * width * P;
      if (!(c instanceof Float32Array)) throw expectedType(`a Float32Array of ${want} conditions`, `cond[${l}]`, c);
      if (c.length !== want) throw expectedRange(`${want} values (${this.numImages} images x ${height} x ${width} x ${P})`, `cond[${l}]`, received(`${c.length} values`));
    });
  }

  get labels(): Int32Array {
    return this.spec.labels;
  }

  read(level: number, ids: Int32Array, out: Float32Array): void {
    const { channels, height, width } = this.levels[level];
    this.copyRows(this.spec.data[level], height * width * channels, ids, out);
  }

  readConditions(level: number, ids: Int32Array, out: Float32Array): void {
    const { height, width, condChannels } = this.levels[level];
    const cond = this.spec.cond?.[level];
    if (!condChannels || !cond) throw expectedRange('a level with condChannels', 'level', level);
    this.copyRows(cond, height * width * condChannels, ids, out);
  }

  readRows(level: number, ids: Int32Array, positions: Int32Array, n: number, out: Float32Array): void {
    const { channels, height, width } = this.levels[level];
    gatherImageRows(this.spec.data[level], height * width, channels, this.numImages, ids, positions, n, out);
  }

  readConditionRows(level: number, ids: Int32Array, positions: Int32Array, n: number, out: Float32Array): void {
    const { height, width, condChannels } = this.levels[level];
    const cond = this.spec.cond?.[level];
    if (!condChannels || !cond) throw expectedRange('a level with condChannels', 'level', level);
    gatherImageRows(cond, height * width, condChannels, this.numImages, ids, positions, n, out);
  }

  private copyRows(data: Float32Array, per: number, ids: Int32Array, out: Float32Array): void {
    if (out.length !== ids.length * per) throw expectedRange(`${ids.length * per} values`, 'out', received(`${out.length} values`));
    for (let j = 0; j < ids.length; ++j) {
      const i = ids[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.numImages) throw expectedRange(`image ids in [0, ${this.numImages})`, 'ids', i);
      out.set(data.subarray(i * per, (i + 1) * per), j * per);
    }
  }

  close(): void {}
}

/**
 * Checks a sampled read's arguments: `positions` holds ids.length * n
 * positions in [0, hw) and `out` ids.length * n * C values.
 */
export function checkRowRead(hw: number, C: number, numImages: number, ids: Int32Array, positions: Int32Array, n: number, out: Float32Array): void {
  if (!Number.isInteger(n) || n < 1 || n > hw) throw expectedRange(`a count in [1, ${hw}]`, 'n', n);
  if (!(positions instanceof Int32Array) || positions.length !== ids.length * n) {
    throw expectedType(`an Int32Array of ${ids.length * n} positions`, 'positions', positions);
  }
  if (out.length !== ids.length * n * C) throw expectedRange(`${ids.length * n * C} values`, 'out', received(`${out.length} values`));
  for (let j = 0; j < ids.length; ++j) {
    const i = ids[j];
    if (!Number.isInteger(i) || i < 0 || i >= numImages) throw expectedRange(`image ids in [0, ${numImages})`, 'ids', i);
  }
  for (let k = 0; k < positions.length; ++k) {
    if (!(positions[k] >= 0 && positions[k] < hw)) throw expectedRange(`positions in [0, ${hw})`, 'positions', positions[k]);
  }
}

/** out[j*n + r] = data[(ids[j]*hw + positions[j*n + r]) rows of C]: the sampled rows of images in memory. */
export function gatherImageRows(data: Float32Array, hw: number, C: number, numImages: number, ids: Int32Array,
  positions: Int32Array, n: number, out: Float32Array): void {
  checkRowRead(hw, C, numImages, ids, positions, n, out);
  for (let j = 0; j < ids.length; ++j) {
    const base = ids[j] * hw;
    for (let r = 0; r < n; ++r) {
      const src = (base + positions[j * n + r]) * C;
      out.set(data.subarray(src, src + C), (j * n + r) * C);
    }
  }
}
