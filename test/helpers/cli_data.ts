// Data for the CLI tests: K classes of shifted Gaussians as .npy files, and a
// tiny Fashion-MNIST subset in IDX gz format (taken from the system's dataset
// when installed, else synthetic) for `hgad demo`.
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { writeNpy } from '../../lib/io/npy';

/** mulberry32 + Box-Muller: deterministic normal samples. */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

export const C = 6;
export const K = 3;
export const SHIFT = 4;

/** n vectors per class; class k has mean SHIFT on dimension k (k < C). */
function sample(perClass: number, classes: number[], rnd: () => number): { x: Float32Array; y: Int32Array } {
  const N = perClass * classes.length;
  const x = new Float32Array(N * C);
  const y = new Int32Array(N);
  classes.forEach((k, j) => {
    for (let i = 0; i < perClass; ++i) {
      const n = j * perClass + i;
      y[n] = k;
      for (let c = 0; c < C; ++c) x[n * C + c] = rnd() + (c === k ? SHIFT : 0);
    }
  });
  return { x, y };
}

export interface CliDataset {
  dir: string;
  features: string;
  labels: string;
  /** Test set: for each class k, 50 vectors of class k (normal) and 50 of another class (anomalous) scored as k. */
  test: string;
  testLabels: string;
  truth: string;
  /** The test vectors of class 0 and their truth when scored as class 0. */
  test0: string;
  truth0: string;
}

export function writeDataset(dir: string): CliDataset {
  const rnd = gaussian(1234);
  const train = sample(100, [0, 1, 2], rnd);
  const files = {
    dir,
    features: path.join(dir, 'features.npy'),
    labels: path.join(dir, 'labels.npy'),
    test: path.join(dir, 'test.npy'),
    testLabels: path.join(dir, 'test_labels.npy'),
    truth: path.join(dir, 'truth.npy'),
    test0: path.join(dir, 'test0.npy'),
    truth0: path.join(dir, 'truth0.npy'),
  };
  writeNpy(files.features, { dtype: 'float64', shape: [train.y.length, C], data: Float64Array.from(train.x) });
  writeNpy(files.labels, { dtype: 'int64', shape: [train.y.length], data: BigInt64Array.from(train.y, (v) => BigInt(v)) });
  // For class k: normals drawn from class k, anomalies from class (k+1) % K, all labelled k.
  const parts = [0, 1, 2].flatMap((k) => [sample(50, [k], rnd), sample(50, [(k + 1) % K], rnd)]);
  const x = new Float32Array(parts.reduce((a, p) => a + p.x.length, 0));
  const N = x.length / C;
  const labels = new Int32Array(N);
  const truth = new Uint8Array(N);
  let off = 0;
  parts.forEach((p, j) => {
    x.set(p.x, off * C);
    labels.fill(Math.floor(j / 2), off, off + p.y.length);
    truth.fill(j % 2, off, off + p.y.length);
    off += p.y.length;
  });
  writeNpy(files.test, { dtype: 'float32', shape: [N, C], data: x });
  writeNpy(files.testLabels, { dtype: 'int32', shape: [N], data: labels });
  writeNpy(files.truth, { dtype: 'uint8', shape: [N], data: truth });
  writeNpy(files.test0, { dtype: 'float32', shape: [100, C], data: x.slice(0, 100 * C) });
  writeNpy(files.truth0, { dtype: 'uint8', shape: [100], data: truth.slice(0, 100) });
  return files;
}

// ---------------------------------------------------------------- IDX subset for the demo

const FMNIST = '/usr/share/datasets/fashion-mnist';
const STEMS = { trainImages: 'train-images-idx3-ubyte', trainLabels: 'train-labels-idx1-ubyte', testImages: 't10k-images-idx3-ubyte', testLabels: 't10k-labels-idx1-ubyte' };

function idxImages(pixels: Uint8Array, count: number): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(2051, 0);
  head.writeUInt32BE(count, 4);
  head.writeUInt32BE(28, 8);
  head.writeUInt32BE(28, 12);
  return zlib.gzipSync(Buffer.concat([head, pixels]), { level: 1 });
}

function idxLabels(labels: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(2049, 0);
  head.writeUInt32BE(labels.length, 4);
  return zlib.gzipSync(Buffer.concat([head, labels]), { level: 1 });
}

/** The first `perClass` images of each class 0..9 of one split, from the real files. */
function realSubset(split: 'train' | 't10k', perClass: number): { pixels: Uint8Array; labels: Uint8Array } {
  const images = zlib.gunzipSync(fs.readFileSync(path.join(FMNIST, `${split}-images-idx3-ubyte.gz`)));
  const labels = zlib.gunzipSync(fs.readFileSync(path.join(FMNIST, `${split}-labels-idx1-ubyte.gz`))).subarray(8);
  const taken = new Array<number>(10).fill(0);
  const picks: number[] = [];
  for (let i = 0; i < labels.length && picks.length < 10 * perClass; ++i) {
    if (taken[labels[i]] < perClass) {
      taken[labels[i]]++;
      picks.push(i);
    }
  }
  const pixels = new Uint8Array(picks.length * 784);
  picks.forEach((i, j) => pixels.set(images.subarray(16 + i * 784, 16 + (i + 1) * 784), j * 784));
  return { pixels, labels: Uint8Array.from(picks, (i) => labels[i]) };
}

/** Class c: a bright horizontal band at rows 2c..2c+7 plus noise. */
function syntheticSubset(perClass: number, seed: number): { pixels: Uint8Array; labels: Uint8Array } {
  const rnd = gaussian(seed);
  const pixels = new Uint8Array(10 * perClass * 784);
  const labels = new Uint8Array(10 * perClass);
  for (let n = 0; n < labels.length; ++n) {
    const c = n % 10;
    labels[n] = c;
    for (let p = 0; p < 784; ++p) {
      const row = Math.floor(p / 28);
      const v = (row >= 2 * c && row < 2 * c + 8 ? 200 : 20) + 30 * rnd();
      pixels[n * 784 + p] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { pixels, labels };
}

/** Writes a demo data directory; returns whether the real dataset was used. */
export function writeDemoSubset(dir: string, trainPerClass = 60, testPerClass = 20): boolean {
  fs.mkdirSync(dir, { recursive: true });
  const real = fs.existsSync(path.join(FMNIST, `${STEMS.trainImages}.gz`)) && fs.existsSync(path.join(FMNIST, `${STEMS.testLabels}.gz`));
  const train = real ? realSubset('train', trainPerClass) : syntheticSubset(trainPerClass, 1);
  const test = real ? realSubset('t10k', testPerClass) : syntheticSubset(testPerClass, 2);
  fs.writeFileSync(path.join(dir, `${STEMS.trainImages}.gz`), idxImages(train.pixels, train.labels.length));
  fs.writeFileSync(path.join(dir, `${STEMS.trainLabels}.gz`), idxLabels(train.labels));
  fs.writeFileSync(path.join(dir, `${STEMS.testImages}.gz`), idxImages(test.pixels, test.labels.length));
  fs.writeFileSync(path.join(dir, `${STEMS.testLabels}.gz`), idxLabels(test.labels));
  return real;
}
