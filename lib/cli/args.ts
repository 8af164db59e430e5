// A small command-line argument parser: `--flag value`, `--flag=value` and
// boolean `--flag`, checked against each command's flag table. Every mistake
// is a UsageError (exit status 2) naming the flag and what was expected.
import { UsageError } from './errors';

export interface FlagSpec {
  /** Long name without the dashes, e.g. "batch-size". */
  name: string;
  /** Placeholder of the value in the help, e.g. "N"; absent for boolean flags. */
  value?: string;
  required?: boolean;
  help: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** The synopsis lines after "usage: ". */
  usage: string[];
  flags: FlagSpec[];
  /** Paragraphs printed after the flag table. */
  notes?: string[];
  /** Placeholder of the arguments that are not options (e.g. "IMAGE..."); absent when the command takes none. */
  positional?: string;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; ++i) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; ++j) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** Edit distance counting a swap of two neighbouring letters as one edit ("trian" -> "train"). */
function typoDistance(a: string, b: string): number {
  let d = editDistance(a, b);
  for (let i = 0; i + 1 < a.length; ++i) {
    const swapped = a.slice(0, i) + a[i + 1] + a[i] + a.slice(i + 2);
    if (swapped !== a) d = Math.min(d, 1 + editDistance(swapped, b));
  }
  return d;
}

/** The closest of `candidates` to `word` when it is a plausible typo, for "did you mean" hints. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = typoDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= (word.length >= 4 ? 2 : 1) ? best : undefined;
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h');
}

export class ParsedArgs {
  constructor(
    readonly command: string,
    private readonly values: Map<string, string | true>,
    /** the arguments that are not options, in order (only for commands with `positional`) */
    readonly positionals: string[] = [],
  ) {}

  private usage(message: string): UsageError {
    return new UsageError(message, this.command);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  flag(name: string): boolean {
    return this.values.get(name) === true;
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  /** A required string flag (required flags are also checked at parse time). */
  need(name: string): string {
    const v = this.string(name);
    if (v === undefined) throw this.usage(`missing required option --${name}`);
    return v;
  }

  number(name: string, opts: { min?: number; above?: number; fallback?: number } = {}): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return opts.fallback;
    const bound = opts.above !== undefined ? ` > ${opts.above}` : opts.min !== undefined ? ` >= ${opts.min}` : '';
    const v = NUMBER.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isFinite(v) || (opts.above !== undefined && !(v > opts.above)) || (opts.min !== undefined && !(v >= opts.min))) {
      throw this.usage(`--${name}: expected a number${bound}, got ${JSON.stringify(raw)}`);
    }
    return v;
  }

  int(name: string, opts: { min?: number; fallback?: number } = {}): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return opts.fallback;
    const bound = opts.min !== undefined ? ` >= ${opts.min}` : '';
    const v = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(v) || (opts.min !== undefined && v < opts.min)) {
      throw this.usage(`--${name}: expected an integer${bound}, got ${JSON.stringify(raw)}`);
    }
    return v;
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!(choices as readonly string[]).includes(raw)) {
      const close = suggest(raw, choices);
      throw this.usage(`--${name}: expected one of ${choices.join(', ')}, got ${JSON.stringify(raw)}${close ? ` (did you mean ${close}?)` : ''}`);
    }
    return raw as T;
  }

  /** Comma-separated, trimmed, non-empty items. */
  list(name: string): string[] | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const items = raw.split(',').map((s) => s.trim());
    if (items.some((s) => s === '')) throw this.usage(`--${name}: expected a comma-separated list without empty items, got ${JSON.stringify(raw)}`);
    return items;
  }
}

/** Parses `argv` (the arguments after the command name) against the spec's flags. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const values = new Map<string, string | true>();
  const positionals: string[] = [];
  const fail = (message: string) => new UsageError(message, spec.name);
  for (let i = 0; i < argv.length; ++i) {
    const token = argv[i];
    if (!token.startsWith('--') || token === '--') {
      if (token.startsWith('-') && token.length > 1 && !/^-[\d.]/.test(token)) {
        throw fail(`unknown option ${token} (options are long, e.g. --${spec.flags[0]?.name ?? 'help'})`);
      }
      if (spec.positional !== undefined && token !== '--') {
        positionals.push(token);
        continue;
      }
      throw fail(`unexpected argument ${JSON.stringify(token)}`);
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq >= 0 ? eq : undefined);
    const flag = byName.get(name);
    if (!flag) {
      const close = suggest(name, [...byName.keys()]);
      throw fail(`unknown option --${name}${close ? ` (did you mean --${close}?)` : ''}`);
    }
    if (values.has(name)) throw fail(`--${name} given more than once`);
    if (flag.value === undefined) {
      if (eq >= 0) throw fail(`--${name} takes no value`);
      values.set(name, true);
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = token.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw fail(`--${name} needs a value (${flag.value})`);
      value = next;
      ++i;
    }
    if (value === '') throw fail(`--${name} needs a non-empty value (${flag.value})`);
    values.set(name, value);
  }
  for (const f of spec.flags) {
    if (f.required && !values.has(f.name)) throw fail(`missing required option --${f.name} ${f.value ?? ''}`.trimEnd());
  }
  return new ParsedArgs(spec.name, values, positionals);
}

/** Wraps `text` to `width` columns, each line after the first indented by `indent` spaces. */
function wrap(text: string, width: number, indent: number): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else {
      line = line ? `${line} ${w}` : w;
    }
  }
  if (line) lines.push(line);
  return lines.join('\n' + ' '.repeat(indent));
}

export function formatHelp(spec: CommandSpec): string {
  const out = [`hgad ${spec.name}: ${spec.summary}`, '', ...spec.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}${u}`), ''];
  if (spec.flags.length > 0) {
    out.push('options:');
    const heads = spec.flags.map((f) => `  --${f.name}${f.value ? ` ${f.value}` : ''}`);
    const col = Math.min(30, Math.max(...heads.map((h) => h.length)) + 2);
    spec.flags.forEach((f, i) => {
      const head = heads[i].length + 2 > col ? `${heads[i]}\n${' '.repeat(col)}` : heads[i].padEnd(col);
      out.push(head + wrap(f.help + (f.required ? ' (required)' : ''), 78 - col, col));
    });
    out.push(`  --help${' '.repeat(Math.max(1, col - 8))}show this help`);
  }
  for (const n of spec.notes ?? []) out.push('', wrap(n, 78, 0));
  return out.join('\n') + '\n';
}
