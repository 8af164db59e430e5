// The runs of hgad queue add, hgad queue status and hgad worker.
import * as path from 'path';
import { batchScoring } from './batch_flags';
import { ParsedArgs } from './args';
import { err, out } from './command';
import { CliError, UsageError } from './errors';
import { checkInputExists } from './inputs';
import { checkDevice, deviceOptions } from './model_file';

async function imagesToAdd(args: ParsedArgs, rest: string[]): Promise<string[]> {
  const manifest = args.string('manifest');
  const dir = args.string('dir');
  const given = [manifest !== undefined, dir !== undefined, rest.length > 0].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give exactly one of --manifest F, --dir DIR or IMAGE...', 'queue');
  const { listImageDir, readManifest } = await import('../queue/jobs');
  try {
    return manifest !== undefined ? await readManifest(manifest) : dir !== undefined ? listImageDir(dir) : rest.map((f) => path.resolve(f));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export async function runQueue(args: ParsedArgs): Promise<number> {
  const [action, ...rest] = args.positionals;
  const redis = args.need('redis');
  const queue = args.need('queue');
  const q = await import('../queue/index');
  if (action === 'add') {
    const images = await imagesToAdd(args, rest);
    const ids = await q.addImages({
      redis, queue, images, class: args.string('class'),
      attempts: args.int('attempts', { min: 1, fallback: 3 }),
      backoffMs: args.int('backoff-ms', { min: 0, fallback: 1000 }),
    }).catch((e: Error) => {
      throw new CliError(e.message.split('\n')[0]);
    });
    out(`queued ${ids.length} images on ${queue} (an image queued before keeps its job)\n`);
    return 0;
  }
  if (action === 'status') {
    if (rest.length > 0) throw new UsageError(`status takes no IMAGE (got ${rest[0]})`, 'queue');
    const c = await q.queueStatus({ redis, queue });
    if (args.flag('json')) out(JSON.stringify(c) + '\n');
    else {
      const rate = c.imagesPerSecond === null ? 'n/a' : `${c.imagesPerSecond.toFixed(1)} images/s`;
      out(`waiting ${c.waiting}  active ${c.active}  delayed ${c.delayed}  completed ${c.completed}  failed ${c.failed}  throughput ${rate}\n`);
    }
    return 0;
  }
  throw new UsageError(action === undefined ? 'expected add or status' : `expected add or status but received ${JSON.stringify(action)}`, 'queue');
}

export async function runWorker(args: ParsedArgs): Promise<number> {
  const modelFile = args.need('model');
  const device = deviceOptions(args);
  await checkInputExists(modelFile);
  await checkDevice(device);
  const scoring = batchScoring(args);
  const { createWorker } = await import('../queue/index');
  const w = await createWorker({
    redis: args.need('redis'),
    queue: args.need('queue'),
    model: modelFile,
    out: args.need('out'),
    backbone: args.string('backbone'),
    concurrency: args.int('concurrency', { min: 1, fallback: scoring.maxBatch }),
    ...scoring,
    stallMs: args.int('stall-ms', { min: 100, fallback: 30_000 }),
    device,
  });
  w.worker.on('failed', (job, e) => err(`hgad worker: ${job?.id ?? 'a job'} (${job?.data?.image ?? '?'}) failed: ${e.message.split('\n')[0]}\n`));
  await w.ready();
  err(`hgad worker: taking jobs from ${args.need('queue')}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => void w.close().then(resolve, resolve);
    process.once('SIGTERM', stop);
    process.removeAllListeners('SIGINT');
    process.once('SIGINT', stop);
  });
  err('hgad worker: stopped\n');
  return 0;
}
