// What every subcommand module exports: its flag table and help (a
// CommandSpec) and the function that runs it on the parsed arguments; and
// the output sink every command writes its results and messages to.
import type { CommandSpec, FlagSpec, ParsedArgs } from './args';

export interface Command extends CommandSpec {
  /** Resolves to the exit status (0 when undefined); throws UsageError / CliError / library errors. */
  run(args: ParsedArgs): Promise<number | void>;
}

/** Where results (out) and messages (err) go: the process's stdout and stderr unless replaced (tests). */
export const sink = {
  out: (text: string): void => void process.stdout.write(text),
  err: (text: string): void => void process.stderr.write(text),
};

/** The --json switch of the commands that print a summary: prints `what` as JSON instead of text. */
export function jsonFlag(what: string): FlagSpec {
  return { name: 'json', help: `print ${what} as JSON` };
}

export function out(text: string): void {
  sink.out(text);
}

export function err(text: string): void {
  sink.err(text);
}
