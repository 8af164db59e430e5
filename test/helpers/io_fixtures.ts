// Shared data and builders of the file I/O tests.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { NpyArray, NpyDtype } from '../../lib/io/npy';

export const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'npy');
export const fixture = (name: string): string => path.join(FIXTURES, name);

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-io-'));
}

export const SHAPES: number[][] = [[], [5], [2, 3, 4], [2, 0, 3], [0]];
export const NPY_DTYPES: NpyDtype[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];

export function sampleData(dtype: NpyDtype, n: number): NpyArray['data'] {
  const values = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : -i) * 3 + 1);
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values, (v) => v / 8);
    case 'float64':
      return Float64Array.from(values, (v) => v / 7);
    case 'int32':
      return Int32Array.from(values, (v) => v * 1000003);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(v) * 3000000000017n);
    case 'uint8':
      return Uint8Array.from(values, (v) => v & 0xff);
    case 'bool':
      return Uint8Array.from(values, (v) => v & 1);
  }
}

export const product = (shape: number[]): number => shape.reduce((a, d) => a * d, 1);

// Builds a .npy file around a hand-written header, for inputs numpy itself would not write.
export function npyWithHeader(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Buffer {
  const text = Buffer.from(header + '\n', 'latin1');
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0, 0, 0, 0, 0]).subarray(0, major === 1 ? 10 : 12);
  if (major === 1) prefix.writeUInt16LE(text.length, 8);
  else prefix.writeUInt32LE(text.length, 8);
  return Buffer.concat([prefix, text, data]);
}
