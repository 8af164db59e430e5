// POST /v1/predict: the image's bytes (PNG, JPEG, TIFF, WebP) as the body, or
// a multipart body with several; ?class=NAME (or id), ?map=png|npy|none.
// Answers {class, score, map?} for one image, {results: [...]} for a
// multipart body. Only the bytes sent are read, never a path.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { encodeNpy } from '../io/npy';
import { heatmapPng } from '../maps/heatmap';
import { AbortedError, QueueFullError } from './batcher';
import { HttpError } from './http_error';
import type { ImageResult, ImageScorer } from './image_scorer';

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/tiff', 'image/webp', 'application/octet-stream'];
const MAP_FORMATS = ['png', 'npy', 'none'] as const;
type MapFormat = (typeof MAP_FORMATS)[number];

export interface PredictLimits {
  /** the most images in one multipart body */
  maxFiles: number;
  /** how long a request may wait for its answer before a 503 */
  requestTimeoutMs: number;
  /** seconds a client is told to wait after a 429 */
  retryAfterSeconds: number;
}

async function encodeMap(r: ImageResult, format: MapFormat): Promise<object | undefined> {
  if (format === 'none') return undefined;
  const bytes = format === 'npy'
    ? Buffer.from(encodeNpy({ dtype: 'float32', shape: [r.height, r.width], data: r.map }))
    : await heatmapPng({ map: r.map, width: r.width, height: r.height });
  return { format, width: r.width, height: r.height, data: bytes.toString('base64') };
}

async function answer(r: ImageResult, format: MapFormat, name?: string): Promise<object> {
  const map = await encodeMap(r, format);
  // class-free (no ?class): the inferred class with its posterior and the rule
  const inferred = r.rule !== undefined ? { posterior: r.posterior, rule: r.rule } : {};
  return { ...(name !== undefined ? { image: name } : {}), class: r.className, ...inferred, score: r.score, ...(map ? { map } : {}) };
}

/** The images of a request: the body, or every file part of a multipart body. */
async function imagesOf(req: FastifyRequest, maxFiles: number): Promise<{ name: string; data: Buffer }[]> {
  if (req.isMultipart()) {
    const images: { name: string; data: Buffer }[] = [];
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue;
      if (images.length >= maxFiles) throw new HttpError(413, `Expected at most ${maxFiles} images in one request but received more`);
      // A client's file name is only a label: nothing is read from the file system.
      images.push({ name: part.filename || `part ${images.length + 1}`, data: await part.toBuffer() });
    }
    if (images.length === 0) throw new HttpError(400, 'Expected at least one image file in the multipart body but received none');
    return images;
  }
  const body = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new HttpError(415, `Expected an image body (${IMAGE_TYPES.join(', ')}) or multipart/form-data but received ${req.headers['content-type'] ?? 'no content type'}${Buffer.isBuffer(body) ? ' with an empty body' : ''}`);
  }
  return [{ name: 'the image', data: body }];
}

export function registerPredict(app: FastifyInstance, scorer: ImageScorer, limits: PredictLimits): void {
  app.post('/v1/predict', async (req: FastifyRequest, reply: FastifyReply) => {
    const query = (req.query ?? {}) as Record<string, unknown>;
    const format = (query.map ?? 'none') as MapFormat;
    if (!MAP_FORMATS.includes(format)) throw new HttpError(400, `Expected png, npy or none for ?map but received ${JSON.stringify(query.map)}`);
    if (query.class !== undefined && typeof query.class !== 'string') throw new HttpError(400, 'Expected one class name for ?class but received several');
    // Absent: undefined goes down to the scoring, which says whether it needs one.
    const cls = query.class as string | undefined;
    scorer.classOf(cls, '?class');
    const images = await imagesOf(req, limits.maxFiles);
    if (scorer.room < images.length) {
      reply.header('Retry-After', String(limits.retryAfterSeconds));
      throw new HttpError(429, `the scoring queue is full (${scorer.pending} images pending); retry later`);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(`no answer within the request timeout of ${limits.requestTimeoutMs} ms`), limits.requestTimeoutMs);
    let results: ImageResult[];
    try {
      results = await Promise.all(images.map((im) => scorer.score(cls, im.data, im.name, controller.signal)));
    } catch (e) {
      if (e instanceof QueueFullError) {
        reply.header('Retry-After', String(limits.retryAfterSeconds));
        throw new HttpError(429, e.message);
      }
      if (e instanceof AbortedError) throw new HttpError(503, e.message);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (controller.signal.aborted) throw new HttpError(503, String(controller.signal.reason));
    (req as FastifyRequest & { images?: number }).images = results.length;
    if (!req.isMultipart()) return answer(results[0], format);
    return { results: await Promise.all(results.map((r, i) => answer(r, format, images[i].name))) };
  });
}
