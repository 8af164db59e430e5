// Runs the compiled CLI (dist/lib/cli/main.js) as a child process, and the
// checks shared by the CLI tests' error cases.
import type { ExecutionContext } from 'ava';
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export const CLI = require.resolve('../../lib/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, env: { ...process.env, HGAD_DEBUG: '', HGAD_NUM_THREADS: '1', ...env }, maxBuffer: 16 << 20, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = child.exitCode;
        if (code === null) reject(new Error(`hgad ${args.join(' ')} was killed (${error?.message}); stderr: ${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

export function fileHash(file: string): string | null {
  if (!fs.existsSync(file)) return null;
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Runs a failing command and checks the failure is clean: the exit status, a
 * one- or two-line "hgad: ..." message without stack frames, nothing on
 * stdout, and `out` untouched (absent, or unchanged when it existed).
 */
export async function expectFailure(
  t: ExecutionContext,
  args: string[],
  code: number,
  opts: { out?: string; match?: RegExp; env?: Record<string, string>; inProcess?: boolean } = {},
): Promise<CliResult> {
  const before = opts.out ? fileHash(opts.out) : null;
  const r = opts.inProcess ? await runInProcess(args) : await runCli(args, opts.env);
  const what = `hgad ${args.join(' ')}`;
  t.is(r.code, code, `${what}: exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  t.true(lines.length >= 1 && lines.length <= 2, `${what}: stderr should be one or two lines, got:\n${r.stderr}`);
  t.regex(lines[0], /^hgad: \S/, `${what}: stderr starts with "hgad: "`);
  t.notRegex(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  t.is(r.stdout, '', `${what}: nothing on stdout`);
  if (opts.match) t.regex(r.stderr, opts.match, what);
  if (opts.out) {
    t.is(fileHash(opts.out), before, `${what}: ${opts.out} must be left as it was`);
    const base = path.basename(opts.out);
    const temps = fs.readdirSync(path.dirname(opts.out)).filter((f) => f.startsWith(`.${base}.`) && f.endsWith('.tmp'));
    t.deepEqual(temps, [], `${what}: no temporary files left`);
  }
  return r;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs the CLI inside this process (for argument-parsing cases, where a child
 * process would only add start-up time): same code path as the executable
 * minus the process-level handlers. Calls are serialised, as output is
 * captured through the CLI's global sink.
 */
export function runInProcess(args: string[]): Promise<CliResult> {
  const next = queue.then(async () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { run } = require('../../lib/cli/main') as typeof import('../../lib/cli/main');
    const { sink } = require('../../lib/cli/command') as typeof import('../../lib/cli/command');
    const saved = { ...sink };
    const r = { code: -1, stdout: '', stderr: '' };
    sink.out = (s) => void (r.stdout += s);
    sink.err = (s) => void (r.stderr += s);
    try {
      r.code = await run(args);
    } finally {
      Object.assign(sink, saved);
    }
    return r;
  });
  queue = next.catch(() => undefined);
  return next;
}
