// The images a queue add names (a manifest, a folder, or paths) and the job
// id of each: derived from the image's absolute path, size and modification
// time, so adding the same images twice queues them once, and an image
// rewritten since is scored again.
import { fileIdentity } from '../io/file_identity';
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from '../errors';
import { manifestEntries } from '../io/manifest';
import { IMAGE_SUFFIXES } from '../images/dataset';

/** The image suffixes of a data set, less BMP (this sharp build cannot decode it). */
export const IMAGE_EXTENSIONS = IMAGE_SUFFIXES.filter((s) => s !== '.bmp');

/** What a job carries: the image to score and its class (absent: the scoring decides). */
export interface ImageJob {
  image: string;
  class?: string;
}

/** The job id of an image file; throws naming the file when it is not a readable regular file. */
export function jobIdOf(file: string): string {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw new FormatError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such image file' : `cannot read it (${(e as Error).message.split('\n')[0]})`);
  }
  if (!st.isFile()) throw new FormatError(file, 'is not a regular file');
  return `img-${fileIdentity(abs, st.size, st.mtimeMs).slice(0, 32)}`;
}

/** The image paths of a manifest (lib/io/manifest.ts: a missing, special or binary file is a one-line error). */
export async function readManifest(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of manifestEntries(file)) out.push(entry.path);
  if (out.length === 0) throw new FormatError(file, 'names no image');
  return out;
}

/** The images directly in `dir` (by extension), sorted. */
export function listImageDir(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new FormatError(dir, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : `cannot list it (${(e as Error).message.split('\n')[0]})`);
  }
  const out = names.filter((n) => IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase())).sort().map((n) => path.resolve(dir, n));
  if (out.length === 0) throw new FormatError(dir, `holds no image (${IMAGE_EXTENSIONS.join(', ')})`);
  return out;
}
