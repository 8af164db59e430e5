// An error answered with its HTTP status and its one-line message as JSON
// ({"error": "..."}), and the status of the errors the layers below throw.
import { FormatError } from '../errors';
import { QueueFullError } from './batcher';

export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The status and one-line message an error is answered with. */
export function httpErrorOf(e: unknown): { status: number; message: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const line = err.message.split('\n')[0];
  if (err instanceof HttpError) return { status: err.statusCode, message: line };
  if (err instanceof QueueFullError) return { status: 429, message: line };
  // Fastify's own errors (body too large, unsupported media type, bad multipart) carry their status.
  const status = (err as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 600) return { status, message: line };
  // A bad image, an unknown class, a missing class: the client's mistake.
  if (err instanceof FormatError || err instanceof TypeError || err instanceof RangeError) return { status: 400, message: line };
  return { status: 500, message: line };
}
