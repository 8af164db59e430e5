// The check of a data set before any feature is extracted: every image's header
// is read (cheap: no pixel is decoded), so an unreadable file, images of mixed
// sizes or modes within a class, or a mask that does not match its image are
// reported at once, naming the files, before a cache or model is written.
import { FormatError } from '../errors';
import { DatasetIndex, ImageEntry } from './dataset';
import { ImageInfo, inspectImage } from './preprocess';

export interface InspectOptions {
  /** leave unreadable training images out (listed in the result) instead of failing */
  skipUnreadable?: boolean;
  /** accept images of different sizes or modes within a class (all are resized and made RGB) */
  allowMixed?: boolean;
  /** check the test images and their masks too (default true) */
  test?: boolean;
}

export interface SkippedImage {
  path: string;
  reason: string;
}

export interface Inspection {
  /** the training images to extract (the index's, less the skipped ones) */
  train: ImageEntry[];
  skipped: SkippedImage[];
}

/** Maps `items` through `fn` with at most `width` calls in flight, keeping the order. */
export async function mapLimited<T, R>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}

type Header = { info: ImageInfo } | { error: FormatError };

async function header(file: string): Promise<Header> {
  try {
    return { info: await inspectImage(file) };
  } catch (err) {
    if (err instanceof FormatError) return { error: err };
    throw err;
  }
}

function listFiles(items: { path: string; reason: string }[], max = 5): string {
  const shown = items.slice(0, max).map((s) => `${s.path} (${s.reason})`);
  return shown.join('; ') + (items.length > max ? `; and ${items.length - max} more` : '');
}

function describeInfo(i: ImageInfo): string {
  return `${i.width}x${i.height}, ${i.channels} channel${i.channels === 1 ? '' : 's'}, ${i.mode}`;
}

/** Reads every header of the index; throws a FormatError naming the first file at fault. */
export async function inspectDataset(index: DatasetIndex, options: InspectOptions = {}): Promise<Inspection> {
  const headers = await mapLimited(index.train, 8, (e) => header(e.path));
  const skipped: SkippedImage[] = [];
  const train: ImageEntry[] = [];
  headers.forEach((h, i) => {
    if ('error' in h) skipped.push({ path: index.train[i].path, reason: h.error.message.slice(index.train[i].path.length + 2) });
    else train.push(index.train[i]);
  });
  if (skipped.length > 0 && !options.skipUnreadable) {
    throw new FormatError(
      skipped[0].path,
      `${skipped.length} unreadable training image${skipped.length === 1 ? '' : 's'}: ${listFiles(skipped)}. ` +
        'Remove or replace them, or allow skipping them (--skip-unreadable, skipUnreadable: true)',
    );
  }
  if (train.length === 0) throw new FormatError(index.root, 'no readable training image');
  if (!options.allowMixed) {
    const first = new Map<number, { path: string; info: ImageInfo }>();
    headers.forEach((h, i) => {
      if (!('info' in h)) return;
      const e = index.train[i];
      const ref = first.get(e.classId);
      if (!ref) first.set(e.classId, { path: e.path, info: h.info });
      else if (describeInfo(ref.info) !== describeInfo(h.info)) {
        throw new FormatError(
          e.path,
          `image of ${describeInfo(h.info)} in class "${index.classNames[e.classId]}" whose first image ${ref.path} is ${describeInfo(ref.info)}; ` +
            'images of one class must share size and mode (or allow mixing them: --allow-mixed, allowMixed: true)',
        );
      }
    });
  }
  if (options.test !== false) await inspectTestSet(index);
  return { train, skipped };
}

/** Checks that every test image is readable and each mask has its image's size. */
export async function inspectTestSet(index: DatasetIndex): Promise<void> {
  await mapLimited(index.test, 8, async (t) => {
    const image = await inspectImage(t.path);
    if (t.maskPath === null) return;
    const mask = await inspectImage(t.maskPath);
    if (mask.width !== image.width || mask.height !== image.height) {
      throw new FormatError(t.maskPath, `mask of ${mask.width}x${mask.height} for the image ${t.path} of ${image.width}x${image.height}; a mask must have its image's size`);
    }
  });
}
