// Image decoding and the reference's preprocessing, with sharp (libvips):
// resize the shorter side to `imageSize` (Lanczos, as PIL's ANTIALIAS),
// centre-crop `crop` x `crop`, scale to [0, 1], subtract the mean and divide by
// the standard deviation per channel (ImageNet's by default). Greyscale images
// become RGB (the grey value in all three channels), an alpha channel is
// dropped, as PIL's convert('RGB') does. Masks are read as the reference's
// `mask > 0` (any non-zero colour value is a defect), resized
// nearest-neighbour and cropped the same way, so a mask stays aligned with
// its image.
import sharp from 'sharp';
import { expectedRange, expectedType, FormatError, isPositiveInteger } from '../errors';

export interface Preprocessing {
  /** the shorter side is resized to this many pixels */
  imageSize: number;
  /** side of the centred square crop, <= imageSize */
  crop: number;
  /** per-channel mean of the [0, 1] RGB values, subtracted */
  mean: [number, number, number];
  /** per-channel standard deviation, divided by */
  std: [number, number, number];
}

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

export function checkPreprocessing(p: unknown, name = 'preprocessing'): Preprocessing {
  if (p === null || typeof p !== 'object') throw expectedType('a preprocessing object {imageSize, crop, mean, std}', name, p);
  const { imageSize, crop, mean, std } = p as Preprocessing;
  if (!isPositiveInteger(imageSize) || imageSize > 8192) throw expectedRange('an integer image size in [1, 8192]', `${name}.imageSize`, imageSize);
  if (!isPositiveInteger(crop) || crop > imageSize) throw expectedRange(`an integer crop size in [1, imageSize = ${imageSize}]`, `${name}.crop`, crop);
  for (const [k, v] of [['mean', mean], ['std', std]] as const) {
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw expectedType('an array of 3 finite numbers (R, G, B)', `${name}.${k}`, v);
    }
  }
  if (!std.every((x) => x > 0)) throw expectedRange('positive standard deviations', `${name}.std`, std.join(', '));
  return { imageSize, crop, mean: [mean[0], mean[1], mean[2]], std: [std[0], std[1], std[2]] };
}

/** What the header of an image file says, before any pixel is decoded. */
export interface ImageInfo {
  width: number;
  height: number;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB), 4 (RGBA) */
  channels: number;
  /** e.g. 'png', 'jpeg', 'tiff' */
  format: string;
  /** libvips' pixel interpretation and depth, e.g. 'srgb uchar', 'b-w ushort' */
  mode: string;
}

function unreadable(file: string, err: unknown): FormatError {
  const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new FormatError(file, `cannot read the image (${why})`);
}

/** Reads an image file's header; a file sharp cannot read raises a FormatError naming it. */
export async function inspectImage(file: string): Promise<ImageInfo> {
  let m: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    m = await sharp(file).metadata();
  } catch (err) {
    throw unreadable(file, err);
  }
  if (!m.width || !m.height || !m.channels || !m.format) throw unreadable(file, 'no size in its header');
  return { width: m.width, height: m.height, channels: m.channels, format: m.format, mode: `${m.space ?? '?'} ${m.depth ?? '?'}` };
}

/** The resized size (shorter side = imageSize, aspect kept as torchvision's Resize(int)) and the crop offsets. */
export function resizeGeometry(width: number, height: number, p: Preprocessing): { width: number; height: number; left: number; top: number } {
  let w: number;
  let h: number;
  if (width <= height) {
    w = p.imageSize;
    h = Math.floor((p.imageSize * height) / width);
  } else {
    h = p.imageSize;
    w = Math.floor((p.imageSize * width) / height);
  }
  // torchvision's center_crop: int(round((size - crop) / 2))
  return { width: w, height: h, left: Math.round((w - p.crop) / 2), top: Math.round((h - p.crop) / 2) };
}

/**
 * Decodes, resizes, crops and normalises one image: a file, or its encoded
 * bytes (`name` is how errors call it).
 * -> out: (3, crop, crop) float32, channel-major (the NCHW layout of a backbone input)
 */
