// A tiny image-trained model for the service and queue tests: two textured
// classes written as PNGs, fitted by the CLI (a few seconds), with a cache
// of its own.
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from './cli_run';
import { makeMvtec, tempDir } from './mvtec';

export interface ScoringModel {
  model: string;
  /** test images of class a and b */
  images: { a: string[]; b: string[] };
}

const made = new Map<number, Promise<ScoringModel>>();

/** The model at crop `size` (56 by default; larger makes the backbone's work per batch heavier). */
export function scoringModel(size = 56): Promise<ScoringModel> {
  if (!made.has(size)) made.set(size, fit(size));
  return made.get(size)!;
}

async function fit(size: number): Promise<ScoringModel> {
  {
    const data = await makeMvtec({ a: { train: 6, good: 12 }, b: { train: 6, good: 12 } }, { size: 40 });
    const dir = tempDir('hgad-serve-model-');
    const model = path.join(dir, 'm.safetensors');
    const r = await runCli(['fit', '--data', data, '--out', model, '--cache', path.join(dir, 'cache'), '--image-size', String(size), '--cond-channels', '8', '--couplings', '1',
      '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '4', '--quiet']);
    if (r.code !== 0) throw new Error(r.stderr);
    const list = (cls: string) => fs.readdirSync(path.join(data, cls, 'test', 'good')).sort().map((f) => path.join(data, cls, 'test', 'good', f));
    return { model, images: { a: list('a'), b: list('b') } };
  }
}
