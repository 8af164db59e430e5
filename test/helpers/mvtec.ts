// Tiny data sets in the MVTec AD layout, written as PNGs by sharp in a fresh
// temporary folder: random textures per class (so classes differ), defect
// images with a bright square and its mask.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { Random } from '../../lib/random';

export interface ClassSpec {
  train: number;
  good?: number;
  /** defect type -> number of images */
  defects?: Record<string, number>;
}

export interface MakeOptions {
  size?: number;
  channels?: 1 | 3;
  seed?: number;
}

export function tempDir(prefix = 'hgad-img-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function writePng(file: string, w: number, h: number, channels: 1 | 3 | 4, pixels: Uint8Array): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // sharp would write one raw channel as RGB unless told it is grey.
  const img = sharp(Buffer.from(pixels), { raw: { width: w, height: h, channels } });
  await (channels === 1 ? img.toColourspace('b-w') : img).png().toFile(file);
}

/** A textured image of class k: a smooth pattern plus noise. */
export function texture(rng: Random, k: number, size: number, channels: number): Uint8Array {
  const px = new Uint8Array(size * size * channels);
  const fx = 0.2 + 0.15 * k;
  for (let y = 0; y < size; ++y) {
    for (let x = 0; x < size; ++x) {
      for (let c = 0; c < channels; ++c) {
        const v = 128 + 60 * Math.sin(fx * x + 0.3 * c) * Math.cos(fx * y) + 20 * (rng.uniform() - 0.5);
        px[(y * size + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return px;
}

/** Writes ROOT/<class>/{train/good, test/good, test/<defect>, ground_truth/<defect>}; returns ROOT. */
export async function makeMvtec(classes: Record<string, ClassSpec>, options: MakeOptions = {}): Promise<string> {
  const root = tempDir();
  const size = options.size ?? 32;
  const channels = options.channels ?? 3;
  const rng = new Random(options.seed ?? 1);
  let k = 0;
  for (const [name, spec] of Object.entries(classes)) {
    const dir = path.join(root, name);
    for (let i = 0; i < spec.train; ++i) await writePng(path.join(dir, 'train', 'good', `${String(i).padStart(3, '0')}.png`), size, size, channels, texture(rng, k, size, channels));
    for (let i = 0; i < (spec.good ?? 0); ++i) await writePng(path.join(dir, 'test', 'good', `${String(i).padStart(3, '0')}.png`), size, size, channels, texture(rng, k, size, channels));
    for (const [defect, n] of Object.entries(spec.defects ?? {})) {
      for (let i = 0; i < n; ++i) {
        const px = texture(rng, k, size, channels);
        const mask = new Uint8Array(size * size);
        const s = Math.max(2, size >> 2);
        for (let y = s; y < 2 * s; ++y) {
          for (let x = s; x < 2 * s; ++x) {
            mask[y * size + x] = 255;
            for (let c = 0; c < channels; ++c) px[(y * size + x) * channels + c] = 250;
          }
        }
        const stem = String(i).padStart(3, '0');
        await writePng(path.join(dir, 'test', defect, `${stem}.png`), size, size, channels, px);
        await writePng(path.join(dir, 'ground_truth', defect, `${stem}_mask.png`), size, size, 1, mask);
      }
    }
    k += 1;
  }
  return root;
}
