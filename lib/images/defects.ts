// Synthetic defects on Fashion-MNIST images, for a localisation benchmark in
// the MVTec AD layout that no one tuned a model to. Each defect is drawn on
// the object (never only on the black background) and comes with its pixel
// mask. Everything is a pure function of the images and a seeded generator,
// so a seed gives the same data set on every machine.
//
// Images are the 28x28 originals upsampled 2x (bilinear) to 56x56, the size
// the demonstration backbone was trained at; masks are 56x56 too.
import { Random } from '../random';

export const DEFECT_SIZE = 56;
export const DEFECT_KINDS = ['patch', 'scratch', 'stain'] as const;
export type DefectKind = (typeof DEFECT_KINDS)[number];

/** Fashion-MNIST's classes, as folder names. */
export const FMNIST_CLASS_NAMES = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];

/** A (DEFECT_SIZE, DEFECT_SIZE) greyscale image, and a 0/1 mask of its defect. */
export interface DefectImage {
  pixels: Uint8Array;
  mask: Uint8Array;
}

const S = DEFECT_SIZE;
const OBJECT_LEVEL = 40;

/** 28x28 -> 56x56, bilinear with half-pixel centres (align_corners=False). */
export function upsample2x(src: Uint8Array, size = 28): Uint8Array {
  const out = new Uint8Array(4 * size * size);
  const n = 2 * size;
  for (let y = 0; y < n; ++y) {
    const sy = Math.min(Math.max((y + 0.5) / 2 - 0.5, 0), size - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, size - 1);
    const fy = sy - y0;
    for (let x = 0; x < n; ++x) {
      const sx = Math.min(Math.max((x + 0.5) / 2 - 0.5, 0), size - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, size - 1);
      const fx = sx - x0;
      const v = (1 - fy) * ((1 - fx) * src[y0 * size + x0] + fx * src[y0 * size + x1]) + fy * ((1 - fx) * src[y1 * size + x0] + fx * src[y1 * size + x1]);
      out[y * n + x] = Math.round(v);
    }
  }
  return out;
}

/** A random pixel of the object (brighter than the background), as [y, x]. */
function objectPoint(img: Uint8Array, rng: Random, margin: number): [number, number] {
  for (let tries = 0; tries < 400; ++tries) {
    const y = margin + rng.int(S - 2 * margin);
    const x = margin + rng.int(S - 2 * margin);
    if (img[y * S + x] >= OBJECT_LEVEL) return [y, x];
  }
  return [S >> 1, S >> 1];
}

const clamp255 = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

/** A defect drawn over a copy of `img`: `paint(i, v)` sets pixel i to v and marks it in the mask. */
function drawOver(img: Uint8Array, draw: (paint: (i: number, v: number) => void) => void): DefectImage {
  const pixels = img.slice();
  const mask = new Uint8Array(S * S);
  draw((i, v) => {
    pixels[i] = v;
    mask[i] = 1;
  });
  return { pixels, mask };
}

/** Pastes a rectangle of another image (`donor`, same size) over the object. */
function pastePatch(img: Uint8Array, donor: Uint8Array, rng: Random): DefectImage {
  return drawOver(img, (paint) => {
    const h = 10 + rng.int(9);
    const w = 10 + rng.int(9);
    const [cy, cx] = objectPoint(img, rng, 8);
    const top = Math.max(0, Math.min(S - h, cy - (h >> 1)));
    const left = Math.max(0, Math.min(S - w, cx - (w >> 1)));
    // the donor's region: where it has content, flipped so it never lines up with the original
    const [dy, dx] = objectPoint(donor, rng, 8);
    const dTop = Math.max(0, Math.min(S - h, dy - (h >> 1)));
    const dLeft = Math.max(0, Math.min(S - w, dx - (w >> 1)));
    for (let y = 0; y < h; ++y) {
      for (let x = 0; x < w; ++x) {
        const v = donor[(dTop + h - 1 - y) * S + dLeft + x];
        const i = (top + y) * S + left + x;
        // a patch that is as dark as the background would be no defect: lift it
        paint(i, Math.abs(v - img[i]) < 24 ? clamp255(255 - v) : v);
      }
    }
  });
}

/** A thin curved line across the object, brighter or darker than the cloth. */
function drawScratch(img: Uint8Array, rng: Random): DefectImage {
  return drawOver(img, (paint) => {
    let [y, x] = objectPoint(img, rng, 6);
    let angle = rng.uniform() * Math.PI * 2;
    const length = 16 + rng.int(20);
    const width = rng.uniform() < 0.5 ? 1 : 2;
    const bright = rng.uniform() < 0.5;
    for (let step = 0; step < length; ++step) {
      angle += (rng.uniform() - 0.5) * 0.3;
      y += Math.sin(angle);
      x += Math.cos(angle);
      for (let oy = 0; oy < width; ++oy) {
        for (let ox = 0; ox < width; ++ox) {
          const py = Math.round(y) + oy;
          const px = Math.round(x) + ox;
          if (py < 0 || px < 0 || py >= S || px >= S) continue;
          const i = py * S + px;
          paint(i, bright ? 245 : clamp255(img[i] * 0.15));
        }
      }
    }
  });
}

/** An irregular blob (a few overlapping Gaussians, thresholded) that darkens or bleaches the cloth. */
function drawStain(img: Uint8Array, rng: Random): DefectImage {
  return drawOver(img, (paint) => {
    const [cy, cx] = objectPoint(img, rng, 10);
    const bumps = Array.from({ length: 2 + rng.int(3) }, () => ({
      y: cy + (rng.uniform() - 0.5) * 10,
      x: cx + (rng.uniform() - 0.5) * 10,
      r: 3 + rng.uniform() * 4,
    }));
    const dark = rng.uniform() < 0.6;
    const strength = 0.55 + 0.35 * rng.uniform();
    for (let y = 0; y < S; ++y) {
      for (let x = 0; x < S; ++x) {
        let f = 0;
        for (const b of bumps) f += Math.exp(-((y - b.y) ** 2 + (x - b.x) ** 2) / (2 * b.r * b.r));
        if (f < 0.5) continue;
        const i = y * S + x;
        const a = strength * Math.min(1, (f - 0.5) * 3 + 0.5);
        paint(i, clamp255(dark ? img[i] * (1 - a) + 20 * a : img[i] * (1 - a) + 235 * a));
      }
    }
  });
}

// A defect pixel that changed less than this is invisible (a dark stain over
// the black background): it is not part of the ground truth.
const VISIBLE = 16;
const MIN_PIXELS = 6;

/**
 * One defect of the given kind on `img` (56x56); `donor` is another image,
 * used by 'patch'. The mask holds the pixels the defect visibly changed; a
 * draw that changed fewer than a few pixels is drawn again.
 */
export function makeDefect(kind: DefectKind, img: Uint8Array, donor: Uint8Array, rng: Random): DefectImage {
  let d: DefectImage = { pixels: img, mask: new Uint8Array(S * S) };
  for (let attempt = 0; attempt < 20; ++attempt) {
    d = kind === 'patch' ? pastePatch(img, donor, rng) : kind === 'scratch' ? drawScratch(img, rng) : drawStain(img, rng);
    let count = 0;
    for (let i = 0; i < d.mask.length; ++i) {
      if (kind !== 'patch' && Math.abs(d.pixels[i] - img[i]) < VISIBLE) d.mask[i] = 0;
      count += d.mask[i];
    }
    if (count >= MIN_PIXELS) return d;
  }
  return d;
}
