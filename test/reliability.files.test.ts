// Files and paths a hostile or careless user may pass: outputs that are
// symlinks, devices, FIFOs, read-only files or directories; inputs that are
// devices, FIFOs, directories, symlink loops, or huge garbage; temp files left
// by a killed writer. Each must end in one line naming the path, with no
// other file changed, quickly and without reading more than the header.
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic, writeFileAtomicAsync, removeStaleTemps } from '../lib/io/atomic';
import { readNpy, readNpyAsync, readNpyHeader, readNpyRows, writeNpy, MAX_NPY_HEADER } from '../lib/io/npy';
import { readSafetensors, readSafetensorsAsync } from '../lib/io/safetensors';
import { FormatError } from '../lib/errors';
import { HGAD } from '../lib/hgad';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-rel-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => path.join(tmp, `${n++}-${name}`);
const isRoot = process.getuid?.() === 0;

function oneLine(t: { true: (v: boolean, m?: string) => void }, message: string, names: string): void {
  t.true(!message.includes('\n'), `one line: ${message}`);
  t.true(message.includes(names), `names ${names}: ${message}`);
  t.true(!/\.tmp\b/.test(message), `does not name a temp file: ${message}`);
}

// ------------------------------------------------------------ outputs

test('a symlinked output writes through to its target and keeps the link', (t) => {
  const target = fresh('real.bin');
  fs.writeFileSync(target, 'old');
  const link = fresh('link.bin');
  fs.symlinkSync(target, link);
  writeFileAtomic(link, Buffer.from('new contents'));
  t.true(fs.lstatSync(link).isSymbolicLink());
  t.is(fs.readFileSync(target, 'utf8'), 'new contents');
  // A dangling link is written where it points.
  const dangling = fresh('dangling.bin');
  const where = fresh('made-by-link.bin');
  fs.symlinkSync(where, dangling);
  writeFileAtomic(dangling, Buffer.from('x'));
  t.true(fs.lstatSync(dangling).isSymbolicLink());
  t.is(fs.readFileSync(where, 'utf8'), 'x');
});

test('a device node, a FIFO, a directory or a read-only file is not replaced by an output', async (t) => {
  const fifo = fresh('fifo');
  execFileSync('mkfifo', [fifo]);
  const dir = fresh('dir');
  fs.mkdirSync(dir);
  const ro = fresh('ro.bin');
  fs.writeFileSync(ro, 'keep');
  fs.chmodSync(ro, 0o444);
  const cases: [string, RegExp][] = [
    [fifo, /is a FIFO/],
    [dir, /is a directory/],
    [ro, /is read-only \(mode 444\)/],
  ];
  if (isRoot) {
    const dev = fresh('nulldev');
    execFileSync('mknod', [dev, 'c', '1', '3']);
    cases.push([dev, /is a character device/]);
  }
  for (const [target, message] of cases) {
    const before = fs.lstatSync(target);
    for (const write of [() => writeFileAtomic(target, Buffer.from('x')), () => writeFileAtomicAsync(target, Buffer.from('x'))]) {
      let err: Error | undefined;
      try {
        await write();
      } catch (e) {
        err = e as Error;
      }
      t.truthy(err, target);
      t.regex(err!.message, message);
      oneLine(t, err!.message, target);
      const after = fs.lstatSync(target);
      t.is(after.ino, before.ino, `${target} was not replaced`);
      t.is(after.mode, before.mode);
    }
  }
  t.is(fs.readFileSync(ro, 'utf8'), 'keep');
  t.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
});

test('save() onto a directory names the directory and leaves no temp file in its parent', async (t) => {
  const model = HGAD.create({ levels: [{ channels: 4, condChannels: 0 }], classNames: ['a'], couplings: 1, clamp: 1.9, intraCentres: 2 }, 1);
  const dir = fresh('models');
  fs.mkdirSync(dir);
  const err = await t.throwsAsync(() => model.save(dir));
  t.regex(err!.message, /is a directory/);
  oneLine(t, err!.message, dir);
  t.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
});

test('an output in a missing directory names the output', (t) => {
  const target = path.join(tmp, 'no-such-dir', 'out.npy');
  const err = t.throws(() => writeNpy(target, { dtype: 'float32', shape: [1], data: new Float32Array(1) }));
  oneLine(t, err!.message, target);
  t.regex(err!.message, /does not exist/);
});

