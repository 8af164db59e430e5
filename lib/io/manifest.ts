// A manifest: a text file naming one path a line, relative to the
// manifest's own folder; blank lines and # comments are skipped. Read line by
// line, so memory stays flat in its length (hgad predict --manifest, hgad
// queue add --manifest).
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';

/** Each entry of `manifest`: its resolved path and its line number (from 1). */
export async function* manifestEntries(manifest: string): AsyncGenerator<{ path: string; line: number }> {
  const dir = path.dirname(path.resolve(manifest));
  const lines = readline.createInterface({ input: fs.createReadStream(manifest, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    ++n;
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    yield { path: path.resolve(dir, entry), line: n };
  }
}