export async function loadImage(file: string | Buffer, p: Preprocessing, out?: Float32Array, name = typeof file === 'string' ? file : 'the image'): Promise<Float32Array> {
  const n = p.crop * p.crop;
  if (out !== undefined && out.length !== 3 * n) throw expectedRange(`${3 * n} values`, 'out', out.length);
  let data: Buffer;
  try {
    // One sharp instance: the header read for the geometry is not read again by the pipeline.
    const img = sharp(file);
    const info = await img.metadata();
    if (!info.width || !info.height) throw new Error('no size in its header');
    const g = resizeGeometry(info.width, info.height, p);
    const r = await img
      .removeAlpha()
      .toColourspace('srgb')
      .resize(g.width, g.height, { fit: 'fill', kernel: 'lanczos3' })
      .extract({ left: g.left, top: g.top, width: p.crop, height: p.crop })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (r.info.channels !== 3 || r.data.length !== 3 * n) throw new Error(`decoded to ${r.info.channels} channels of ${r.info.width}x${r.info.height}`);
    data = r.data;
  } catch (err) {
    throw unreadable(name, err);
  }
  const x = out ?? new Float32Array(3 * n);
  for (let c = 0; c < 3; ++c) {
    const scale = 1 / (255 * p.std[c]);
    const shift = p.mean[c] / p.std[c];
    const plane = c * n;
    for (let i = 0; i < n; ++i) x[plane + i] = data[3 * i + c] * scale - shift;
  }
  return x;
}

/**
 * The defect pixels of a mask at its own size, as the reference's `mask > 0`:
 * a pixel is a defect when any of its colour channels is non-zero, at the
 * file's own depth (a 16-bit mask of 1s, a grey mask of 1s, an RGB mask drawn
 * in green, a palette PNG whose defect colour is not black are all read).
 * An alpha channel is not a colour: it is dropped first.
 * -> (height, width) of 0/255, one channel
 */
async function maskDefects(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const img = sharp(file);
  const m = await img.metadata();
  if (!m.width || !m.height) throw new Error('no size in its header');
  // Decoded in the file's own colour space and depth: no conversion may turn a small value into 0.
  let pipeline = img.removeAlpha();
  if (m.space) pipeline = pipeline.toColourspace(m.space);
  const { data, info } = await pipeline.raw(m.depth ? { depth: m.depth } : {}).toBuffer({ resolveWithObject: true });
  const pixels = info.width * info.height;
  if (info.width !== m.width || info.height !== m.height || data.length % pixels !== 0) throw new Error(`decoded to ${info.width}x${info.height} in ${data.length} bytes`);
  // Every byte of a pixel's colour samples: a sample is zero when all its bytes are.
  const stride = data.length / pixels;
  const out = Buffer.alloc(pixels);
  for (let i = 0; i < pixels; ++i) {
    for (let b = i * stride, end = b + stride; b < end; ++b) {
      if (data[b] !== 0) {
        out[i] = 255;
        break;
      }
    }
  }
  return { data: out, width: info.width, height: info.height };
}

/**
 * Loads a ground-truth mask aligned with its preprocessed image: the defect
 * pixels (any non-zero colour value, see maskDefects), nearest-neighbour
 * resized and cropped as the image.
 * -> (crop, crop) of 0/1
 */
export async function loadMask(file: string, p: Preprocessing): Promise<Uint8Array> {
  try {
    const mask = await maskDefects(file);
    const g = resizeGeometry(mask.width, mask.height, p);
    const { data } = await sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } })
      .resize(g.width, g.height, { fit: 'fill', kernel: 'nearest' })
      .extract({ left: g.left, top: g.top, width: p.crop, height: p.crop })
      .toColourspace('b-w')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (data.length !== p.crop * p.crop) throw new Error(`resized to ${data.length} values`);
    const out = new Uint8Array(p.crop * p.crop);
    for (let i = 0; i < out.length; ++i) out[i] = data[i] > 127 ? 1 : 0;
    return out;
  } catch (err) {
    throw new FormatError(file, `cannot read the mask (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
}
