// Scoring of one level: the flow forward and the mixture's class-conditional
// log-likelihood and inter-class entropy, chunk by chunk.
import { noGrad } from '../autograd/tape';
import { Arena, Storage } from '../backend/types';
import { Tensor } from '../tensor';
import type { HgadModel } from './model';
import { unshared } from './checks';
import { LevelInput, LevelScores } from './types';

/**
 * Scores one level in chunks. On a device the chunks are pipelined: the
 * upload of chunk i+1 (upload stream) overlaps the compute of chunk i
 * (compute stream), whose results come back on the download stream while
 * chunk i+1 computes.
 */
export function scoreLevel(model: HgadModel, l: number, input: LevelInput, classes: Int32Array, chunk?: number): LevelScores {
  const { flow, head } = model.levels[l];
  const { channels: C, condChannels: P } = model.config.levels[l];
  const be = model.backend;
  const size = chunk ?? model.scoreChunkSize ?? (be.device === 'cpu' ? 16384 : 65536);
  const N = input.features.length / C;
  const logp = new Float32Array(N);
  const negEntropy = new Float32Array(N);
  interface InFlight {
    start: number;
    n: number;
    out: { logp: Storage; negEntropy: Storage };
    arena: Arena;
  }
  const enqueue = (start: number): InFlight => {
    const n = Math.min(size, N - start);
    const { result, arena } = be.arena(() => {
      // unshared: a chunk of a shared array (fit's data set) is copied alone before a device upload.
      const x = new Tensor(be.stage(unshared(input.features.subarray(start * C, (start + n) * C))), [n, C]);
      const cond = P > 0 ? new Tensor(be.stage(unshared(input.cond!.subarray(start * P, (start + n) * P))), [n, P]) : null;
      const cls = be.stageInt(unshared(classes.subarray(start, start + n)));
      be.afterStaged();
      const { z, logdet } = flow.forwardChecked(x, cond);
      const out = head.scoreStorage(z, logdet, cls);
      be.markComputed();
      return out;
    });
    return { start, n, out: result, arena };
  };
  const finish = (f: InFlight) => {
    try {
      be.readback(f.out.logp, logp.subarray(f.start, f.start + f.n));
      be.readback(f.out.negEntropy, negEntropy.subarray(f.start, f.start + f.n));
    } finally {
      f.arena.dispose();
    }
  };
  noGrad(() => {
    let current: InFlight | null = enqueue(0);
    try {
      while (current) {
        const next: InFlight | null = current.start + current.n < N ? enqueue(current.start + current.n) : null;
        const done: InFlight = current;
        current = next;
        finish(done);
      }
    } finally {
      if (current) {
        be.synchronize();
        current.arena.dispose();
      }
    }
  });
  return { logp, negEntropy };
}
