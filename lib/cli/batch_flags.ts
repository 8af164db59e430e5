// The flags of the commands that score images as they arrive (serve, worker):
// micro-batching and the batch-independent map kinds, parsed once.
import type { MapKind } from '../hgad/map_kind';
import { ParsedArgs } from './args';
import type { FlagSpec as Flag } from './args';

export const BATCH_FLAGS: Flag[] = [
  { name: 'max-batch', value: 'N', help: 'the most images scored together (default 16)' },
  { name: 'max-wait-ms', value: 'MS', help: 'how long the first image of a batch waits for others (default 10)' },
];

export const BATCH_SCORE_FLAG: Flag = { name: 'score', value: 'KIND', help: 'calibrated (default) or class-calibrated: the batch-independent kinds' };

/** --max-batch, --max-wait-ms, --score, --sigma and --top-k as the scorer's options. */
export function batchScoring(args: ParsedArgs): { maxBatch: number; maxWaitMs: number | undefined; kind: MapKind; sigma: number | undefined; topK: number | undefined } {
  return {
    maxBatch: args.int('max-batch', { min: 1, fallback: 16 })!,
    maxWaitMs: args.number('max-wait-ms', { min: 0, fallback: 10 }),
    kind: args.choice('score', ['calibrated', 'class-calibrated'] as const, 'calibrated') as MapKind,
    sigma: args.number('sigma', { min: 0, fallback: 4 }),
    topK: args.int('top-k', { min: 1, fallback: 1 }),
  };
}
