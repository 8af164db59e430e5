// The reference's two-stage training loop of one level: shuffled batches
// gathered on the model's device, the flow and the mixture loss, backward,
// Adam with the warm-up/step schedule. A non-finite loss stops the fit with
// where it happened; no step is taken with it.
import { backward } from '../autograd/tape';
import { MixtureLossTerms } from '../nn/mixture';
import { Adam } from '../optim/adam';
import { Random } from '../random';
import { Tensor } from '../tensor';
import { TrainConfig, trainingSchedule } from './config';
import type { HgadModel } from './model';
import { FitProgress, LevelData } from './types';

/** Trains level l on its N vectors; returns the last iteration's losses. */
export function fitLevel(model: HgadModel, l: number, d: LevelData, N: number, opts: TrainConfig, onProgress?: (p: FitProgress) => void): MixtureLossTerms & { loss: number } {
  const { flow, mixture } = model.levels[l];
  const { channels: C, condChannels: P } = model.config.levels[l];
  const K = model.classes;
  const be = model.backend;
  const rng = new Random(opts.seed * 1000003 + l);
  const batch = Math.min(opts.batchSize, N);
  const iterations = Math.floor(N / batch);
  const lrTable = trainingSchedule(opts, iterations);
  const adam = new Adam([
    { name: 'flow', params: flow.parameters(), lr: opts.lr, betas: [0.95, 0.99], weightDecay: 1e-4 },
    { name: 'centres', params: [mixture.mu, mixture.muDelta], lr: 3 * opts.lr, betas: [0.95, 0.99], weightDecay: 0 },
    { name: 'weights', params: [mixture.phiInter, mixture.phiIntra], lr: opts.lr, betas: [0.95, 0.99], weightDecay: 0 },
  ]);
  const params = [...flow.parameters(), ...mixture.parameters()];
  // The training set on the model's device, once (the CPU reads the caller's arrays).
  const onDevice = be.device !== 'cpu';
  const all = be.persistent(() => ({
    x: onDevice ? be.fromHost(d.features, 'float32') : d.features,
    cond: P > 0 ? (onDevice ? be.fromHost(d.cond!, 'float32') : d.cond!) : null,
    labels: onDevice ? be.intFromHost(d.labels) : d.labels,
  }));
  const order = Int32Array.from({ length: N }, (_, i) => i);
  let last: MixtureLossTerms & { loss: number } = { L_g: NaN, L_e: NaN, L_mi: NaN, loss: NaN };
  try {
    for (let epoch = 0; epoch < opts.epochs; ++epoch) {
      rng.shuffle(order);
      const stage: 1 | 2 = epoch < opts.stage1Epochs ? 1 : 2;
      for (let it = 0; it < iterations; ++it) {
        const t0 = Date.now();
        const lr = lrTable[epoch * iterations + it];
        adam.setLearningRate(lr);
        const where = `level ${l}, epoch ${epoch + 1}, iteration ${it + 1} (a batch of ${batch} vectors)`;
        const advice = `Lower the learning rate (now ${lr.toExponential(2)}) or check the features' scale.`;
        const { arena } = be.arena(() => {
          const idx = be.intFromHost(order.subarray(it * batch, (it + 1) * batch));
          const x = Tensor.empty([batch, C], 'float32', be);
          be.gatherRows(batch, C, all.x, idx, x.storage);
          let cond: Tensor | null = null;
          if (all.cond) {
            cond = Tensor.empty([batch, P], 'float32', be);
            be.gatherRows(batch, P, all.cond, idx, cond.storage);
          }
          const labels = be.allocInt(batch);
          be.gatherRows(batch, 1, all.labels, idx, labels);
          const Y = be.alloc(batch * K, 'float32');
          be.oneHot(batch, K, labels, opts.labelSmoothing, Y);
          let step;
          try {
            const { z, logdet } = flow.forwardChecked(x, cond);
            step = mixture.loss(z, logdet, labels, Y, stage, opts);
          } catch (err) {
            // Inputs were validated up front, so a non-finite value here comes from diverged weights.
            throw new Error(`fit: training diverged at ${where}: ${(err as Error).message}. ${advice}`);
          }
          const { loss, terms } = step;
          const v = be.readScalar(loss.storage);
          if (!Number.isFinite(v)) {
            throw new Error(`fit: the loss became ${v} at ${where}; no step was taken with it. ${advice}`);
          }
          try {
            backward(loss);
            adam.step();
          } finally {
            for (const p of params) p.grad = null;
          }
          last = { ...terms, loss: v };
        });
        // The step's intermediates go back to the allocator once its work is queued.
        arena.dispose();
        if (onProgress) {
          if (onDevice) be.synchronize();
          const seconds = Math.max(1e-3, (Date.now() - t0) / 1000);
          onProgress({ level: l, epoch, epochs: opts.epochs, iteration: it, iterations, stage, losses: last, lr, vectorsPerSecond: batch / seconds });
        }
      }
    }
  } finally {
    if (onDevice) {
      be.release(all.x);
      be.release(all.cond);
      be.release(all.labels);
    }
    adam.release();
  }
  return last;
}
