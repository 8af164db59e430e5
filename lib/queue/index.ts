// Queue workers on BullMQ (Redis): addImages queues one job per image (the
// job id derived from the image, so the same images added twice are queued
// once), createWorker scores jobs as they come, micro-batched through the
// same ImageScorer as hgad serve, and writes each result atomically under
// its job id: OUT/results/<id>.jsonl (one JSON line; the shards of
// results.jsonl) and OUT/maps/<id>.npy. A job whose result exists (a worker
// killed after writing it, before telling Redis) is not scored again.
// Failed jobs are retried with exponential backoff; one that always fails
// ends in the failed set with its one-line error. bullmq is loaded only here,
// when a queue is used.
import * as fs from 'fs';
import * as path from 'path';
import type { Job, Worker } from 'bullmq';
import { expectedRange, expectedType, isPositiveInteger } from '../errors';
import { writeFileAtomicAsync } from '../io/atomic';
import { encodeNpy } from '../io/npy';
import { ImageScorer, ImageScorerOptions } from '../serve/image_scorer';
import { checkQueueName, redisConnection } from './connection';
import { ImageJob, jobIdOf } from './jobs';

export interface AddOptions {
  redis: string;
  queue: string;
  images: readonly string[];
  /** the class of every image (absent: the scoring decides) */
  class?: string;
  /** tries per job before it is failed (default 3) */
  attempts?: number;
  /** the first retry's delay, doubled for each next one (default 1000 ms) */
  backoffMs?: number;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  /** images/s over the most recent completed jobs (up to 1000); null with fewer than two */
  imagesPerSecond: number | null;
}

export interface WorkerOptions extends Omit<ImageScorerOptions, 'maxPending'> {
  redis: string;
  queue: string;
  /** the output folder (created when missing) */
  out: string;
  /** jobs in flight at once, scored together (default the batch size, 16) */
  concurrency?: number;
  /** how long a job's lock lives without renewal before another worker takes it over (default 30000 ms) */
  stallMs?: number;
}

export interface HgadWorker {
  worker: Worker;
  scorer: ImageScorer;
  /** resolves once the worker is connected and taking jobs */
  ready(): Promise<void>;
  /** finishes the jobs in flight, then disconnects and releases the model */
  close(): Promise<void>;
}

function checkOptions(o: { redis: string; queue: string }): void {
  if (o === null || typeof o !== 'object') throw expectedType('an options object {redis, queue, ...}', 'options', o);
  redisConnection(o.redis);
  checkQueueName(o.queue);
}

/** Queues one job per image; resolves to the job ids, in order. */
export async function addImages(options: AddOptions): Promise<string[]> {
  checkOptions(options);
  if (!Array.isArray(options.images) || options.images.length === 0) throw expectedType('a non-empty array of image paths', 'images', options.images);
  const attempts = options.attempts ?? 3;
  const backoffMs = options.backoffMs ?? 1000;
  if (!isPositiveInteger(attempts)) throw expectedRange('a positive integer', 'attempts', attempts);
  if (!Number.isInteger(backoffMs) || backoffMs < 0) throw expectedRange('an integer of milliseconds >= 0', 'backoffMs', backoffMs);
  const jobs = options.images.map((image) => {
    const data: ImageJob = { image: path.resolve(image), ...(options.class !== undefined ? { class: options.class } : {}) };
    return { name: 'score', data, opts: { jobId: jobIdOf(image), attempts, backoff: { type: 'exponential', delay: backoffMs } } };
  });
  const { Queue } = await import('bullmq');
  const queue = new Queue(options.queue, { connection: redisConnection(options.redis) });
  try {
    await queue.addBulk(jobs);
  } finally {
    await queue.close();
  }
  return jobs.map((j) => j.opts.jobId);
}

