// serve_throughput: images/s through hgad serve (HTTP, micro-batched) at
// client concurrency 1, 8 and 32 against scoreImages on the same images in
// the same run, p50/p99 latency at concurrency 1 and 8; and the load check:
// 1,000 concurrent requests end as 200 or 429 only, with the service's peak
// memory.
//   node dist/bench/serve_throughput.js [--size 128] [--images 256] [--load 1000] [--json FILE]
import * as fs from 'fs';
import { HGAD } from '../lib/hgad';
import { scoreImages } from '../lib/localise/score_images';
import { writeFileAtomic } from '../lib/io/atomic';
import { benchModel, peakRssMb, percentile, startServe } from './serve_setup';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const size = arg('size', 128);
  const n = arg('images', 256);
  const loadN = arg('load', 1000);
  const jsonAt = process.argv.indexOf('--json');
  const { model, images } = await benchModel(size, n);
  const bodies = images.map((f) => new Uint8Array(fs.readFileSync(f)));
  const rows: Record<string, unknown>[] = [];

  // Direct: scoreImages over all images, batches of 16 (the service's --max-batch), after a warm-up run.
  const m = await HGAD.load(model);
  await scoreImages(m, images.slice(0, 16), { class: 'a', batchSize: 16 });
  const direct: number[] = [];
  for (let r = 0; r < 3; ++r) {
    const t0 = performance.now();
    await scoreImages(m, images, { class: 'a', batchSize: 16 });
    direct.push(n / ((performance.now() - t0) / 1000));
  }
  m.close();
  direct.sort((a, b) => a - b);
  const directRate = direct[1];
  rows.push({ name: 'serve_throughput', mode: 'scoreImages', images_per_s: directRate });
  console.log(`scoreImages: ${directRate.toFixed(1)} images/s (median of 3, ${n} images of ${size}x${size}, batches of 16)`);

  const { proc, url } = await startServe(['--model', model, '--max-batch', '16', '--max-wait-ms', '10', '--max-queue', '256']);
  const post = (b: Uint8Array) => fetch(`${url}/v1/predict?class=a`, { method: 'POST', body: b as unknown as BodyInit, headers: { 'content-type': 'image/png' } });
  try {
    await Promise.all(bodies.slice(0, 32).map(post));
    for (const c of [1, 8, 32]) {
      const rates: number[] = [];
      let lat: number[] = [];
      for (let r = 0; r < 3; ++r) {
        const times: number[] = [];
        let next = 0;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: c }, async () => {
          while (next < n) {
            const i = next++;
            const s = performance.now();
            const res = await post(bodies[i]);
            if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
            await res.arrayBuffer();
            times.push(performance.now() - s);
          }
        }));
        rates.push(n / ((performance.now() - t0) / 1000));
        lat = lat.concat(times);
      }
      rates.sort((a, b) => a - b);
      lat.sort((a, b) => a - b);
      const row = { name: 'serve_throughput', mode: 'http', concurrency: c, images_per_s: rates[1], vs_scoreImages: rates[1] / directRate, p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99) };
      rows.push(row);
      console.log(`http c=${c}: ${rates[1].toFixed(1)} images/s (${row.vs_scoreImages.toFixed(2)}x scoreImages), p50 ${row.p50_ms.toFixed(1)} ms, p99 ${row.p99_ms.toFixed(1)} ms`);
    }
    // Load: every request at once.
    const statuses = new Map<number, number>();
    let errors = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: loadN }, async (_, i) => {
      try {
        const r = await post(bodies[i % n]);
        await r.arrayBuffer();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      } catch {
        errors++;
      }
    }));
    const alive = (await fetch(`${url}/healthz`)).status === 200;
    const row = { name: 'serve_load', requests: loadN, statuses: Object.fromEntries(statuses), transport_errors: errors, seconds: (performance.now() - t0) / 1000, alive, peak_rss_mb: peakRssMb(proc.pid!) };
    rows.push(row);
    console.log(`load: ${loadN} concurrent requests -> ${JSON.stringify(row.statuses)}, ${errors} transport errors, service alive: ${alive}, peak RSS ${row.peak_rss_mb?.toFixed(0)} MB, ${row.seconds.toFixed(1)} s`);
  } finally {
    proc.kill('SIGTERM');
  }
  if (jsonAt > 0) writeFileAtomic(process.argv[jsonAt + 1], Buffer.from(JSON.stringify(rows, null, 2) + '\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
