// queue_scaling: images/s of two worker processes (one thread each,
// HGAD_NUM_THREADS=1) against one on the same queue of images, and the
// per-job overhead of the queue: one worker's seconds per image minus
// scoreImages' seconds per image (same batch size, one thread) in the same run.
//   node dist/bench/queue_scaling.js [--size 128] [--images 192] [--json FILE]
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { writeFileAtomic } from '../lib/io/atomic';
import { scoreImages } from '../lib/localise/score_images';
import { addImages, queueStatus } from '../lib/queue/index';
import { benchModel, CLI, startRedis } from './serve_setup';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function startWorker(redis: string, queue: string, model: string, out: string): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', '--redis', redis, '--queue', queue, '--model', model, '--out', out, '--max-batch', '16', '--concurrency', '16'],
    { stdio: 'ignore', env: { ...process.env, HGAD_NUM_THREADS: '1', OMP_NUM_THREADS: '1' } });
}

/** Seconds for `workers` processes to score the images once they are all up (the queue is filled after they start). */
async function run(redis: string, queue: string, model: string, images: string[], workers: number): Promise<number> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-bench-queue-out-'));
  const procs = Array.from({ length: workers }, () => startWorker(redis, queue, model, out));
  try {
    await new Promise((r) => setTimeout(r, 4000)); // model and backbone loaded
    const t0 = performance.now();
    await addImages({ redis, queue, images, class: 'a' });
    for (;;) {
      const s = await queueStatus({ redis, queue });
      if (s.completed + s.failed >= images.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return (performance.now() - t0) / 1000;
  } finally {
    for (const p of procs) p.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const size = arg('size', 128);
  const n = arg('images', 192);
  const jsonAt = process.argv.indexOf('--json');
  const { model, images } = await benchModel(size, n);
  const redis = await startRedis();
  const rows: Record<string, unknown>[] = [];
  try {
    process.env.HGAD_NUM_THREADS = '1';
    const m = await HGAD.load(model);
    await scoreImages(m, images.slice(0, 16), { class: 'a', batchSize: 16 });
    const t0 = performance.now();
    await scoreImages(m, images, { class: 'a', batchSize: 16 });
    const direct = (performance.now() - t0) / 1000;
    m.close();
    const one = await run(redis.url, 'one', model, images, 1);
    const two = await run(redis.url, 'two', model, images, 2);
    const row = {
      name: 'queue_scaling', images: n, size, cpus: os.cpus().length, loadavg: os.loadavg()[0],
      direct_images_per_s: n / direct, one_worker_images_per_s: n / one, two_workers_images_per_s: n / two, scaling: one / two,
      overhead_ms_per_job: ((one - direct) / n) * 1000,
    };
    rows.push(row);
    console.log(`scoreImages (one thread): ${row.direct_images_per_s.toFixed(1)} images/s; one worker ${row.one_worker_images_per_s.toFixed(1)} images/s; ` +
      `two workers ${row.two_workers_images_per_s.toFixed(1)} images/s (${row.scaling.toFixed(2)}x); queue overhead ${row.overhead_ms_per_job.toFixed(2)} ms a job; ` +
      `${row.cpus} CPUs, load average ${row.loadavg.toFixed(1)}`);
  } finally {
    redis.stop();
  }
  if (jsonAt > 0) writeFileAtomic(process.argv[jsonAt + 1], Buffer.from(JSON.stringify(rows, null, 2) + '\n'));
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
