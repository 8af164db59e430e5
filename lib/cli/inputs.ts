// Reading and checking the CLI's input files (.npy arrays). Every problem is
// a CliError whose message names the file. (Outputs are checked in outputs.ts.)
import * as fs from 'fs';
import { CliError } from './errors';
import type { NpyArray } from '../io/npy';

async function npy(): Promise<typeof import('../io/npy')> {
  return import('../io/npy');
}

function shapeText(shape: number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

/** A .npy file, header first; a missing file, a directory, a device or a FIFO is a CliError naming it. */
export async function readArray(file: string): Promise<NpyArray> {
  const { readNpyAsync } = await npy();
  try {
    return await readNpyAsync(file);
  } catch (e) {
    if (typeof (e as NodeJS.ErrnoException).code === 'string') throw new CliError((e as Error).message);
    throw e;
  }
}

/** The first non-finite element's index, or -1. */
function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; ++i) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** A 2-D array (N, C) of finite values as float32, N >= 1. */
export async function readMatrix(file: string, what: string, minCols = 1): Promise<{ data: Float32Array; rows: number; cols: number }> {
  const arr = await readArray(file);
  if (arr.shape.length !== 2) {
    throw new CliError(`${file}: ${what} must be a 2-D array (N, C), found shape ${shapeText(arr.shape)}`);
  }
  const [rows, cols] = arr.shape;
  if (rows === 0) throw new CliError(`${file}: ${what} hold no vectors (shape ${shapeText(arr.shape)})`);
  if (cols < minCols) throw new CliError(`${file}: ${what} need at least ${minCols} columns, found shape ${shapeText(arr.shape)}`);
  const { toFloat32 } = await npy();
  let data: Float32Array;
  try {
    data = toFloat32(arr, file);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    const r = Math.floor(bad / cols);
    const original = arr.data[bad] as number;
    const why = Number.isFinite(original) ? ` (${original} is too large for float32)` : '';
    throw new CliError(`${file}: ${what} hold a non-finite value (${data[bad]}) at row ${r}, column ${bad - r * cols}${why}`);
  }
  return { data, rows, cols };
}

/** A vector of N values: shape (N,) or (N, 1). */
function checkVector(arr: NpyArray, file: string, what: string, n?: number, against?: string): number {
  const ok = arr.shape.length === 1 || (arr.shape.length === 2 && arr.shape[1] === 1);
  if (!ok) throw new CliError(`${file}: ${what} must be a 1-D array (N,), found shape ${shapeText(arr.shape)}`);
  const len = arr.shape[0];
  if (n !== undefined && len !== n) {
    throw new CliError(`${file}: expected ${n} ${what} (one per ${against ?? 'vector'}), found ${len}`);
  }
  if (len === 0) throw new CliError(`${file}: ${what} array is empty`);
  return len;
}

/** Integer labels, one per vector; `n` checks the length. */
export async function readLabels(file: string, what: string, n?: number, against?: string): Promise<Int32Array> {
  const arr = await readArray(file);
  checkVector(arr, file, what, n, against);
  const src = arr.data;
  if (src instanceof Int32Array) return src;
  const labels = new Int32Array(src.length);
  for (let i = 0; i < src.length; ++i) {
    const v = Number(src[i]);
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
      throw new CliError(`${file}: ${what} must be integers${Number.isInteger(v) ? ' within the int32 range' : ''}, found ${src[i]} at index ${i}`);
    }
    labels[i] = v;
  }
  return labels;
}

/** Finite scores as float64. */
export async function readScores(file: string, n?: number, against?: string): Promise<Float64Array> {
  const arr = await readArray(file);
  checkVector(arr, file, 'scores', n, against);
  const { toFloat32 } = await npy();
  let data: ArrayLike<number>;
  try {
    data = arr.data instanceof Float64Array ? arr.data : toFloat32(arr, file);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const bad = firstNonFinite(data);
  if (bad >= 0) throw new CliError(`${file}: non-finite score (${data[bad]}) at index ${bad}`);
  return Float64Array.from(data);
}

export async function checkInputExists(file: string): Promise<void> {
  const st = await fs.promises.stat(file).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) {
    const { fileError } = await import('../io/reader');
    throw new CliError(fileError(file, st).message);
  }
  if (st.isDirectory()) throw new CliError(`${file}: is a directory, expected a file`);
}
