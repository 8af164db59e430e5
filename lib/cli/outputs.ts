// The outputs of a command, checked before any work starts: no output is one
// of the command's inputs (or lies inside an input folder such as the data
// root), no output folder holds an input, no two outputs are the same file or
// one inside the other's folder, and each output's temporary name (the name
// an atomic write or a staged folder first creates beside it) can be created
// in its folder. Paths are compared as resolved real paths: symlinks of
// existing paths are followed, and for a path that does not exist yet those
// of its nearest existing parent. Every refusal is one CliError line naming
// both paths.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { resolveOutput } from '../io/atomic';
import { CliError } from './errors';

/** An output of a command: a file written atomically, a folder staged then renamed (--maps), or a folder written into (--cache). */
export interface Output {
  flag: string;
  path: string;
  kind: 'file' | 'folder' | 'cache';
}

/** An input of a command: a file, or a folder whose whole content is read (a data root). */
export interface Input {
  /** How the message names it: a flag (--model) or words (the image). */
  what: string;
  path: string;
}

const MAX_SYMLINK_HOPS = 40;
/** The longest file name of the usual file systems (ext4, xfs, btrfs, tmpfs), in bytes. */
const NAME_MAX = 255;

/** The real path of `p`, existing or not: symlinks followed (dangling ones to where they point), the missing tail appended to its nearest existing parent's real path. */
export function realPathOf(p: string): string {
  let abs = path.resolve(p);
  for (let hop = 0; hop < MAX_SYMLINK_HOPS; ++hop) {
    try {
      return fs.realpathSync(abs);
    } catch {
      // missing, or a dangling symlink: follow the link by hand, else resolve the parent
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(abs, { throwIfNoEntry: false });
    } catch {
      // unreadable: compared as written
    }
    if (st?.isSymbolicLink()) {
      abs = path.resolve(path.dirname(abs), fs.readlinkSync(abs));
      continue;
    }
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(realPathOf(parent), path.basename(abs));
  }
  return abs;
}

function inside(child: string, parent: string): boolean {
  return child !== parent && child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);
}

/** The file's status, or undefined when it is missing or cannot be examined (its own check reports why). */
function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function sameFile(a: fs.Stats | undefined, b: fs.Stats | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** The name an atomic write (lib/io/atomic.ts) or a staged folder (lib/localise/outputs.ts) creates beside `target` first, same length. */
function temporaryName(target: string, kind: Output['kind']): string {
  const base = path.basename(target);
  return kind === 'file' ? `.${base}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp` : `.${base}.tmp-${crypto.randomBytes(3).toString('hex')}`;
}

/** Creates and removes the temporary name in the output's folder: a name too long or a folder that cannot be written fails here, before any work. */
function probe(o: Output, real: string): void {
  if (o.kind === 'cache') return;
  const dir = path.dirname(real);
  const tmp = path.join(dir, temporaryName(real, o.kind));
  try {
    if (o.kind === 'file') fs.closeSync(fs.openSync(tmp, 'wx', 0o600));
    else fs.mkdirSync(tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENAMETOOLONG') {
      throw new CliError(`${o.flag} ${o.path}: the name is too long (${Buffer.byteLength(path.basename(real))} bytes; hgad writes it through a temporary name ${Buffer.byteLength(path.basename(tmp)) - Buffer.byteLength(path.basename(real))} bytes longer, the limit is ${NAME_MAX})`);
    }
    throw new CliError(`${o.flag} ${o.path}: the folder ${dir} does not exist or is not writable (${code ?? (e as Error).message})`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** What the output replaces: a regular file or nothing for a file (lib/io/atomic.ts), a new or empty folder for a staged one. */
function checkTarget(o: Output): void {
  if (o.kind === 'file') {
    try {
      resolveOutput(o.path);
    } catch (e) {
      throw new CliError(`${o.flag} ${(e as Error).message}`);
    }
  } else if (o.kind === 'folder') {
    const st = statOf(o.path);
    if (st && (!st.isDirectory() || fs.readdirSync(o.path).length > 0)) throw new CliError(`${o.flag} ${o.path}: exists and is not an empty folder`);
  } else {
    const st = statOf(o.path);
    if (st && !st.isDirectory()) throw new CliError(`${o.flag} ${o.path}: exists and is not a folder`);
  }
}

/**
 * Refuses, with one line naming both paths, an output that is an input or
 * lies inside one, an output folder that holds an input, and two outputs that
 * are the same file or one inside the other's folder; then checks what each
 * output would replace and that its temporary name can be created. Undefined
 * entries (flags not given) are skipped.
 */
export function checkOutputs(outputs: (Output | undefined)[], inputs: (Input | undefined)[]): void {
  const outs = outputs.filter((o): o is Output => o !== undefined).map((o) => ({ ...o, real: realPathOf(o.path), stat: statOf(o.path) }));
  const ins = inputs.filter((i): i is Input => i !== undefined).map((i) => ({ ...i, real: realPathOf(i.path), stat: statOf(i.path) }));
  for (const o of outs) {
    const name = `${o.flag} ${o.path}`;
    for (const i of ins) {
      const input = `the input ${i.what} ${i.path}`;
      if (o.real === i.real || sameFile(o.stat, i.stat)) throw new CliError(`${name}: is the same file as ${input}; writing it would destroy that input`);
      if (inside(o.real, i.real)) throw new CliError(`${name}: lies inside ${input}; an output must not be written into an input`);
      if (o.kind !== 'file' && inside(i.real, o.real)) throw new CliError(`${name}: holds ${input}; an output folder must not contain an input`);
    }
  }
  for (let a = 0; a < outs.length; ++a) {
    for (let b = 0; b < outs.length; ++b) {
      if (a === b) continue;
      const [x, y] = [outs[a], outs[b]];
      if (a < b && (x.real === y.real || sameFile(x.stat, y.stat))) throw new CliError(`${x.flag} ${x.path}: is the same path as the output ${y.flag} ${y.path}; one would overwrite the other`);
      if (inside(x.real, y.real)) throw new CliError(`${x.flag} ${x.path}: lies inside the output ${y.flag} ${y.path}; one output must not be written into another`);
    }
  }
  for (const o of outs) {
    checkTarget(o);
    probe(o, o.real);
  }
}

/** The backbone a command reads: --backbone, or the shipped one. */
export async function backboneInput(flag: string | undefined): Promise<Input> {
  if (flag !== undefined) return { what: '--backbone', path: flag };
  const { demoBackbonePath } = await import('../images/backbone');
  return { what: 'backbone (shipped)', path: demoBackbonePath() };
}

/**
 * Refuses two images whose maps would get the same name in one folder (same
 * stem, e.g. 000.png and 000.jpg: the second would overwrite the first), and
 * a stem too long for its map's temporary name (<stem>.npy written atomically).
 */
export function checkMapNames(flag: string, dir: string, images: readonly { path: string; folder: string }[]): void {
  const seen = new Map<string, string>();
  for (const image of images) {
    const stem = path.basename(image.path, path.extname(image.path));
    const temp = Buffer.byteLength(temporaryName(`${stem}.npy`, 'file'));
    if (temp > NAME_MAX) throw new CliError(`${flag} ${dir}: a map name would be too long for its temporary name (${temp} bytes, the limit is ${NAME_MAX}), that of ${image.path}`);
    const key = path.join(image.folder, stem);
    const first = seen.get(key);
    if (first !== undefined) throw new CliError(`${flag} ${dir}: ${first} and ${image.path} share the name ${path.basename(key)}; their maps would overwrite each other`);
    seen.set(key, image.path);
  }
}
