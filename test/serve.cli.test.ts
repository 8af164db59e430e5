// hgad serve as a process: /healthz answers in under 10 ms (median) while the
// service is saturated by another process (the backbone and the model run
// off the event loop), and SIGTERM answers every request in flight, then
// exits 0.
import test from 'ava';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { CLI } from './helpers/cli_run';
import { scoringModel } from './helpers/scoring_model';

function startServe(model: string, extra: string[] = []): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HGAD_DEBUG: '', HGAD_NUM_THREADS: '1' } });
  let err = '';
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (\S+)/.exec(err);
      if (m) resolve({ proc, url: m[1], stderr: () => err });
    });
    proc.once('exit', (code) => reject(new Error(`hgad serve exited with ${code}: ${err}`)));
  });
}

function exitOf(proc: ChildProcess): Promise<number | null> {
  return proc.exitCode !== null ? Promise.resolve(proc.exitCode) : new Promise((r) => proc.once('exit', (code) => r(code)));
}

test.serial('/healthz answers in under 10 ms (median) while another process saturates the service', async (t) => {
  // A crop of 128: each batch keeps the backbone busy for tens of milliseconds, which the event loop would feel.
  const { model, images } = await scoringModel(128);
  const { proc, url } = await startServe(model, ['--max-batch', '16', '--max-wait-ms', '5']);
  t.teardown(() => void proc.kill('SIGKILL'));
  // /healthz over a connection of its own, opened before the load.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const healthz = () => new Promise<{ status: number; ms: number }>((resolve, reject) => {
    const t0 = performance.now();
    http.get(`${url}/healthz`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    }).on('error', reject);
  });
  await healthz();
  const script = `const img = require('fs').readFileSync(${JSON.stringify(images.a[0])});
    (async () => { const s = []; for (let k = 0; k < 2; k++) s.push(...await Promise.all(Array.from({ length: 64 }, () =>
      fetch(${JSON.stringify(url)} + '/v1/predict?class=a', { method: 'POST', body: img, headers: { 'content-type': 'image/png' } }).then((r) => r.status))));
      process.stdout.write(JSON.stringify(s)); })()`;
  const loader = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  loader.stdout!.on('data', (d) => (out += d));
  let running = true;
  loader.once('exit', () => (running = false));
  const times: number[] = [];
  await new Promise((r) => setTimeout(r, 300));
  while (running) {
    const r = await healthz();
    t.is(r.status, 200);
    if (running) times.push(r.ms);
    await new Promise((r) => setTimeout(r, 20));
  }
  const statuses = JSON.parse(out) as number[];
  t.is(statuses.length, 128);
  t.true(statuses.every((s) => s === 200), String(statuses));
  t.true(times.length >= 10, `only ${times.length} answers while saturated`);
  times.sort((a, b) => a - b);
  t.true(times[times.length >> 1] < 10, `healthz median ${times[times.length >> 1].toFixed(1)} ms of ${times.length}`);
});

test.serial('SIGTERM answers every request in flight, then the service exits 0', async (t) => {
  const { model, images } = await scoringModel();
  const { proc, url, stderr } = await startServe(model, ['--max-batch', '2', '--max-wait-ms', '5']);
  t.teardown(() => void proc.kill('SIGKILL'));
  const body = new Uint8Array(fs.readFileSync(images.a[0]));
  const requests = Array.from({ length: 16 }, () => fetch(`${url}/v1/predict?class=a`, { method: 'POST', body, headers: { 'content-type': 'image/png' } }).then(async (r) => ({ status: r.status, body: await r.json() })));
  // Signalled once the service holds the requests (the first answers are out).
  await Promise.race(requests);
  proc.kill('SIGTERM');
  const answers = await Promise.all(requests);
  t.deepEqual(answers.map((a) => a.status), Array(16).fill(200));
  t.true(answers.every((a) => typeof (a.body as { score: number }).score === 'number'));
  t.is(await exitOf(proc), 0, stderr());
  t.regex(stderr(), /SIGTERM, answering the requests in flight/);
  t.regex(stderr(), /stopped/);
});
