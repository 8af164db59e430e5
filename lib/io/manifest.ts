// A manifest: a text file naming one path a line, relative to the
// manifest's own folder; blank lines and # comments are skipped. Read line by
// line, so memory stays flat in its length (hgad predict --manifest, hgad
// queue add --manifest).
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { FormatError } from '../errors';
import { fileError, kindOf } from './reader';

/** Each entry of `manifest`: its resolved path and its line number (from 1). A NUL byte (a binary file) is a FormatError. */
export async function* manifestEntries(manifest: string): AsyncGenerator<{ path: string; line: number }> {
  let st: fs.Stats;
  try {
    st = fs.statSync(manifest);
  } catch (e) {
    throw fileError(manifest, e);
  }
  if (!st.isFile()) throw new FormatError(manifest, `is ${kindOf(st)}, expected a text manifest`);
  const dir = path.dirname(path.resolve(manifest));
  const lines = readline.createInterface({ input: fs.createReadStream(manifest, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    ++n;
    if (raw.includes('\0')) throw new FormatError(manifest, `is not a text manifest (line ${n} holds NUL bytes)`);
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    yield { path: path.resolve(dir, entry), line: n };
  }
}
