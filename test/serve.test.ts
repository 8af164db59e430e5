// hgad serve through the library (createServer on a free port): answers equal
// the image scored alone whatever the batch, the bounded queue (429 with
// Retry-After), the token, the limits and bad
// inputs (one-line errors), slow clients, one log line per request, metrics.
import test from 'ava';
import * as fs from 'fs';
import * as net from 'net';
import sharp from 'sharp';
import { parseNpy } from '../lib/io/npy';
import { HGAD } from '../lib/hgad';
import { scoreImages } from '../lib/localise/score_images';
import { createServer, HgadServer, ServeOptions } from '../lib/serve/server';
import { scoringModel } from './helpers/scoring_model';

interface Started {
  server: HgadServer;
  url: string;
  batches: number[];
  logs: string[];
}

async function start(t: { teardown(f: () => Promise<void>): void }, options: Partial<ServeOptions> = {}): Promise<Started> {
  const { model } = await scoringModel();
  const batches: number[] = [];
  const logs: string[] = [];
  const server = await createServer({ model, port: 0, log: { write: (s: string) => void logs.push(s) }, onBatch: (n) => batches.push(n), ...options });
  const url = await server.listen();
  t.teardown(() => server.close());
  return { server, url, batches, logs };
}

async function post(url: string, body: Buffer, query = 'class=a', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/predict?${query}`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'image/png', ...headers } });
}

test.serial('concurrent requests are scored together, and each answer equals the image scored alone (scoreImages)', async (t) => {
  const { images, model } = await scoringModel();
  const { url, batches } = await start(t, { maxBatch: 8, maxWaitMs: 200 });
  const files = images.a.slice(0, 8);
  const answers = await Promise.all(files.map(async (f) => (await post(url, fs.readFileSync(f), 'class=a&map=npy')).json() as Promise<{ score: number; map: { data: string } }>));
  t.true(Math.max(...batches) > 1, `batches ${batches}`);
  const m = await HGAD.load(model);
  try {
    for (let i = 0; i < files.length; ++i) {
      const alone = await scoreImages(m, [files[i]], { class: 'a' });
      t.true(Math.abs(answers[i].score - alone.scores[0]) <= 1e-4 * Math.max(1, Math.abs(alone.scores[0])), `${files[i]}: ${answers[i].score} vs ${alone.scores[0]}`);
      const map = parseNpy(Buffer.from(answers[i].map.data, 'base64'));
      t.deepEqual(map.shape, [56, 56]);
      let worst = 0;
      for (let k = 0; k < alone.maps.length; ++k) worst = Math.max(worst, Math.abs(Number(map.data[k]) - alone.maps[k]));
      t.true(worst <= 1e-3, `map differs by ${worst}`);
    }
  } finally {
    m.close();
  }
});

test.serial('without ?class an image is scored class-free: its inferred class, posterior and rule, equal to scoreImages class-free on the image alone', async (t) => {
  const { images, model } = await scoringModel();
  const { url } = await start(t, { maxBatch: 4, maxWaitMs: 100 });
  const files = [images.a[0], images.a[1], images.b[0]];
  const answers = await Promise.all(files.map(async (f) => {
    const r = await post(url, fs.readFileSync(f), '');
    t.is(r.status, 200);
    return (await r.json()) as { class: string; posterior: number; rule: string; score: number };
  }));
  const m = await HGAD.load(model);
  try {
    for (let i = 0; i < files.length; ++i) {
      const alone = await scoreImages(m, [files[i]], {});
      const cf = alone.positions.classFree!;
      t.is(answers[i].class, m.config.classNames[cf.classes[0]]);
      t.is(answers[i].rule, cf.rule);
      t.true(Math.abs(answers[i].posterior - cf.posterior[0]) <= 1e-5, `${answers[i].posterior} vs ${cf.posterior[0]}`);
      t.true(Math.abs(answers[i].score - alone.scores[0]) <= 1e-4 * Math.max(1, Math.abs(alone.scores[0])), `${files[i]}: ${answers[i].score} vs ${alone.scores[0]}`);
    }
  } finally {
    m.close();
  }
});

test.serial('200 concurrent requests on a queue of 8: each ends as 200 or 429 (with Retry-After), and the service goes on', async (t) => {
  const { images } = await scoringModel();
  const { url } = await start(t, { maxBatch: 4, maxPending: 8, maxWaitMs: 0 });
  const body = fs.readFileSync(images.a[0]);
  const rs = await Promise.all(Array.from({ length: 200 }, () => post(url, body)));
  const statuses = rs.map((r) => r.status);
  t.true(statuses.every((s) => s === 200 || s === 429), String(statuses));
  t.true(statuses.includes(429) && statuses.includes(200), String(statuses));
  const refused = rs.find((r) => r.status === 429)!;
  t.is(refused.headers.get('retry-after'), '1');
  t.regex(((await refused.json()) as { error: string }).error, /queue is full/);
  t.is((await fetch(`${url}/healthz`)).status, 200);
  t.is((await post(url, body)).status, 200);
});

test.serial('--token: the scoring routes need the bearer token, /healthz and /readyz do not', async (t) => {
  const { images } = await scoringModel();
  const { url } = await start(t, { token: 's3cret' });
  const body = fs.readFileSync(images.a[0]);
  t.is((await post(url, body)).status, 401);
  t.is((await post(url, body, 'class=a', { authorization: 'Bearer wrong' })).status, 401);
  t.is((await fetch(`${url}/metrics`)).status, 401);
  t.is((await post(url, body, 'class=a', { authorization: 'Bearer s3cret' })).status, 200);
  t.is((await fetch(`${url}/healthz`)).status, 200);
  t.is((await fetch(`${url}/readyz`)).status, 200);
});

test.serial('bad requests get a one-line error and a 4xx, never a crash', async (t) => {
  const { images } = await scoringModel();
  const { url } = await start(t, { bodyLimit: 64 << 10, maxPixels: 100 * 100 });
  const body = fs.readFileSync(images.a[0]);
  const big = await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer();
  const cases: [string, Promise<Response>, number, RegExp][] = [
    ['garbage bytes', post(url, Buffer.from('not an image at all')), 400, /cannot read the image/],
    ['unknown class', post(url, body, 'class=zebra'), 400, /class of the model/],
    ['bad map format', post(url, body, 'class=a&map=gif'), 400, /png, npy or none/],
    ['too many pixels', post(url, big), 400, /more than the 10000 pixels/],
    ['body too large', post(url, Buffer.alloc(100 << 10, 1)), 413, /.+/],
    ['not an image type', fetch(`${url}/v1/predict?class=a`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }), 415, /.+/],
    ['empty body', post(url, Buffer.alloc(0)), 415, /Expected an image body/],
    ['unknown route', fetch(`${url}/v1/nothing`), 404, /no route GET \/v1\/nothing/],
  ];
  for (const [what, pending, status, message] of cases) {
    const r = await pending;
    t.is(r.status, status, what);
    const e = ((await r.json()) as { error: string }).error;
    t.regex(e, message, what);
    t.false(e.includes('\n'), `${what}: one line`);
  }
  t.is((await post(url, body)).status, 200, 'still serving');
});

test.serial('multipart bodies score several images; map=png is a PNG of the crop', async (t) => {
  const { images } = await scoringModel();
  const { url } = await start(t);
  const form = new FormData();
  form.append('x', new Blob([fs.readFileSync(images.a[0])], { type: 'image/png' }), 'one.png');
  form.append('y', new Blob([fs.readFileSync(images.a[1])], { type: 'image/png' }), 'two.png');
  const r = await fetch(`${url}/v1/predict?class=a&map=png`, { method: 'POST', body: form });
  t.is(r.status, 200);
  const { results } = (await r.json()) as { results: { image: string; class: string; score: number; map: { format: string; data: string } }[] };
  t.deepEqual(results.map((x) => x.image), ['one.png', 'two.png']);
  const meta = await sharp(Buffer.from(results[0].map.data, 'base64')).metadata();
  t.is(meta.format, 'png');
  t.deepEqual([meta.width, meta.height], [56, 56]);
});

test.serial('a client that never finishes its headers is disconnected after the headers timeout', async (t) => {
  const { url } = await start(t, { headersTimeoutMs: 300 });
  const port = Number(new URL(url).port);
  const t0 = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\n'));
    s.on('data', () => undefined);
    s.on('close', () => resolve(Date.now() - t0));
    s.on('error', () => undefined);
  });
  t.true(closedAfter < 5000, `closed after ${closedAfter} ms`);
});

test.serial('one JSON log line per request; /metrics counts requests, batches and images', async (t) => {
  const { images } = await scoringModel();
  const { url, logs } = await start(t);
  await post(url, fs.readFileSync(images.b[0]), 'class=b');
  await fetch(`${url}/healthz`);
  await fetch(`${url}/v1/model`);
  const text = await (await fetch(`${url}/metrics`)).text();
  t.regex(text, /hgad_http_requests_total\{route="\/v1\/predict",status="200"\} 1/);
  t.regex(text, /hgad_batch_size_count 1/);
  t.regex(text, /hgad_images_scored_total 1/);
  t.regex(text, /hgad_queue_depth 0/);
  t.regex(text, /hgad_images_per_second/);
  const lines = logs.join('').split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as { url: string; status: number }).filter((l) => l.url !== '/metrics');
  t.deepEqual(lines.map((l) => [l.url, l.status]), [['/v1/predict?class=b', 200], ['/healthz', 200], ['/v1/model', 200]]);
});
