// Loads the reference implementation's golden vectors (see FORMAT.md beside them).
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

export interface GoldenTensor {
  shape: number[];
  data: number[];
}

export function goldenDir(): string {
  return process.env.HGAD_GOLDEN_DIR ?? path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'golden');
}

export function goldenFiles(): string[] {
  const dir = goldenDir();
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .map((f) => path.join(dir, f));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadGolden(nameOrPath: string): any {
  const file = nameOrPath.includes('/') ? nameOrPath : path.join(goldenDir(), `${nameOrPath}.json.gz`);
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
}

/** Worst violation of |a - b| <= atol + rtol*|ref|, as the largest ratio err/(atol + rtol*|ref|) (<= 1 passes). */
export function compare(actual: ArrayLike<number>, ref: ArrayLike<number>, atol = 1e-5, rtol = 1e-4) {
  if (actual.length !== ref.length) throw new Error(`length ${actual.length} != reference length ${ref.length}`);
  let worstRatio = 0;
  let worstAbs = 0;
  let worstIndex = -1;
  for (let i = 0; i < ref.length; ++i) {
    const err = Math.abs(actual[i] - ref[i]);
    const ratio = Number.isFinite(err) ? err / (atol + rtol * Math.abs(ref[i])) : Infinity;
    if (ratio > worstRatio || worstIndex < 0) {
      worstRatio = ratio;
      worstIndex = i;
    }
    if (err > worstAbs || !Number.isFinite(err)) worstAbs = Number.isFinite(err) ? err : Infinity;
  }
  return { ok: worstRatio <= 1, worstRatio, worstAbs, worstIndex };
}
