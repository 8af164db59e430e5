// What every subcommand module exports: its flag table and help (a
// CommandSpec) and the function that runs it on the parsed arguments.
import type { CommandSpec, ParsedArgs } from './args';

export interface Command extends CommandSpec {
  /** Resolves to the exit status (0 when undefined); throws UsageError / CliError / library errors. */
  run(args: ParsedArgs): Promise<number | void>;
}

/** Writes to stdout, ignoring a closed pipe (e.g. `hgad info | head -1`). */
export function out(text: string): void {
  process.stdout.write(text);
}

export function err(text: string): void {
  process.stderr.write(text);
}
