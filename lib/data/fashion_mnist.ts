// Fashion-MNIST in the IDX format (optionally gzipped), and the features of
// the FMNIST-U protocol: pixels / 255, 2x2 average pooling (28x28 -> 14x14 =
// 196 dims), standardised per dimension with the training mean and standard
// deviation (floored at 0.1).
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { FormatError } from '../errors';

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
}

function readMaybeGzip(file: string): Buffer {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  const raw = fs.readFileSync(file);
  return raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw;
}

export function readIdxImages(file: string): IdxImages {
  const b = readMaybeGzip(file);
  if (b.length < 16 || b.readUInt32BE(0) !== 2051) throw new FormatError(file, 'not an IDX image file (magic 2051 expected)');
  const count = b.readUInt32BE(4);
  const rows = b.readUInt32BE(8);
  const cols = b.readUInt32BE(12);
  if (b.length < 16 + count * rows * cols) throw new FormatError(file, `truncated: ${count} images of ${rows}x${cols} announced`);
  return { count, rows, cols, pixels: new Uint8Array(b.buffer, b.byteOffset + 16, count * rows * cols).slice() };
}

export function readIdxLabels(file: string): Uint8Array {
  const b = readMaybeGzip(file);
  if (b.length < 8 || b.readUInt32BE(0) !== 2049) throw new FormatError(file, 'not an IDX label file (magic 2049 expected)');
  const count = b.readUInt32BE(4);
  if (b.length < 8 + count) throw new FormatError(file, `truncated: ${count} labels announced`);
  return new Uint8Array(b.buffer, b.byteOffset + 8, count).slice();
}

export interface FashionMnist {
  train: { images: IdxImages; labels: Uint8Array };
  test: { images: IdxImages; labels: Uint8Array };
}

export const DEFAULT_FMNIST_DIR = '/usr/share/datasets/fashion-mnist';

function find(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem]) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return f;
  }
  throw new Error(
    `Fashion-MNIST not found: no ${stem}(.gz) in ${dir}. Install Debian's dataset-fashion-mnist ` +
      `(apt-get install dataset-fashion-mnist) or pass --data DIR.`,
  );
}

export function loadFashionMnist(dir = DEFAULT_FMNIST_DIR): FashionMnist {
  return {
    train: { images: readIdxImages(find(dir, 'train-images-idx3-ubyte')), labels: readIdxLabels(find(dir, 'train-labels-idx1-ubyte')) },
    test: { images: readIdxImages(find(dir, 't10k-images-idx3-ubyte')), labels: readIdxLabels(find(dir, 't10k-labels-idx1-ubyte')) },
  };
}

/** pixels / 255 then 2x2 average pooling of the selected images -> (n, (rows/2)*(cols/2)) */
export function pooledFeatures(images: IdxImages, indices: ArrayLike<number>): Float32Array {
  const { rows, cols } = images;
  const pr = Math.floor(rows / 2);
  const pc = Math.floor(cols / 2);
  const D = pr * pc;
  const out = new Float32Array(indices.length * D);
  for (let n = 0; n < indices.length; ++n) {
    const base = indices[n] * rows * cols;
    for (let i = 0; i < pr; ++i) {
      for (let j = 0; j < pc; ++j) {
        const p = base + 2 * i * cols + 2 * j;
        const s = images.pixels[p] + images.pixels[p + 1] + images.pixels[p + cols] + images.pixels[p + cols + 1];
        out[n * D + i * pc + j] = s / 255 / 4;
      }
    }
  }
  return out;
}

export interface Standardiser {
  mean: Float64Array;
  std: Float64Array;
}

export function fitStandardiser(x: Float32Array, D: number, floor = 0.1): Standardiser {
  const N = x.length / D;
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  for (let n = 0; n < N; ++n) {
    for (let d = 0; d < D; ++d) {
      const v = x[n * D + d];
      mean[d] += v;
      sq[d] += v * v;
    }
  }
  const std = new Float64Array(D);
  for (let d = 0; d < D; ++d) {
    mean[d] /= N;
    std[d] = Math.max(floor, Math.sqrt(Math.max(0, sq[d] / N - mean[d] * mean[d])));
  }
  return { mean, std };
}

export function standardise(x: Float32Array, s: Standardiser): Float32Array {
  const D = s.mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; ++i) out[i] = (x[i] - s.mean[i % D]) / s.std[i % D];
  return out;
}

/** Indices of the images whose label is in `classes`, in file order. */
export function indicesOf(labels: Uint8Array, classes: readonly number[]): number[] {
  const set = new Set(classes);
  const out: number[] = [];
  for (let i = 0; i < labels.length; ++i) if (set.has(labels[i])) out.push(i);
  return out;
}
