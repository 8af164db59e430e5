// hgad serve: reads the flags and the token file, starts the service, and on
// SIGTERM (or SIGINT) drains it and exits 0.
import { readFileWhole } from '../io/atomic';
import { batchScoring } from './batch_flags';
import { ParsedArgs } from './args';
import { err } from './command';
import { CliError } from './errors';
import { checkInputExists } from './inputs';
import { checkDevice, deviceOptions } from './model_file';

/** The token in `file`: one line, not empty (a trailing newline is allowed). */
export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileWhole(file).toString('utf8');
  } catch (e) {
    throw new CliError(`--token-file ${(e as Error).message}`);
  }
  const token = text.replace(/\r?\n$/, '');
  if (token.trim() === '' || /[\r\n]/.test(token)) throw new CliError(`--token-file ${file}: expected one line holding the token`);
  return token;
}

export async function runServe(args: ParsedArgs): Promise<number> {
  const modelFile = args.need('model');
  const tokenFile = args.string('token-file');
  const token = tokenFile !== undefined ? readToken(tokenFile) : undefined;
  const scoring = batchScoring(args);
  const maxBatch = scoring.maxBatch;
  const maxPending = args.int('max-queue', { min: 1, fallback: Math.max(256, maxBatch) })!;
  if (maxPending < maxBatch) throw new CliError(`--max-queue ${maxPending}: expected at least --max-batch (${maxBatch})`);
  const device = deviceOptions(args);
  await checkInputExists(modelFile);
  await checkDevice(device);
  const { createServer } = await import('../serve/server');
  const server = await createServer({
    model: modelFile,
    backbone: args.string('backbone'),
    host: args.string('host') ?? '127.0.0.1',
    port: args.int('port', { min: 0, fallback: 8080 }),
    ...scoring,
    maxPending,
    token,
    bodyLimit: Math.round(args.number('max-body-mb', { above: 0, fallback: 32 })! * (1 << 20)),
    maxPixels: args.int('max-pixels', { min: 1, fallback: 40_000_000 }),
    requestTimeoutMs: args.int('request-timeout-ms', { min: 1, fallback: 30_000 }),
    device,
  });
  const url = await server.listen();
  err(`hgad serve: listening on ${url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      err(`hgad serve: ${signal}, answering the requests in flight\n`);
      server.close().then(resolve, (e) => {
        err(`hgad serve: ${(e as Error).message}\n`);
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.removeAllListeners('SIGINT');
    process.once('SIGINT', () => stop('SIGINT'));
  });
  err('hgad serve: stopped\n');
  return 0;
}
