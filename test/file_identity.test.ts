import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { itemKey } from '../lib/cli/predict_sources';
import { fileIdentity } from '../lib/io/file_identity';
import { jobIdOf, readManifest } from '../lib/queue/jobs';
import { manifestEntries } from '../lib/io/manifest';
import { FormatError } from '../lib/errors';

test('the queue\'s job id and predict\'s resume key are one file identity: path, size and mtime', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-ident-'));
  const file = path.join(dir, 'a.png');
  fs.writeFileSync(file, 'x');
  const st = fs.statSync(file);
  const id = fileIdentity(file, st.size, st.mtimeMs);
  t.regex(id, /^[0-9a-f]{64}$/);
  t.is(jobIdOf(file), `img-${id.slice(0, 32)}`);
  t.is(itemKey({ image: file, size: st.size, mtimeMs: st.mtimeMs }), id.slice(0, 32));
  // A changed file is another identity: more bytes, or the same bytes at a later time.
  fs.writeFileSync(file, 'xy');
  t.not(jobIdOf(file), `img-${id.slice(0, 32)}`);
  fs.writeFileSync(file, 'x');
  fs.utimesSync(file, st.atime, new Date(st.mtimeMs + 5000));
  t.not(jobIdOf(file), `img-${id.slice(0, 32)}`);
  t.not(fileIdentity(file + 'b', st.size, st.mtimeMs), id, 'another path');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a manifest is read once, line by line: a binary, missing or special file is one error naming it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-manifest-'));
  const text = path.join(dir, 'list.txt');
  fs.writeFileSync(text, '# two\na.png\n\n  b.png  \n');
  t.deepEqual(await readManifest(text), [path.join(dir, 'a.png'), path.join(dir, 'b.png')]);
  const binary = path.join(dir, 'bin.txt');
  fs.writeFileSync(binary, Buffer.from('a.png\nb\0c.png\n'));
  await t.throwsAsync(readManifest(binary), { instanceOf: FormatError, message: /bin\.txt: is not a text manifest \(line 2 holds NUL bytes\)/ });
  const entries = async (f: string) => {
    const out: string[] = [];
    for await (const e of manifestEntries(f)) out.push(e.path);
    return out;
  };
  await t.throwsAsync(entries(binary), { message: /line 2 holds NUL bytes/ });
  await t.throwsAsync(entries(path.join(dir, 'missing.txt')), { message: /missing\.txt: no such file$/ });
  await t.throwsAsync(entries(dir), { message: /is a directory, expected a text manifest/ });
  const empty = path.join(dir, 'empty.txt');
  fs.writeFileSync(empty, '# nothing\n');
  await t.throwsAsync(readManifest(empty), { message: /empty\.txt: names no image/ });
  fs.rmSync(dir, { recursive: true, force: true });
});
