// The fuzz layer of test/fuzz.test.ts over the image path: mutated PNG, JPEG
// and TIFF bytes through loadImage, loadMask and inspectImage, and malformed
// MVTec AD folders through indexDataset. Same invariants: no abort, no hang
// (each case under a deadline), memory bounded, every failure one line
// naming the file or folder at fault. Bounded in time like the rest.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import sharp from 'sharp';
import { FormatError } from '../lib/errors';
import { indexDataset } from '../lib/images/dataset';
import { inspectImage, loadImage, loadMask, Preprocessing } from '../lib/images/preprocess';
import { tempDir } from './helpers/mvtec';

const BUDGET_MS = Number(process.env.HGAD_FUZZ_MS ?? 8000);
const seed = Number(process.env.HGAD_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DEADLINE_MS = 10_000;
const pre: Preprocessing = { imageSize: 24, crop: 16, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const root = tempDir('hgad-fuzz-img-');
test.after.always(() => fs.rmSync(root, { recursive: true, force: true }));

let seeds: Buffer[] = [];
test.before(async () => {
  const w = 20;
  const h = 14;
  const px = Buffer.from(Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) & 255));
  const grey = Buffer.from(Uint8Array.from({ length: w * h }, (_, i) => (i % 7 === 0 ? 255 : 0)));
  const rgb = () => sharp(px, { raw: { width: w, height: h, channels: 3 } });
  seeds = [
    await rgb().png().toBuffer(),
    await rgb().jpeg({ quality: 80 }).toBuffer(),
    await rgb().tiff().toBuffer(),
    await sharp(grey, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toBuffer(),
  ];
});

function oneLine(message: unknown): boolean {
  return typeof message === 'string' && message.length > 0 && !message.includes('\n');
}

/** A mutation of an image: bytes overwritten anywhere (headers, chunk lengths, dimensions), cut, extended or duplicated. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(4000), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('big' as const), at: fc.nat(64) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(4000) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(4000), n: fc.integer({ min: 1, max: 200 }) }),
);
const mutatedImage = fc.tuple(fc.nat(3), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([k, edits]) => ({ k, edits }));

function apply(base: Buffer, edits: { kind: string; at?: number; bytes?: Uint8Array; n?: number }[]): Buffer {
  let b = Buffer.from(base);
  for (const e of edits) {
    const at = (e.at ?? 0) % Math.max(1, b.length);
    if (e.kind === 'set') b.set(e.bytes!.subarray(0, Math.max(0, b.length - at)), at);
    else if (e.kind === 'big') b.set(Buffer.from([0x7f, 0xff, 0xff, 0xff]).subarray(0, Math.max(0, b.length - at)), at); // a huge size field
    else if (e.kind === 'cut') b = b.subarray(0, at);
    else if (e.kind === 'append') b = Buffer.concat([b, e.bytes!]);
    else b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: e.n! }, () => b.subarray(at, at + 16)), b.subarray(at)]);
  }
  return b;
}

const outcomes = { loaded: 0, refused: 0 };

/** Runs p under the deadline; true when it resolves with a valid answer or rejects with one FormatError line naming `file`. */
async function answers<T>(p: () => Promise<T>, file: string, valid: (v: T) => boolean): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const v = await Promise.race([p(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('deadline')), DEADLINE_MS)))]);
    outcomes.loaded++;
    return valid(v);
  } catch (e) {
    outcomes.refused++;
    return e instanceof FormatError && e.file === file && oneLine(e.message) && e.message.startsWith(`${file}: `);
  } finally {
    clearTimeout(timer);
  }
}

const exts = ['.png', '.jpg', '.tif', '.png'];

