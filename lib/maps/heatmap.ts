// Heat-map images of anomaly maps: the map through a colour map, blended over
// the inspected image, with the ground-truth defect outlined when a mask
// exists; encoded as PNG by sharp. Raw maps go out as float32 .npy next to them.
import sharp from 'sharp';
import { expectedRange, expectedType, isPositiveInteger } from '../errors';
import { writeFileAtomicAsync } from '../io/atomic';
import { encodeNpy } from '../io/npy';

/** An RGB image, (height, width, 3) bytes. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface HeatmapInput {
  /** (height, width) anomaly map */
  map: ArrayLike<number>;
  width: number;
  height: number;
  /** values mapped to the ends of the colour map (default the map's own min and max) */
  range?: [number, number];
  /** the inspected image at the map's size; a grey background without it */
  image?: RgbImage;
  /** (height, width) ground truth, 0/1: its outline is drawn */
  mask?: Uint8Array;
  /** weight of the colour map over the image (default 0.5) */
  alpha?: number;
}

/** Jet colour map (blue - cyan - yellow - red) of t in [0, 1]. */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  const v = Math.min(1, Math.max(0, t));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}

const OUTLINE: [number, number, number] = [255, 255, 255];

/** The overlay as RGB bytes (height, width, 3). */
export function heatmapPixels(input: HeatmapInput): RgbImage {
  const { map, width, height } = input;
  if (!isPositiveInteger(width)) throw expectedRange('a positive integer', 'width', width);
  if (!isPositiveInteger(height)) throw expectedRange('a positive integer', 'height', height);
  const area = width * height;
  if (map === null || typeof map !== 'object' || map.length !== area) throw expectedType(`an array of ${area} values (height*width)`, 'map', map);
  const { image, mask } = input;
  if (image !== undefined && (image.width !== width || image.height !== height || !(image.data instanceof Uint8Array) || image.data.length !== area * 3)) {
    throw expectedType(`an RGB image of ${width}x${height}`, 'image', image);
  }
  if (mask !== undefined && (!(mask instanceof Uint8Array) || mask.length !== area)) throw expectedType(`a Uint8Array of ${area} values`, 'mask', mask);
  let [lo, hi] = input.range ?? [Infinity, -Infinity];
  if (!input.range) {
    for (let i = 0; i < area; ++i) {
      if (map[i] < lo) lo = map[i];
      if (map[i] > hi) hi = map[i];
    }
  }
  const span = hi > lo ? hi - lo : 1;
  const alpha = input.alpha ?? 0.5;
  const out = new Uint8Array(area * 3);
  for (let i = 0; i < area; ++i) {
    const rgb = jet((map[i] - lo) / span);
    for (let c = 0; c < 3; ++c) {
      const base = image ? image.data[i * 3 + c] : 128;
      out[i * 3 + c] = Math.round((1 - alpha) * base + alpha * rgb[c]);
    }
  }
  if (mask) {
    for (let y = 0; y < height; ++y) {
      for (let x = 0; x < width; ++x) {
        const i = y * width + x;
        if (!mask[i]) continue;
        const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width];
        if (edge) out.set(OUTLINE, i * 3);
      }
    }
  }
  return { data: out, width, height };
}

/** The overlay encoded as PNG. */
export async function heatmapPng(input: HeatmapInput): Promise<Buffer> {
  const px = heatmapPixels(input);
  return sharp(Buffer.from(px.data.buffer, px.data.byteOffset, px.data.byteLength), { raw: { width: px.width, height: px.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** Writes `<stem>.npy` (float32, height x width) and `<stem>.png` (the overlay), each atomically. */
export async function writeMapFiles(stem: string, input: HeatmapInput): Promise<{ npy: string; png: string }> {
  const png = await heatmapPng(input);
  const npy = encodeNpy({ dtype: 'float32', shape: [input.height, input.width], data: Float32Array.from(input.map) });
  await writeFileAtomicAsync(`${stem}.npy`, npy);
  await writeFileAtomicAsync(`${stem}.png`, png);
  return { npy: `${stem}.npy`, png: `${stem}.png` };
}
