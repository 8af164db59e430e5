#!/usr/bin/env node
// The hgad command line: train, score, eval, info, devices, demo. Errors are
// reported in a line or two on stderr ("hgad: ..."), exit status 2 for usage
// mistakes and 1 for anything else; HGAD_DEBUG=1 adds the stack trace.
import { formatHelp, parseArgs, suggest, wantsHelp } from './args';
import { Command, err, out } from './command';
import { demo } from './demo';
import { reportError, UsageError } from './errors';
import { evaluate } from './eval';
import { fit } from './fit';
import { devicesCommand, info } from './info';
import { predict } from './predict';
import { queueCommand, workerCommand } from './queue';
import { score } from './score';
import { serve } from './serve';
import { testImages } from './test_images';
import { train } from './train';

export const COMMANDS: Command[] = [fit, train, score, testImages, predict, evaluate, serve, queueCommand, workerCommand, info, devicesCommand, demo];

function version(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'hgad: unified anomaly detection with hierarchical Gaussian mixture normalizing flows',
    '',
    'usage: hgad <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help'.padEnd(width)}this list, or 'hgad help <command>' for a command's options`,
    '',
    "Run 'hgad <command> --help' for a command's options. Set HGAD_DEBUG=1 for stack traces on errors.",
    '',
  ].join('\n');
}

function findCommand(name: string): Command {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd) return cmd;
  const close = suggest(name, [...COMMANDS.map((c) => c.name), 'help']);
  throw new UsageError(`unknown command ${JSON.stringify(name)}${close ? ` (did you mean ${close}?)` : ''}`);
}

/** Runs the CLI on `argv` (without node and the script) and resolves to the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    err(mainHelp());
    return 2;
  }
  if (first === '--help' || first === '-h') {
    out(mainHelp());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    out(`hgad ${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    if (rest.length === 0) out(mainHelp());
    else out(formatHelp(findCommand(rest[0])));
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`expected a command before ${first}`);
  const cmd = findCommand(first);
  if (wantsHelp(rest)) {
    out(formatHelp(cmd));
    return 0;
  }
  const args = parseArgs(cmd, rest);
  return (await cmd.run(args)) ?? 0;
}

/** main() with every error reported (one or two lines on the error sink) as its exit status. */
export async function run(argv: readonly string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (e) {
    return reportError(e, err);
  }
}

function fail(e: unknown): void {
  // Once the exit status is set, a second failure (e.g. from a worker being torn down) changes nothing.
  if (failed) return;
  failed = true;
  process.exitCode = reportError(e, err);
  setImmediate(() => process.exit());
}

let failed = false;

if (require.main === module) {
  // A closed stdout (`hgad info | head -1`) ends the program quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    fail(e);
  });
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('SIGINT', () => {
    process.stderr.write('\nhgad: interrupted\n');
    process.exit(130);
  });
  run(process.argv.slice(2)).then((code) => {
    if (code !== 0) {
      // Failed: exit at once rather than wait for anything still pending (a worker being torn down).
      process.exitCode = code;
      setImmediate(() => process.exit());
    } else process.exitCode = code;
  }, fail);
}
