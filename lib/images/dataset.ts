// The MVTec AD folder layout, the common layout of industrial anomaly-detection
// data sets (MVTec AD; VisA, BTAD and MVTec 3D after their usual conversion):
//
//   ROOT/<class>/train/good/*                       normal training images
//   ROOT/<class>/test/<good | defect type>/*        test images
//   ROOT/<class>/ground_truth/<defect type>/<stem>_mask.png
//
// or flat, ROOT/{train/good, test, ground_truth}/... (one product, or a mixed
// heap for label-free training): one class named after ROOT.
//
// indexDataset lists it (folder names only, no image is opened) into a typed
// index that every later stage takes: feature extraction reads `train`,
// scoring and localisation read `test` with its defect types and mask paths.
import * as fs from 'fs';
import * as path from 'path';
import { expectedType, FormatError } from '../errors';
import { kindOf } from '../io/reader';

/** File suffixes read as images (sharp decides at decode time whether it can). */
export const IMAGE_SUFFIXES = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.webp'];

export interface ImageEntry {
  /** absolute path of the image file */
  path: string;
  /** index into DatasetIndex.classNames */
  classId: number;
}

export interface TestImage extends ImageEntry {
  /** 'good' or the defect type (the folder under test/) */
  defect: string;
  /** ground-truth mask of a defect image; null for a good one */
  maskPath: string | null;
}

export interface DatasetIndex {
  /** absolute path of ROOT */
  root: string;
  /** class folder names, sorted; classId indexes this array */
  classNames: string[];
  /** normal training images, class by class, each class's files sorted by name */
  train: ImageEntry[];
  /** test images, class by class, defect type by defect type, sorted by name */
  test: TestImage[];
  /** entries named like images that are not image files (folders, FIFOs, dangling links, link loops), with why */
  skipped: SkippedEntry[];
}

/** An entry of an image folder that is named like an image but cannot be one. */
export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface IndexOptions {
  /** the class folders to use (default: every folder of ROOT; each must have train/good) */
  classes?: readonly string[];
}

function isImageFile(name: string): boolean {
  return !name.startsWith('.') && IMAGE_SUFFIXES.includes(path.extname(name).toLowerCase());
}

async function listDir(dir: string): Promise<fs.Dirent[]> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true });
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Why a symbolic link named like an image is not one, or null when it leads to a regular file (followed, as a user who links a data set expects). */
async function brokenLink(p: string): Promise<string | null> {
  try {
    const st = await fs.promises.stat(p);
    return st.isFile() ? null : `is a symbolic link to ${kindOf(st)}`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'is a symbolic link loop';
    if (code === 'ENOENT') return `is a dangling symbolic link (to ${await fs.promises.readlink(p).catch(() => '?')})`;
    return `is a symbolic link that cannot be followed (${code})`;
  }
}

/** The image files of `dir`, sorted; entries named like images that are not files go to `skipped`. */
async function imagesIn(dir: string, skipped: SkippedEntry[]): Promise<string[]> {
  const entries = await listDir(dir);
  const files: string[] = [];
  for (const e of entries) {
    if (!isImageFile(e.name)) continue;
    const p = path.join(dir, e.name);
    let why: string | null = null;
    if (e.isSymbolicLink()) why = await brokenLink(p);
    else if (!e.isFile()) why = `is ${kindOf(await fs.promises.lstat(p))}, not an image file`;
    if (why === null) files.push(p);
    else skipped.push({ path: p, reason: why });
  }
  return files;
}

/** The ground-truth mask of a defect image: <stem>_mask.png (MVTec AD), else <stem>.png (converted VisA/BTAD). */
async function findMask(classDir: string, defect: string, image: string): Promise<string> {
  const stem = path.basename(image, path.extname(image));
  const dir = path.join(classDir, 'ground_truth', defect);
  const candidates = [path.join(dir, `${stem}_mask.png`), path.join(dir, `${stem}.png`)];
  for (const c of candidates) {
    if (await fs.promises.stat(c).then((s) => s.isFile(), () => false)) return c;
  }
  throw new FormatError(image, `defect image without its ground-truth mask (expected ${candidates[0]})`);
}