test('fuzz: mutated PNG, JPEG and TIFF bytes load as an image and a mask or fail in one line naming the file', async (t) => {
  let n = 0;
  const result = await fc.check(
    fc.asyncProperty(mutatedImage, async ({ k, edits }) => {
      const file = path.join(root, `case${n++}${exts[k]}`);
      fs.writeFileSync(file, apply(seeds[k], edits));
      const rss = process.memoryUsage().rss;
      try {
        const ok =
          (await answers(() => inspectImage(file), file, (i) => i.width > 0 && i.height > 0)) &&
          (await answers(() => loadImage(file, pre), file, (x) => x.length === 3 * pre.crop * pre.crop && x.every(Number.isFinite))) &&
          (await answers(() => loadMask(file, pre), file, (m) => m.length === pre.crop * pre.crop && m.every((v) => v === 0 || v === 1)));
        // What a 4-byte size field can claim is decoded within sharp's pixel limit, never beyond it.
        return ok && process.memoryUsage().rss - rss < 1.5 * 2 ** 30;
      } finally {
        fs.rmSync(file, { force: true });
      }
    }),
    { seed, numRuns: 400, interruptAfterTimeLimit: BUDGET_MS },
  );
  t.log(`${result.numRuns} images (${outcomes.loaded} calls decoded, ${outcomes.refused} refused), seed ${seed}`);
  t.false(result.failed, fc.defaultReportMessage(result) ?? '');
  t.true(result.numRuns >= 20);
});

// ------------------------------------------------------------ data set folders

type Entry =
  | { kind: 'dir'; at: string }
  | { kind: 'file'; at: string; bytes: 'png' | 'garbage' | 'empty' }
  | { kind: 'link'; at: string; to: string };

const names = fc.constantFrom('a', 'b', '.hidden', 'x.png', 'y_mask.png', 'z.jpg', 'n.txt', 'train', 'test', 'good', 'ground_truth', 'crack');
const rel = fc.array(names, { minLength: 1, maxLength: 5 }).map((p) => p.join('/'));
const shapes = fc.constantFrom('a/train/good/x.png', 'a/test/crack/x.png', 'a/ground_truth/crack/x_mask.png', 'a/test/good/z.jpg', 'b/train/good', 'b/train/good/y_mask.png');
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ kind: fc.constant('dir' as const), at: fc.oneof(rel, shapes) }),
  fc.record({ kind: fc.constant('file' as const), at: fc.oneof(rel, shapes), bytes: fc.constantFrom('png' as const, 'garbage' as const, 'empty' as const) }),
  fc.record({ kind: fc.constant('link' as const), at: fc.oneof(rel, shapes), to: fc.constantFrom('.', '..', 'a', 'a/train', 'missing', '/dev/zero', 'x.png') }),
);

function build(dir: string, entries: Entry[]): void {
  for (const e of entries) {
    const p = path.join(dir, e.at);
    try {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      if (e.kind === 'dir') fs.mkdirSync(p, { recursive: true });
      else if (e.kind === 'file') fs.writeFileSync(p, e.bytes === 'png' ? seeds[0] : e.bytes === 'garbage' ? Buffer.from('not an image') : Buffer.alloc(0));
      else fs.symlinkSync(e.to, p);
    } catch {
      // a path already taken by another kind of entry: the layout stays as built so far
    }
  }
}

test('fuzz: malformed MVTec AD folders index to existing files or fail in one line naming a path in the folder', async (t) => {
  let n = 0;
  const result = await fc.check(
    fc.asyncProperty(fc.array(entry, { maxLength: 12 }), fc.option(fc.constantFrom(['a'], ['b'], ['a', 'a'], ['missing'], ['../a'])), async (entries, classes) => {
      const dir = path.join(root, `set${n++}`);
      fs.mkdirSync(dir);
      build(dir, entries);
      let timer: NodeJS.Timeout | undefined;
      try {
        const index = await Promise.race([
          indexDataset(dir, classes ? { classes } : {}),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('deadline')), DEADLINE_MS))),
        ]);
        const files = [...index.train.map((e) => e.path), ...index.test.flatMap((e) => (e.maskPath ? [e.path, e.maskPath] : [e.path]))];
        return index.train.length > 0 && files.every((f) => fs.statSync(f).isFile());
      } catch (e) {
        const err = e as Error;
        if (!(err instanceof FormatError || err instanceof TypeError || err instanceof RangeError) || !oneLine(err.message)) return false;
        // A FormatError names a path of the data set (or the folder itself); argument errors name the option.
        return err instanceof FormatError ? err.file.startsWith(dir) || err.file.startsWith(path.dirname(dir)) : /for ((options\.)?classes|data) /.test(err.message);
      } finally {
        clearTimeout(timer);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { seed, numRuns: 300, interruptAfterTimeLimit: BUDGET_MS },
  );
  t.log(`${result.numRuns} folders, seed ${seed}`);
  t.false(result.failed, fc.defaultReportMessage(result) ?? '');
  t.true(result.numRuns >= 20);
});
