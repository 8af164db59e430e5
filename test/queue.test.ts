// hgad queue / hgad worker against a real redis-server of the test's own (a
// free loopback port, a temporary folder): the same images added twice are
// queued once; a worker killed with kill -9 mid-run has its jobs taken over
// and every image ends with exactly one result; a Redis restarted mid-run
// loses nothing; a corrupt image among many fails alone, with its one-line
// error, after its retries.
import test from 'ava';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { addImages, createWorker, queueStatus } from '../lib/queue/index';
import { jobIdOf } from '../lib/queue/jobs';
import { CLI, runCli } from './helpers/cli_run';
import { tempDir } from './helpers/mvtec';
import { TestRedis } from './helpers/redis';
import { scoringModel } from './helpers/scoring_model';

let redis: TestRedis;
test.before(async () => {
  redis = await TestRedis.start();
});
test.after.always(async () => {
  await redis?.stop();
});

/** `n` distinct image files (copies of the test images under new names, so each has its own job). */
async function imageSet(n: number): Promise<string[]> {
  const { images } = await scoringModel();
  const dir = tempDir('hgad-queue-img-');
  const all = [...images.a];
  return Array.from({ length: n }, (_, i) => {
    const f = path.join(dir, `img${String(i).padStart(3, '0')}.png`);
    fs.copyFileSync(all[i % all.length], f);
    return f;
  });
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startWorker(model: string, queue: string, out: string, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--queue', queue, '--model', model, '--out', out, '--stall-ms', '1000', ...extra],
    { stdio: 'ignore', env: { ...process.env, HGAD_NUM_THREADS: '1', HGAD_DEBUG: '' } });
}

function results(out: string): { job: string; image: string; score: number }[] {
  const dir = path.join(out, 'results');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
}

test.serial('the same images added twice are queued once; status counts them', async (t) => {
  const images = await imageSet(5);
  const r1 = await runCli(['queue', 'add', '--redis', redis.url, '--queue', 'dedupe', '--class', 'a', ...images]);
  t.is(r1.code, 0, r1.stderr);
  const manifest = path.join(path.dirname(images[0]), 'list.txt');
  fs.writeFileSync(manifest, '# the same five\n' + images.map((f) => path.basename(f)).join('\n') + '\n');
  const r2 = await runCli(['queue', 'add', '--redis', redis.url, '--queue', 'dedupe', '--class', 'a', '--manifest', manifest]);
  t.is(r2.code, 0, r2.stderr);
  const s = await runCli(['queue', 'status', '--redis', redis.url, '--queue', 'dedupe', '--json']);
  t.is(s.code, 0, s.stderr);
  t.like(JSON.parse(s.stdout), { waiting: 5, active: 0, completed: 0, failed: 0 });
  t.is(jobIdOf(images[0]), jobIdOf(path.join(path.dirname(images[0]), '.', path.basename(images[0]))));
  const text = await runCli(['queue', 'status', '--redis', redis.url, '--queue', 'dedupe']);
  t.regex(text.stdout, /waiting 5 {2}active 0 .*completed 0 {2}failed 0/);
});