/** The queue's job counts and recent throughput. */
export async function queueStatus(options: { redis: string; queue: string }): Promise<QueueCounts> {
  checkOptions(options);
  const { Queue } = await import('bullmq');
  const queue = new Queue(options.queue, { connection: redisConnection(options.redis) });
  try {
    const c = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    const done = (await queue.getCompleted(0, 999)).map((j) => j.finishedOn).filter((t): t is number => typeof t === 'number');
    let imagesPerSecond: number | null = null;
    if (done.length >= 2) {
      const span = (Math.max(...done) - Math.min(...done)) / 1000;
      imagesPerSecond = span > 0 ? (done.length - 1) / span : null;
    }
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      delayed: c.delayed ?? 0,
      imagesPerSecond,
    };
  } finally {
    await queue.close();
  }
}

/** The result line a job writes. */
export interface JobResult {
  job: string;
  image: string;
  /** the class given, or (a job without one) the class inferred */
  class: string;
  /** class-free only: the inferred class's posterior and the rule */
  posterior?: number;
  rule?: string;
  score: number;
  map: string;
}

async function processJob(job: Job<ImageJob>, scorer: ImageScorer, out: string): Promise<JobResult> {
  const id = job.id!;
  const resultFile = path.join(out, 'results', `${id}.jsonl`);
  const existing = await fs.promises.readFile(resultFile, 'utf8').catch(() => null);
  if (existing !== null) {
    try {
      return JSON.parse(existing) as JobResult;
    } catch {
      // a result file that is not ours (or damaged): scored again and replaced
    }
  }
  const data = job.data;
  if (data === null || typeof data !== 'object' || typeof data.image !== 'string') throw expectedType('a job {image, class?}', `job ${id}`, data);
  const r = await scorer.score(data.class, data.image, data.image);
  const mapFile = path.join(out, 'maps', `${id}.npy`);
  await writeFileAtomicAsync(mapFile, encodeNpy({ dtype: 'float32', shape: [r.height, r.width], data: r.map }));
  const inferred = r.rule !== undefined ? { posterior: r.posterior, rule: r.rule } : {};
  const result: JobResult = { job: id, image: data.image, class: r.className, ...inferred, score: r.score, map: mapFile };
  await writeFileAtomicAsync(resultFile, Buffer.from(JSON.stringify(result) + '\n'));
  return result;
}

/** Loads the model and starts taking jobs from the queue. */
export async function createWorker(options: WorkerOptions): Promise<HgadWorker> {
  checkOptions(options);
  if (typeof options.out !== 'string' || options.out === '') throw expectedType('an output folder path', 'out', options.out);
  const maxBatch = options.maxBatch ?? 16;
  const concurrency = options.concurrency ?? maxBatch;
  const stallMs = options.stallMs ?? 30_000;
  if (!isPositiveInteger(concurrency)) throw expectedRange('a positive integer', 'concurrency', concurrency);
  if (!Number.isInteger(stallMs) || stallMs < 100) throw expectedRange('an integer of milliseconds >= 100', 'stallMs', stallMs);
  const out = path.resolve(options.out);
  fs.mkdirSync(path.join(out, 'results'), { recursive: true });
  fs.mkdirSync(path.join(out, 'maps'), { recursive: true });
  const scorer = await ImageScorer.open({ ...options, maxBatch, maxPending: Math.max(concurrency, maxBatch) });
  const { Worker } = await import('bullmq');
  let worker: Worker;
  try {
    worker = new Worker<ImageJob, JobResult>(options.queue, (job) => processJob(job, scorer, out), {
      connection: redisConnection(options.redis),
      concurrency,
      lockDuration: stallMs,
      stalledInterval: stallMs,
      maxStalledCount: 1,
      autorun: true,
    });
  } catch (e) {
    await scorer.close();
    throw e;
  }
  // Connection errors are retried by the client; they must not end the process.
  worker.on('error', () => undefined);
  let closing: Promise<void> | null = null;
  return {
    worker,
    scorer,
    ready: () => worker.waitUntilReady().then(() => undefined),
    close() {
      closing ??= (async () => {
        await worker.close();
        await scorer.close();
      })();
      return closing;
    },
  };
}
