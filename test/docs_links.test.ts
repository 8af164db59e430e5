// The README and the pages under docs/ link to each other and to files of the
// repository, and name npm scripts. A page moved or renamed, or a script
// dropped from package.json, leaves a link or a command that leads nowhere:
// this test checks every relative markdown link (its file, and its #anchor
// when it has one) and every `npm run X` against the tree and package.json.
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'.
function slug(heading: string): string {
  return heading.trim().toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

// The text outside fenced code blocks (links there are not links), line by
// line with their numbers.
function prose(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence = false;
  text.split('\n').forEach((l, i) => {
    if (/^\s*```/.test(l)) { fence = !fence; return; }
    if (!fence) out.push({ line: i + 1, text: l.replace(/`[^`]*`/g, '') });
  });
  return out;
}

function anchors(file: string): Set<string> {
  const set = new Set<string>();
  let fence = false;
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*```/.test(l)) { fence = !fence; continue; }
    const m = fence ? null : /^#+\s+(.*)$/.exec(l);
    if (m) set.add(slug(m[1]));
  }
  return set;
}

// Every problem of one markdown file, one line each: a relative link to a file
// that does not exist (or to an anchor its target lacks), an `npm run X` whose
// X is not a script of package.json.
export function checkMarkdown(file: string, scripts: Set<string>): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const problems: string[] = [];
  const name = path.relative(root, file) || file;
  const targets: { line: number; target: string }[] = [];
  for (const { line, text: l } of prose(text)) {
    for (const m of l.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push({ line, target: m[1] });
    const ref = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/.exec(l);
    if (ref) targets.push({ line, target: ref[1] });
  }
  for (const { line, target } of targets) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;        // https:, mailto:, ...
    const [p, anchor] = target.split('#', 2);
    const dest = p === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(p));
    if (!fs.existsSync(dest)) { problems.push(`${name}:${line}: link to ${target}: no such file`); continue; }
    if (anchor !== undefined && anchor !== '' && dest.endsWith('.md') && !anchors(dest).has(anchor)) {
      problems.push(`${name}:${line}: link to ${target}: ${path.basename(dest)} has no heading #${anchor}`);
    }
  }
  text.split('\n').forEach((l, i) => {
    for (const m of l.matchAll(/\bnpm run(?:-script)? ([A-Za-z0-9:_.-]+)/g)) {
      if (!scripts.has(m[1])) problems.push(`${name}:${i + 1}: npm run ${m[1]}: package.json has no such script`);
    }
  });
  return problems;
}

function packageScripts(dir: string): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  return new Set(Object.keys(pkg.scripts ?? {}));
}

function markdownFiles(dir: string): string[] {
  const docs = path.join(dir, 'docs');
  const pages = fs.existsSync(docs)
    ? fs.readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => path.join(docs, f))
    : [];
  return [path.join(dir, 'README.md'), ...pages.sort()];
}

test('every relative link in README.md and docs/*.md resolves, every npm run names a script', (t) => {
  const scripts = packageScripts(root);
  const files = markdownFiles(root);
  t.true(files.length > 1, 'docs/ holds the pages the README links');
  const problems = files.flatMap((f) => checkMarkdown(f, scripts));
  t.deepEqual(problems, []);
});

test('the README links every page under docs/', (t) => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const missing = markdownFiles(root).slice(1).map((f) => `docs/${path.basename(f)}`)
    .filter((p) => !readme.includes(`](${p})`));
  t.deepEqual(missing, []);
});

test('the checker reports a broken link, a missing anchor and an unknown script', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-docs-'));
  try {
    fs.mkdirSync(path.join(dir, 'docs'));
    fs.writeFileSync(path.join(dir, 'docs', 'a.md'), '# A page\n\n## Some `code` part\n\ntext\n');
    const md = path.join(dir, 'README.md');
    fs.writeFileSync(md, [
      '[ok](docs/a.md) [ok anchor](docs/a.md#some-code-part) [web](https://example.com)',
      '[gone](docs/b.md)',
      '[bad anchor](docs/a.md#nowhere)',
      '```', '[in a code block](docs/c.md)', '```',
      'run `npm run demo` or `npm run nope`',
    ].join('\n'));
    const problems = checkMarkdown(md, new Set(['demo']));
    t.is(problems.length, 3, problems.join('\n'));
    t.regex(problems[0], /:2: link to docs\/b\.md: no such file/);
    t.regex(problems[1], /:3: link to docs\/a\.md#nowhere: a\.md has no heading #nowhere/);
    t.regex(problems[2], /:7: npm run nope: package\.json has no such script/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
