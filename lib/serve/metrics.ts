// The service's Prometheus metrics (prom-client, a registry of its own so
// that two services in one process do not share counters): requests by route
// and status, request latency, batch sizes, queue depth and images/s.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ServeMetrics {
  registry: Registry;
  request(route: string, status: number, seconds: number): void;
  batch(size: number): void;
}

/** `depth()` and `pending()` are read at scrape time. */
export function createMetrics(depth: () => number, pending: () => number, windowSeconds = 10): ServeMetrics {
  const registry = new Registry();
  const requests = new Counter({ name: 'hgad_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'] as const, registers: [registry] });
  const latency = new Histogram({
    name: 'hgad_http_request_duration_seconds',
    help: 'time from request to answer, by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const batches = new Histogram({ name: 'hgad_batch_size', help: 'images per scoring batch', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry] });
  const images = new Counter({ name: 'hgad_images_scored_total', help: 'images scored', registers: [registry] });
  new Gauge({ name: 'hgad_queue_depth', help: 'images decoded and waiting for a batch', registers: [registry], collect() { this.set(depth()); } });
  new Gauge({ name: 'hgad_queue_pending', help: 'images admitted and not yet answered (decoding, waiting or scoring)', registers: [registry], collect() { this.set(pending()); } });
  // images/s over the last `windowSeconds`: per-second buckets of a ring.
  const ring = new Float64Array(windowSeconds);
  let ringSecond = Math.floor(Date.now() / 1000);
  const advance = (now: number): void => {
    for (let s = ringSecond + 1; s <= now && s <= ringSecond + windowSeconds; ++s) ring[s % windowSeconds] = 0;
    ringSecond = Math.max(ringSecond, now);
  };
  new Gauge({
    name: 'hgad_images_per_second',
    help: `images scored per second over the last ${windowSeconds} s`,
    registers: [registry],
    collect() {
      advance(Math.floor(Date.now() / 1000));
      this.set(ring.reduce((a, b) => a + b, 0) / windowSeconds);
    },
  });
  return {
    registry,
    request(route, status, seconds) {
      requests.inc({ route, status: String(status) });
      latency.observe({ route }, seconds);
    },
    batch(size) {
      batches.observe(size);
      images.inc(size);
      const now = Math.floor(Date.now() / 1000);
      advance(now);
      ring[now % windowSeconds] += size;
    },
  };
}
