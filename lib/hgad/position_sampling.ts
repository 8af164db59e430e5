// Position sampling: each training step of a level trains on n of each image's
// h*w positions instead of all of them. Stratified over passes: for every
// (level, image) a random permutation of its positions is cut into
// k = floor(h*w / n) strata of n; the image's v-th visit at that level takes
// stratum v mod k, and a new permutation is drawn (from the seed, the level,
// the image and the cycle, so nothing is stored per image but a visit count)
// every k visits. Every position of every image is trained once per cycle
// (but for the h*w - k*n left over by the cut, which the next permutation
// reaches), so every part of every map is represented over a cycle of passes.
import { expectedRange, received } from '../errors';
import { Random } from '../random';

/** How many positions per image a level trains on. */
export interface PositionsChoice {
  /** an absolute count per image and level (capped at the level's h*w) */
  positionsPerImage?: number;
  /** a fraction of each level's h*w, in (0, 1] (at least one position) */
  positionFraction?: number;
}

/** Parses "1/16", "0.0625" (fractions) or "336" (a count) as the CLI and the API accept them. */
export function parsePositions(raw: string | number, name: string): PositionsChoice {
  if (typeof raw === 'number') return raw >= 1 ? { positionsPerImage: checkCount(raw, name) } : { positionFraction: checkFraction(raw, name) };
  const s = String(raw).trim();
  const m = /^(\d+)\s*\/\s*(\d+)$/.exec(s);
  if (m) return { positionFraction: checkFraction(Number(m[1]) / Number(m[2]), name, s) };
  const v = Number(s);
  if (s === '' || !Number.isFinite(v)) throw expectedRange('a count of positions (336), a fraction (1/16) or a number in (0, 1)', name, s);
  return v >= 1 ? { positionsPerImage: checkCount(v, name) } : { positionFraction: checkFraction(v, name) };
}

function checkCount(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw expectedRange('a positive integer count of positions or a fraction in (0, 1]', name, v);
  return v;
}

function checkFraction(v: number, name: string, shown: unknown = v): number {
  if (!(v > 0 && v <= 1)) throw expectedRange('a fraction in (0, 1]', name, shown);
  return v;
}

/** Positions per image trained at a level of h*w positions. */
export function sampledPositions(choice: PositionsChoice, hw: number): number {
  if (choice.positionsPerImage !== undefined) return Math.min(hw, choice.positionsPerImage);
  if (choice.positionFraction !== undefined) return Math.max(1, Math.min(hw, Math.round(choice.positionFraction * hw)));
  return hw;
}

/** Mixes integers into one 32-bit seed (splitmix-style finaliser). */
function mix(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h;
}

/** Draws the positions of one level's images, visit after visit. */
export class PositionSampler {
  /** strata per permutation */
  readonly strata: number;
  private readonly visits: Int32Array;
  private readonly perm: Int32Array;

  constructor(
    private readonly seed: number,
    private readonly level: number,
    /** h*w of the level */
    readonly positions: number,
    /** n drawn per image and visit */
    readonly perImage: number,
    numImages: number,
  ) {
    if (!(Number.isInteger(perImage) && perImage >= 1 && perImage <= positions)) {
      throw expectedRange(`a count in [1, ${positions}]`, `the positions per image of level ${level}`, received(`${perImage}`));
    }
    this.strata = Math.floor(positions / perImage);
    this.visits = new Int32Array(numImages);
    this.perm = new Int32Array(positions);
  }

  /** The sorted positions of image `image` at its next visit, written to out[0..n). */
  drawInto(image: number, out: Int32Array): void {
    const n = this.perImage;
    const v = this.visits[image]++;
    const cycle = Math.floor(v / this.strata);
    const stratum = v % this.strata;
    const perm = this.perm;
    for (let i = 0; i < perm.length; ++i) perm[i] = i;
    new Random(mix(this.seed, this.level, image, cycle)).shuffle(perm);
    const part = perm.subarray(stratum * n, (stratum + 1) * n);
    out.set(part);
    out.subarray(0, n).sort();
  }

  /** The positions of every image of a batch, image after image: (ids.length * n). */
  draw(ids: Int32Array, out: Int32Array): Int32Array {
    const n = this.perImage;
    const idx = out.subarray(0, ids.length * n);
    for (let j = 0; j < ids.length; ++j) this.drawInto(ids[j], idx.subarray(j * n, (j + 1) * n));
    return idx;
  }
}