async function indexClass(root: string, name: string, classId: number, train: ImageEntry[], test: TestImage[], skipped: SkippedEntry[]): Promise<void> {
  const classDir = path.join(root, name);
  const goodDir = path.join(classDir, 'train', 'good');
  if (!(await isDirectory(goodDir))) throw new FormatError(classDir, 'class folder without train/good (expected the MVTec AD layout <class>/train/good/*)');
  const images = await imagesIn(goodDir, skipped);
  if (images.length === 0) throw new FormatError(goodDir, `no training images (expected files ending in ${IMAGE_SUFFIXES.join(', ')})`);
  for (const p of images) train.push({ path: p, classId });
  const testDir = path.join(classDir, 'test');
  if (!(await isDirectory(testDir))) return;
  for (const e of await listDir(testDir)) {
    const dir = path.join(testDir, e.name);
    if (e.name.startsWith('.') || !(await isDirectory(dir))) continue;
    for (const p of await imagesIn(dir, skipped)) {
      const maskPath = e.name === 'good' ? null : await findMask(classDir, e.name, p);
      test.push({ path: p, classId, defect: e.name, maskPath });
    }
  }
}

/** Lists a data set in the MVTec AD layout; errors name the folder or file at fault. */
export async function indexDataset(root: string, options: IndexOptions = {}): Promise<DatasetIndex> {
  if (typeof root !== 'string' || root === '') throw expectedType('a data set folder path', 'data', root);
  if (options === null || typeof options !== 'object') throw expectedType('an options object', 'options', options);
  const abs = path.resolve(root);
  if (!(await isDirectory(abs))) throw new FormatError(abs, 'no such folder (expected a data set in the MVTec AD layout)');
  let classNames: string[];
  if (options.classes === undefined && (await isDirectory(path.join(abs, 'train', 'good')))) {
    // The flat layout, ROOT/train/good/* (one product, or a mixed heap): one class named after ROOT.
    const train: ImageEntry[] = [];
    const test: TestImage[] = [];
    const skipped: SkippedEntry[] = [];
    await indexClass(path.dirname(abs), path.basename(abs), 0, train, test, skipped);
    return { root: abs, classNames: [path.basename(abs)], train, test, skipped };
  }
  if (options.classes !== undefined) {
    if (!Array.isArray(options.classes) || options.classes.length === 0 || !options.classes.every((c) => typeof c === 'string' && c !== '')) {
      throw expectedType('a non-empty array of class folder names', 'classes', options.classes);
    }
    const dup = options.classes.find((c, i) => options.classes!.indexOf(c) !== i);
    if (dup !== undefined) throw expectedType('distinct class names', 'classes', `${dup} twice`);
    for (const c of options.classes) {
      if (c.includes('/') || c.includes(path.sep) || c === '.' || c === '..') throw expectedType('class folder names (no path separators)', 'classes', c);
      if (!(await isDirectory(path.join(abs, c)))) throw new FormatError(path.join(abs, c), `no such class folder in ${abs}`);
    }
    classNames = [...options.classes];
  } else {
    classNames = [];
    for (const e of await listDir(abs)) {
      const dir = path.join(abs, e.name);
      // Every visible folder is a class (MVTec AD keeps only its license and readme beside them).
      if (!e.name.startsWith('.') && (await isDirectory(dir))) classNames.push(e.name);
    }
    if (classNames.length === 0) throw new FormatError(abs, 'no class folders (expected <class>/train/good/* inside)');
  }
  const train: ImageEntry[] = [];
  const test: TestImage[] = [];
  const skipped: SkippedEntry[] = [];
  for (let k = 0; k < classNames.length; ++k) await indexClass(abs, classNames[k], k, train, test, skipped);
  return { root: abs, classNames, train, test, skipped };
}
