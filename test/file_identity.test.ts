import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { itemKey } from '../lib/cli/predict_sources';
import { fileIdentity } from '../lib/io/file_identity';
import { jobIdOf } from '../lib/queue/jobs';

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