test.serial('a worker killed with kill -9 mid-run: its jobs are taken over and every image ends with exactly one result', async (t) => {
  const { model } = await scoringModel();
  const images = await imageSet(30);
  const out = tempDir('hgad-queue-out-');
  await addImages({ redis: redis.url, queue: 'kill', images, class: 'a' });
  const first = startWorker(model, 'kill', out, ['--concurrency', '4', '--max-batch', '4']);
  t.teardown(() => void first.kill('SIGKILL'));
  await until('the first results', 60_000, async () => (await queueStatus({ redis: redis.url, queue: 'kill' })).completed >= 3);
  first.kill('SIGKILL');
  const before = await queueStatus({ redis: redis.url, queue: 'kill' });
  t.true(before.completed < 30, 'killed mid-run');
  const second = startWorker(model, 'kill', out, ['--concurrency', '4', '--max-batch', '4']);
  t.teardown(() => void second.kill('SIGKILL'));
  await until('every job', 90_000, async () => (await queueStatus({ redis: redis.url, queue: 'kill' })).completed === 30);
  second.kill('SIGTERM');
  const status = await queueStatus({ redis: redis.url, queue: 'kill' });
  t.like(status, { completed: 30, failed: 0, active: 0, waiting: 0 });
  const lines = results(out);
  t.is(lines.length, 30);
  t.deepEqual(lines.map((l) => l.image).sort(), images.map((f) => path.resolve(f)).sort());
  t.deepEqual([...new Set(lines.map((l) => l.job))].sort(), images.map(jobIdOf).sort());
  for (const l of lines) {
    t.true(Number.isFinite(l.score));
    t.true(fs.existsSync(path.join(out, 'maps', `${l.job}.npy`)));
  }
  t.deepEqual(fs.readdirSync(path.join(out, 'results')).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
});

test.serial('Redis restarted mid-run: the worker reconnects and no job is lost', async (t) => {
  const { model } = await scoringModel();
  const images = await imageSet(24);
  const out = tempDir('hgad-queue-out-');
  await addImages({ redis: redis.url, queue: 'restart', images, class: 'a' });
  const w = await createWorker({ redis: redis.url, queue: 'restart', model, out, concurrency: 2, maxBatch: 2, stallMs: 1000 });
  t.teardown(() => w.close());
  await w.ready();
  await until('the first results', 60_000, async () => (await queueStatus({ redis: redis.url, queue: 'restart' })).completed >= 2);
  await redis.stop();
  await new Promise((r) => setTimeout(r, 500));
  await redis.restart();
  await until('every job', 90_000, async () => (await queueStatus({ redis: redis.url, queue: 'restart' })).completed === 24);
  const lines = results(out);
  t.is(lines.length, 24);
  t.deepEqual(lines.map((l) => l.image).sort(), images.map((f) => path.resolve(f)).sort());
  t.like(await queueStatus({ redis: redis.url, queue: 'restart' }), { failed: 0, active: 0, waiting: 0 });
});

test.serial('a corrupt image among many fails alone, after its retries, with its one-line error', async (t) => {
  const { model } = await scoringModel();
  const images = await imageSet(24);
  const bad = images[11];
  fs.writeFileSync(bad, 'this is not a PNG');
  const out = tempDir('hgad-queue-out-');
  await addImages({ redis: redis.url, queue: 'corrupt', images, class: 'a', attempts: 2, backoffMs: 50 });
  const w = await createWorker({ redis: redis.url, queue: 'corrupt', model, out, concurrency: 4, maxBatch: 4 });
  t.teardown(() => w.close());
  await until('every job settled', 90_000, async () => {
    const s = await queueStatus({ redis: redis.url, queue: 'corrupt' });
    return s.completed + s.failed === 24;
  });
  t.like(await queueStatus({ redis: redis.url, queue: 'corrupt' }), { completed: 23, failed: 1 });
  const { Queue } = await import('bullmq');
  const q = new Queue('corrupt', { connection: { host: '127.0.0.1', port: redis.port } });
  t.teardown(() => q.close());
  const [failed] = await q.getFailed();
  t.is(failed.id, jobIdOf(bad));
  t.is(failed.attemptsMade, 2);
  t.regex(failed.failedReason, /img011\.png: cannot read the image/);
  t.false(failed.failedReason.includes('\n'));
  t.is(results(out).length, 23);
  t.false(fs.existsSync(path.join(out, 'results', `${jobIdOf(bad)}.jsonl`)));
});

test.serial('queue commands: one-line errors for bad arguments, and the main commands load no Redis client', async (t) => {
  const none = await runCli(['queue', 'add', '--redis', redis.url, '--queue', 'x']);
  t.is(none.code, 2);
  t.regex(none.stderr, /exactly one of --manifest F, --dir DIR or IMAGE/);
  const url = await runCli(['queue', 'status', '--redis', 'http://127.0.0.1:1', '--queue', 'x']);
  t.is(url.code, 1);
  t.regex(url.stderr, /Expected a redis:\/\/ or rediss:\/\/ URL for redis/);
  const name = await runCli(['queue', 'status', '--redis', redis.url, '--queue', 'a:b']);
  t.is(name.code, 1);
  t.regex(name.stderr, /Expected a queue name/);
  const missing = await runCli(['queue', 'add', '--redis', redis.url, '--queue', 'x', '/nonexistent/image.png']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no such image file/);
  // The library's entry point and the CLI's help load neither bullmq nor ioredis.
  const probe = `require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))}); const loaded = Object.keys(require.cache).filter((k) => /node_modules\\/(bullmq|ioredis)\\//.test(k)); process.stdout.write(String(loaded.length));`;
  const { execFileSync } = await import('child_process');
  t.is(execFileSync(process.execPath, ['-e', probe]).toString(), '0');
});