test('an output keeps the mode of the file it replaces', (t) => {
  const target = fresh('mode.bin');
  fs.writeFileSync(target, 'a');
  fs.chmodSync(target, 0o640);
  writeFileAtomic(target, Buffer.from('b'));
  t.is(fs.statSync(target).mode & 0o777, 0o640);
});

test('a write removes the temp files of a writer that was killed, not those of a live one', (t) => {
  const dir = fresh('stale');
  fs.mkdirSync(dir);
  const target = path.join(dir, 'out.npy');
  const base = path.basename(target);
  // A pid that has surely exited: a child that ran and was reaped.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = path.join(dir, `.${base}.${dead}.0123456789ab.tmp`);
  const live = path.join(dir, `.${base}.${process.ppid}.0123456789ab.tmp`);
  const other = path.join(dir, `.other.npy.${dead}.0123456789ab.tmp`);
  for (const f of [stale, live, other]) fs.writeFileSync(f, 'partial');
  writeNpy(target, { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) });
  t.false(fs.existsSync(stale));
  t.true(fs.existsSync(live));
  t.true(fs.existsSync(other));
  t.is(removeStaleTemps(target), 0);
  t.deepEqual(Array.from(readNpy(target).data as Float32Array), [1, 2]);
});

// ------------------------------------------------------------ inputs

function rssAfter<T>(fn: () => T): { value: T | Error; grewMB: number } {
  const before = process.memoryUsage().rss;
  let value: T | Error;
  try {
    value = fn();
  } catch (e) {
    value = e as Error;
  }
  return { value, grewMB: (process.memoryUsage().rss - before) / 2 ** 20 };
}

test('a device, a FIFO, a directory or a symlink loop as input is one error naming it, at once', async (t) => {
  const fifo = fresh('in.fifo');
  execFileSync('mkfifo', [fifo]);
  const dir = fresh('indir');
  fs.mkdirSync(dir);
  const loop = fresh('loop');
  fs.symlinkSync(loop, loop);
  const cases: [string, RegExp][] = [
    ['/dev/zero', /is a character device, expected a regular file/],
    [fifo, /is a FIFO/],
    [dir, /is a directory/],
    [loop, /symlink loop/],
    [fresh('missing.npy'), /no such file/],
  ];
  for (const [file, message] of cases) {
    const started = Date.now();
    for (const read of [() => readNpy(file), () => readSafetensors(file)]) {
      const err = t.throws(read);
      t.regex(err!.message, message);
      oneLine(t, err!.message, file);
    }
    for (const read of [() => readNpyAsync(file), () => readSafetensorsAsync(file), () => HGAD.load(file)]) {
      const err = await t.throwsAsync(read);
      t.regex(err!.message, message);
      oneLine(t, err!.message, file);
    }
    t.true(Date.now() - started < 2000, `${file} answered at once`);
  }
});

test('a 1.9 GB garbage file is refused after reading its first bytes', (t) => {
  const file = fresh('garbage.npy');
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, Buffer.from('garbage!'));
  fs.ftruncateSync(fd, 1.9e9); // sparse: no disk used
  fs.closeSync(fd);
  for (const read of [(): unknown => readNpy(file), (): unknown => readSafetensors(file)]) {
    const { value, grewMB } = rssAfter(read);
    t.true(value instanceof FormatError, String(value));
    t.true(grewMB < 64, `memory grew ${grewMB} MB`);
  }
  fs.rmSync(file);
});

test('an oversized or deeply nested .npy header is refused before it is parsed', (t) => {
  const huge = Buffer.alloc(12 + 50e6, 0x20);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]).copy(huge);
  huge.writeUInt32LE(50e6, 8);
  const file = fresh('bighead.npy');
  fs.writeFileSync(file, huge);
  const { value, grewMB } = rssAfter(() => readNpy(file));
  t.regex((value as Error).message, new RegExp(`header length 50000000 exceeds the limit of ${MAX_NPY_HEADER} bytes`));
  t.true(grewMB < 64, `memory grew ${grewMB} MB`);

  const nested = `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(5000)}${')'.repeat(5000)}, }`;
  const text = Buffer.from(nested + '\n', 'latin1');
  const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0, 0, 0, 0]);
  head.writeUInt32LE(text.length, 8);
  const nestedFile = fresh('nested.npy');
  fs.writeFileSync(nestedFile, Buffer.concat([head, text]));
  const err = t.throws(() => readNpy(nestedFile), { instanceOf: FormatError });
  t.regex(err!.message, /nesting deeper than/);
  oneLine(t, err!.message, nestedFile);
});

