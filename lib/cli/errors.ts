// Errors of the command-line interface and how they are reported: one or two
// lines on stderr, "hgad: <message>", exit status 2 for usage mistakes and 1
// for everything else; a stack trace only with HGAD_DEBUG=1.

/** A mistake in the command line itself (unknown option, bad number, missing flag): exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose help the hint points to; undefined for the top level. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A runtime or input-file problem with a message ready for the user: exit status 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  EEXIST: 'file already exists',
};

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code === 'string' && ERRNO_TEXT[e.code] && typeof e.path === 'string') return `${e.path}: ${ERRNO_TEXT[e.code]}`;
    if (e.name === 'FormatError' || e instanceof CliError || e instanceof UsageError) return e.message;
    if (e.name === 'RangeError' && /Array buffer allocation failed|Invalid typed array length/.test(e.message)) {
      return `out of memory (${e.message})`;
    }
    return e.message || e.name;
  }
  return String(err);
}

/** At most `max` non-empty lines, each at most 400 characters, without a leading "hgad: ". */
function clip(message: string, max: number): string {
  const lines = message
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
    .slice(0, max)
    .map((l) => (l.length > 400 ? l.slice(0, 397) + '...' : l));
  return (lines.join('\n') || 'unknown error').replace(/^hgad: /, '');
}

/** Writes the report of `err` to `write` and returns the exit status. */
export function reportError(err: unknown, write: (s: string) => void, debug = process.env.HGAD_DEBUG === '1'): number {
  if (err instanceof UsageError) {
    const hint = err.command ? `run 'hgad ${err.command} --help' for usage` : `run 'hgad --help' for the list of commands`;
    write(`hgad: ${clip(err.message, 1)}\n${hint}\n`);
    if (debug) write(`${err.stack}\n`);
    return 2;
  }
  write(`hgad: ${clip(messageOf(err), 2)}\n`);
  if (debug && err instanceof Error) write(`${err.stack}\n`);
  return 1;
}
