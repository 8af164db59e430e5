// hgad serve: an HTTP scoring service on Fastify. Routes: POST /v1/predict
// (predict_route.ts), GET /v1/model (the model's info summary), /healthz
// (the process answers), /readyz (model and backbone loaded, not draining),
// /metrics (Prometheus). The model scores in its worker thread and images
// decode in libuv's pool, so the event loop stays free to answer /healthz
// while the service is saturated. Binds 127.0.0.1 unless told otherwise;
// with a token, every route but /healthz and /readyz needs
// "Authorization: Bearer TOKEN" (compared in constant time).
import * as crypto from 'crypto';
import Fastify, { LogController, FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import * as http from 'http';
import pino, { DestinationStream } from 'pino';
import { expectedRange, expectedType } from '../errors';
import { HttpError, httpErrorOf } from './http_error';
import { ImageScorer, ImageScorerOptions } from './image_scorer';
import { createMetrics } from './metrics';
import { IMAGE_TYPES, registerPredict } from './predict_route';

export interface ServeOptions extends ImageScorerOptions {
  /** the address to bind (default 127.0.0.1) */
  host?: string;
  /** the port (default 8080; 0 picks a free one) */
  port?: number;
  /** when set, requests need "Authorization: Bearer <token>" */
  token?: string;
  /** the largest request body in bytes (default 32 MiB) */
  bodyLimit?: number;
  /** the most images in one multipart body (default 32) */
  maxFiles?: number;
  /** how long a request may wait for its answer (default 30 s) */
  requestTimeoutMs?: number;
  /** how long a client may take to send its headers (default 10 s) */
  headersTimeoutMs?: number;
  /** how long an idle connection is kept (default 5 s) */
  idleTimeoutMs?: number;
  /** where the request log goes (one JSON line per request); false for none (default stdout) */
  log?: DestinationStream | false;
}

export interface HgadServer {
  app: FastifyInstance;
  scorer: ImageScorer;
  /** starts listening; resolves to the service's base URL */
  listen(): Promise<string>;
  /** stops accepting, answers what is in flight, then releases the model (for SIGTERM) */
  close(): Promise<void>;
}

function checkMs(v: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw expectedRange('a positive integer of milliseconds', name, v);
  return v;
}

function tokenMatches(header: string | undefined, digest: Buffer): boolean {
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  // Digests of equal length make the comparison constant-time whatever the client sends.
  const given = crypto.createHash('sha256').update(header.slice(7)).digest();
  return crypto.timingSafeEqual(given, digest);
}

const OPEN_ROUTES = new Set(['/healthz', '/readyz']);

/** Loads the model and builds the service (not yet listening). */
export async function createServer(options: ServeOptions): Promise<HgadServer> {
  if (options === null || typeof options !== 'object') throw expectedType('an options object {model, ...}', 'options', options);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  if (typeof host !== 'string' || host === '') throw expectedType('a host name or address', 'host', host);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw expectedRange('a port in 0..65535', 'port', port);
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.trim() === '')) throw expectedType('a non-empty token', 'token', options.token);
  const bodyLimit = options.bodyLimit ?? 32 << 20;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1) throw expectedRange('a positive number of bytes', 'bodyLimit', bodyLimit);
  const maxFiles = options.maxFiles ?? 32;
  if (!Number.isInteger(maxFiles) || maxFiles < 1) throw expectedRange('a positive integer', 'maxFiles', maxFiles);
  const requestTimeoutMs = checkMs(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs');
  const headersTimeoutMs = checkMs(options.headersTimeoutMs ?? 10_000, 'headersTimeoutMs');
  const idleTimeoutMs = checkMs(options.idleTimeoutMs ?? 5_000, 'idleTimeoutMs');
  const digest = options.token !== undefined ? crypto.createHash('sha256').update(options.token.trim()).digest() : null;

  let metrics: ReturnType<typeof createMetrics> | undefined;
  const scorer = await ImageScorer.open({ ...options, onBatch: (size, ms) => { metrics?.batch(size); options.onBatch?.(size, ms); } });
  metrics = createMetrics(() => scorer.depth, () => scorer.pending);
  let draining = false;

  const logger: FastifyBaseLogger = options.log === false ? pino({ enabled: false }) : pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, options.log ?? pino.destination(1));
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // Slow clients: the whole request within the request timeout, headers
    // within theirs, idle keep-alive connections closed; checked every second.
    serverFactory: (handler) => http.createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, keepAliveTimeout: idleTimeoutMs, connectionsCheckingInterval: Math.min(1000, headersTimeoutMs) }, handler),
    connectionTimeout: requestTimeoutMs + idleTimeoutMs,
    keepAliveTimeout: idleTimeoutMs,
    return503OnClosing: true,
  });
  app.server.headersTimeout = headersTimeoutMs;
  app.server.requestTimeout = requestTimeoutMs;
  await app.register(multipart, { limits: { fileSize: bodyLimit, files: maxFiles, fields: 16, parts: maxFiles + 16 } });
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req) => {
    (req as FastifyRequest & { started?: number }).started = performance.now();
    if (digest && !OPEN_ROUTES.has(req.url.split('?')[0]) && !tokenMatches(req.headers.authorization, digest)) {
      throw new HttpError(401, 'Expected "Authorization: Bearer TOKEN" with the service\'s token but received ' + (req.headers.authorization ? 'another token' : 'none'));
    }
  });
  // One JSON line per request.
  app.addHook('onResponse', async (req, reply) => {
    const r = req as FastifyRequest & { started?: number; images?: number };
    const seconds = (performance.now() - (r.started ?? performance.now())) / 1000;
    const route = req.routeOptions.url ?? 'unknown';
    metrics!.request(route, reply.statusCode, seconds);
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(seconds * 1e4) / 10, images: r.images ?? 0 }, 'request');
  });
  app.setErrorHandler(async (e, _req, reply) => {
    const { status, message } = httpErrorOf(e);
    if (status === 429 && !reply.hasHeader('Retry-After')) reply.header('Retry-After', '1');
    return reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => (draining ? reply.code(503).send({ ready: false, why: 'draining' }) : { ready: true }));
  app.get('/v1/model', async () => ({ ...scorer.model.info(), kind: scorer.kind, maxBatch: scorer.maxBatch }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics!.registry.contentType).send(await metrics!.registry.metrics()));
  registerPredict(app, scorer, { maxFiles, requestTimeoutMs, retryAfterSeconds: 1 });

  let closing: Promise<void> | null = null;
  return {
    app,
    scorer,
    async listen() {
      try {
        return await app.listen({ host, port });
      } catch (e) {
        await scorer.close();
        throw new Error(`cannot listen on ${host}:${port} (${(e as Error).message.split('\n')[0]})`);
      }
    },
    close() {
      closing ??= (async () => {
        draining = true;
        await app.close();
        await scorer.close();
      })();
      return closing;
    },
  };
}