test('a deeply nested safetensors header is refused without a stack overflow', (t) => {
  const json = Buffer.from(`{"a":${'['.repeat(5e6)}${']'.repeat(5e6)}}`);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const file = fresh('nested.safetensors');
  fs.writeFileSync(file, Buffer.concat([head, json]));
  const { value, grewMB } = rssAfter(() => readSafetensors(file));
  t.true(value instanceof FormatError);
  t.regex((value as Error).message, /nests deeper than 16 levels/);
  oneLine(t, (value as Error).message, file);
  t.true(grewMB < 200, `memory grew ${grewMB} MB`);
});

test('a .npy file over 2 GiB is read header first and by rows past the 2 GiB mark', (t) => {
  const file = fresh('big.npy');
  const rows = 2 ** 27 + 8; // (rows, 4) float32: 2 GiB + 128 bytes of data
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, 4), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  prefix.writeUInt16LE(header.length, 8);
  const dataStart = 10 + header.length;
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, Buffer.concat([prefix, Buffer.from(header, 'latin1')]));
  const last = Float32Array.of(1.5, -2, 3.25, 4, 5, 6, 7, 8.5);
  fs.ftruncateSync(fd, dataStart + rows * 16); // sparse
  fs.writeSync(fd, new Uint8Array(last.buffer), 0, 32, dataStart + (rows - 2) * 16);
  fs.closeSync(fd);
  const h = readNpyHeader(file);
  t.deepEqual(h, { dtype: 'float32', shape: [rows, 4], dataOffset: dataStart });
  const tail = readNpyRows(file, rows - 2, 2);
  t.deepEqual(tail.shape, [2, 4]);
  t.deepEqual(Array.from(tail.data as Float32Array), Array.from(last));
  t.regex(t.throws(() => readNpyRows(file, rows - 1, 2))!.message, /past the 134217736 rows/);
  fs.rmSync(file);
});

test('boolean .npy arrays (numpy masks) are read as 0 and 1', (t) => {
  const file = fresh('mask.npy');
  const data = Uint8Array.from([1, 0, 0, 1, 1]);
  writeNpy(file, { dtype: 'bool', shape: [5], data });
  const back = readNpy(file);
  t.is(back.dtype, 'bool');
  t.deepEqual(Array.from(back.data as Uint8Array), [1, 0, 0, 1, 1]);
  // What numpy writes for np.save('m.npy', np.array([True, False])).
  t.true(fs.readFileSync(file).subarray(10, 60).toString('latin1').startsWith("{'descr': '|b1', 'fortran_order'"));
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 1] = 7;
  fs.writeFileSync(file, bytes);
  t.regex(t.throws(() => readNpy(file))!.message, /boolean value 7 at index 4 is neither 0 nor 1/);
});

test('kill -9 during writes leaves the target whole; the next write removes the killed writer\'s temp files', async (t) => {
  const dir = fresh('killed');
  fs.mkdirSync(dir);
  const target = path.join(dir, 'big.npy');
  writeNpy(target, { dtype: 'float32', shape: [4], data: Float32Array.of(1, 2, 3, 4) });
  const npy = JSON.stringify(path.resolve(__dirname, '../lib/io/npy'));
  const script = `const { writeNpy } = require(${npy}); const data = new Float32Array(16 << 20).fill(7);
for (;;) writeNpy(${JSON.stringify(target)}, { dtype: 'float32', shape: [data.length], data });`;
  let leftBehind = 0;
  for (let round = 0; round < 4; ++round) {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300 + 150 * round));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Whatever moment the kill hit, the target is a whole file: the old one or a new one.
    const arr = readNpy(target);
    t.true(arr.data.length === 4 || arr.data.length === 16 << 20);
    leftBehind += fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length;
  }
  writeNpy(target, { dtype: 'float32', shape: [1], data: Float32Array.of(9) });
  t.deepEqual(fs.readdirSync(dir), ['big.npy']);
  t.log(`${leftBehind} temp file(s) left by killed writers, all removed by the next write`);
});
