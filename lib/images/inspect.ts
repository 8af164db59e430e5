// The check of a data set before any feature is extracted: every image's header
// is read (cheap: no pixel is decoded), so an unreadable file, images of mixed
// sizes or modes within a class, or a mask that does not match its image are
// reported at once, naming the files, before a cache or model is written.
import { FormatError } from '../errors';
import { DatasetIndex, ImageEntry, TestImage } from './dataset';
import { ImageInfo, inspectImage } from './preprocess';

export interface InspectOptions {
  /** leave unreadable training images, and unreadable test images or masks, out (listed in the result) instead of failing */
  skipUnreadable?: boolean;
  /** accept images of different sizes or modes within a class (all are resized and made RGB) */
  allowMixed?: boolean;
  /** check the test images and their masks too (default true); fit never reads them, so skipping applies to them too */
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
  /** test images left out (only with skipUnreadable): the image or its mask cannot be read */
  skippedTest: SkippedImage[];
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
  const skippedTest = options.test !== false ? (await inspectTestSet(index, { skipUnreadable: options.skipUnreadable })).skipped : [];
  return { train, skipped, skippedTest };
}

export interface TestInspection {
  /** the test images to score (the index's, less the skipped ones) */
  test: TestImage[];
  /** unreadable test images, or images whose mask is unreadable (only with skipUnreadable) */
  skipped: SkippedImage[];
}

/**
 * Reads the header of every test image and mask (no pixel is decoded, so a
 * huge mask costs no more than a small one): a mask of another size than its
 * image fails naming both files; an unreadable image or mask fails naming it,
 * or with skipUnreadable is left out and listed.
 */
export async function inspectTestSet(index: DatasetIndex, options: { skipUnreadable?: boolean } = {}): Promise<TestInspection> {
  const results = await mapLimited(index.test, 8, async (t): Promise<SkippedImage | null> => {
    const image = await header(t.path);
    if ('error' in image) return { path: t.path, reason: image.error.message.slice(t.path.length + 2) };
    if (t.maskPath === null) return null;
    const mask = await header(t.maskPath);
    if ('error' in mask) return { path: t.path, reason: `its mask ${mask.error.message}` };
    const [a, b] = [image.info, mask.info];
    if (a.width !== b.width || a.height !== b.height) {
      throw new FormatError(t.maskPath, `mask of ${b.width}x${b.height} for the image ${t.path} of ${a.width}x${a.height}; a mask must have its image's size`);
    }
    return null;
  });
  const skipped = results.filter((r): r is SkippedImage => r !== null);
  if (skipped.length > 0 && !options.skipUnreadable) {
    throw new FormatError(
      skipped[0].path,
      `${skipped.length} unreadable test image${skipped.length === 1 ? '' : 's'} or mask${skipped.length === 1 ? '' : 's'}: ${listFiles(skipped)}. ` +
        'Remove or replace them, or allow skipping them (--skip-unreadable, skipUnreadable: true)',
    );
  }
  const left = new Set(skipped.map((s) => s.path));
  return { test: index.test.filter((t) => !left.has(t.path)), skipped };
}
