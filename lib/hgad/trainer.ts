// The reference's training loop (train.py of HGAD) over a FeatureSource, step
// for step: meta-epochs x sub-epochs; the learning rate set to the cosine
// value of the meta-epoch and, during the warm-up meta-epochs, ramped per
// iteration from lr/10; every image batch trains level after level, each
// level's positions through its own flow and mixture, each with its own step
// of ONE Adam over every parameter of every level (set_to_none zero_grad: a
// parameter without a gradient in a step is not stepped, gets no weight decay
// and keeps its step count); stage 1 while meta-epoch < stage1Epochs.
// Beyond the reference: position sampling (a step trains n of each image's
// positions, position_sampling.ts), a preview that times the first steps
// (fit_estimate.ts) and a time budget that cuts the schedule to fit.
import { backward } from '../autograd/tape';
import { FeatureSource } from '../data/feature_source';
import { expectedRange, expectedType, received } from '../errors';
import { Adam } from '../optim/adam';
import { scheduleTable } from '../optim/schedule';
import { Random } from '../random';
import { Tensor } from '../tensor';
import { DivergenceGuard, divergenceAdvice } from './divergence';
import { budgetSchedule, FitEstimate, fitCounts } from './fit_estimate';
import { PositionSampler, sampledPositions } from './position_sampling';
import { LevelBatch } from './level_batch';
import type { HgadModel } from './model';
import type { StepLosses, TrainProgress } from './types';
import { SourceTrainConfig, validateSourceTrainConfig } from './train_options';
import { timeCalibration } from './source_calibration';

export type { SourceTrainConfig } from './train_options';
export { DEFAULT_SOURCE_TRAIN } from './train_options';

export type { StepLosses, TrainProgress } from './types';

export interface TrainSummary {
  seconds: number;
  steps: number;
  /** each level's losses in its last step */
  finalLosses: StepLosses[];
  vectorsPerSecond: number;
  /** the schedule the run had (after a time budget cut it) */
  schedule: TrainedSchedule;
  /** the preview, when one was asked for (preview, dryRun, timeBudget) */
  estimate?: FitEstimate;
}

/** What a model records of the run that trained it. */
export type TrainedSchedule = {
  metaEpochs: number;
  subEpochs: number;
  warmEpochs: number;
  stage1Epochs: number;
  imagesPerBatch: number;
  lr: number;
  /** positions trained per image at each level (each level's h*w: every position) */
  positionsPerImage: number[];
  /** vectors trained, every level */
  vectors: number;
  /** the budget the schedule was cut to, in seconds */
  timeBudget?: number;
  /** 1 when the budget ran out before the schedule's end (a machine slower than at the timing); vectors then counts those trained */
  stoppedAtBudget?: number;
  /** images the calibration read when capped per class (calibrationImages) */
  calibrationImages?: number;
};

/** The ids of every batch of one sub-epoch. */
function subEpochBatches(opts: SourceTrainConfig, numImages: number, rng: Random): Int32Array[] {
  if (opts.batches) return opts.batches.map((b) => Int32Array.from(b));
  const order = Int32Array.from({ length: numImages }, (_, i) => i);
  if (opts.shuffle) rng.shuffle(order);
  const B = opts.imagesPerBatch;
  const out: Int32Array[] = [];
  for (let s = 0; s + (opts.dropLast ? B : 1) <= numImages; s += B) out.push(order.subarray(s, Math.min(s + B, numImages)));
  return out;
}

function where(opts: SourceTrainConfig, l: number, me: number, se: number, it: number): string {
  const epoch = opts.subEpochs === 1 ? `epoch ${me + 1}` : `meta-epoch ${me + 1}, sub-epoch ${se + 1}`;
  return `level ${l}, ${epoch}, iteration ${it + 1}`;
}

/**
 * Trains `model` in place on `source` (every level of the model, in order)
 * and returns when done. On an error (a non-finite loss names its level,
 * meta-epoch and iteration) the model's weights are restored to what they
 * were before the call. onProgress runs after every optimizer step; with
 * preview, dryRun or timeBudget, onPreview gets the estimate (from a timing
 * of the first steps, weights restored after it) before training starts.
 * `calibration`: the images the caller will calibrate on after training
 * (fitSourceSync); the preview times it too and a time budget keeps room for
 * it.
 */
export function trainFromSource(model: HgadModel, source: FeatureSource, options?: Partial<SourceTrainConfig>,
  onProgress?: (p: TrainProgress) => void, onPreview?: (e: FitEstimate) => void,
  calibration?: { images: Int32Array; imagesPerBatch: number }): TrainSummary {
  if (typeof source !== 'object' || source === null || typeof source.read !== 'function') {
    throw expectedType('a FeatureSource', 'source', source);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') throw expectedType('a function', 'onProgress', onProgress);
  if (onPreview !== undefined && typeof onPreview !== 'function') throw expectedType('a function', 'onPreview', onPreview);
  const L = model.levels.length;
  if (source.levels.length !== L) throw expectedRange(`${L} levels (the model's)`, 'source.levels', received(`${source.levels.length} levels`));
  const K = model.classes;
  const N = source.numImages;
  const labels = source.labels;
  if (!(labels instanceof Int32Array) || labels.length !== N) throw expectedType(`an Int32Array of ${N} class ids`, 'source.labels', labels);
  for (let i = 0; i < N; ++i) {
    if (!(labels[i] >= 0 && labels[i] < K)) throw expectedRange(`class ids in [0, ${K})`, 'source.labels', received(`${labels[i]} at image ${i}`));
  }
  model.config.levels.forEach((c, l) => LevelBatch.check(source.levels[l], c.channels, c.condChannels, l));
  let opts = validateSourceTrainConfig(options, N);
  const hw = source.levels.map((s) => s.height * s.width);
  const perImage = hw.map((h) => sampledPositions(opts, h));
  let estimate: FitEstimate | undefined;
  if (opts.preview || opts.dryRun || opts.timeBudget !== undefined) {
    const probed = Date.now();
    const probe = runLoop(model, source, opts, perImage, undefined, opts.probeIterations ?? 2);
    const counts = fitCounts(model, opts, N, hw, perImage);
    const calibrationSeconds = calibration ? timeCalibration(model, source, calibration.imagesPerBatch, calibration.images) : 0;
    const trainingSeconds = probe.secondsPerIteration * counts.iterationsPerPass * counts.passes;
    estimate = {
      ...counts, secondsPerIteration: probe.secondsPerIteration, timedIterations: probe.timed, probeSeconds: (Date.now() - probed) / 1000,
      trainingSeconds, etaSeconds: trainingSeconds + calibrationSeconds,
      ...(calibration ? { calibrationImages: calibration.images.length, calibrationSeconds } : {}),
    };
    onPreview?.(estimate);
    if (opts.timeBudget !== undefined) {
      const left = opts.timeBudget - estimate.probeSeconds - calibrationSeconds;
      opts = { ...opts, ...budgetSchedule(opts, probe.secondsPerIteration * counts.iterationsPerPass, left) };
    }
  }
  const vectors = fitCounts(model, opts, N, hw, perImage).vectors;
  const schedule: TrainedSchedule = {
    metaEpochs: opts.metaEpochs, subEpochs: opts.subEpochs, warmEpochs: Math.min(opts.warmEpochs, opts.metaEpochs - 1), stage1Epochs: opts.stage1Epochs,
    imagesPerBatch: opts.imagesPerBatch, lr: opts.lr, positionsPerImage: perImage, vectors,
    ...(opts.timeBudget === undefined ? {} : { timeBudget: opts.timeBudget }),
  };
  if (opts.dryRun) return { seconds: 0, steps: 0, finalLosses: [], vectorsPerSecond: 0, schedule, estimate };
  // The budget's clock starts with the timing, and the calibration's share is kept for after training.
  const run = runLoop(model, source, opts, perImage, onProgress, undefined, (estimate?.probeSeconds ?? 0) + (estimate?.calibrationSeconds ?? 0));
  if (run.stoppedEarly) Object.assign(schedule, { vectors: run.vectorsDone, stoppedAtBudget: 1 });
  return { seconds: run.seconds, steps: run.steps, finalLosses: run.finalLosses, vectorsPerSecond: run.vectorsDone / Math.max(1e-3, run.seconds), schedule, estimate };
}

/** A probe times at least this long (seconds), unless it reaches PROBE_MAX iterations first. */
const PROBE_SECONDS = 1;
const PROBE_MAX = 1000;

interface LoopResult {
  seconds: number;
  steps: number;
  finalLosses: StepLosses[];
  vectorsDone: number;
  /** mean seconds of the iterations after the first */
  secondsPerIteration: number;
  timed: number;
  /** the time budget ran out before the schedule's end */
  stoppedEarly: boolean;
}

/**
 * The loop itself. With `probe`, it runs 1 + probe iterations of the first
 * sub-epoch (cycling through its batches, from seeds of its own so that the
 * run after it is the same as without it), times all but the first, and
 * restores the weights.
 */
function runLoop(model: HgadModel, source: FeatureSource, opts: SourceTrainConfig, perImage: number[],
  onProgress?: (p: TrainProgress) => void, probe?: number, budgetUsed = 0): LoopResult {
  const L = model.levels.length;
  const N = source.numImages;
  const labels = source.labels;
  const be = model.backend;
  const seed = probe === undefined ? opts.seed : opts.seed ^ 0x5bd1e995;
  const rng = new Random(seed);

  const first = subEpochBatches(opts, N, rng);
  const iterations = first.length;
  if (iterations === 0) throw expectedRange('at least one batch per sub-epoch', 'options.imagesPerBatch', opts.imagesPerBatch);
  const maxImages = Math.max(opts.imagesPerBatch, ...first.map((b) => b.length));
  const lrTable = scheduleTable({
    lr: opts.lr,
    lrDecayRate: opts.lrDecayRate,
    warmEpochs: Math.min(opts.warmEpochs, opts.metaEpochs - 1),
    cosine: opts.cosine,
    epochs: opts.metaEpochs,
    subEpochs: opts.subEpochs,
    itersPerSubEpoch: iterations,
  });

  const flows = model.levels.flatMap((lv) => lv.flow.parameters());
  const centres = model.levels.flatMap((lv) => lv.head.groups().centres);
  const weights = model.levels.flatMap((lv) => lv.head.groups().weights);
  const params: Tensor[] = [...flows, ...centres, ...weights];
  const adam = new Adam([
    { name: 'flows', params: flows, lr: opts.lr, betas: opts.betas, weightDecay: opts.weightDecay },
    { name: 'centres', params: centres, lr: opts.lr * opts.centreLrRatio, betas: opts.betas, weightDecay: 0 },
    { name: 'weights', params: weights, lr: opts.lr * opts.weightLrRatio, betas: opts.betas, weightDecay: 0 },
  ], opts.eps);
  // The weights before training, restored when training fails (and after a probe).
  const saved = params.map((p) => be.toHost(p.storage).slice());
  const batchers: LevelBatch[] = [];

  const positions = source.levels.map((s) => s.height * s.width);
  // A sampler per level that trains fewer than all of its positions; null: every position (the reference's batch).
  const samplers = positions.map((hw, l) => (perImage[l] < hw ? new PositionSampler(seed, l, hw, perImage[l], N) : null));
  const drawn = positions.map((_, l) => new Int32Array(maxImages * perImage[l]));
  const totalIterations = probe === undefined ? opts.metaEpochs * opts.subEpochs * iterations : probe + 1;
  const steps = totalIterations * L;
  const totalVectors = opts.metaEpochs * opts.subEpochs * first.reduce((a, b) => a + b.length, 0) * perImage.reduce((a, b) => a + b, 0);
  const started = Date.now();
  let timedFrom = started;
  let vectorsDone = 0;
  let step = 0;
  let done = 0;
  let stoppedEarly = false;
  const finalLosses: StepLosses[] = new Array(L);
  const guard = new DivergenceGuard(model.config);
  try {
    model.config.levels.forEach((c, l) => batchers.push(new LevelBatch(be, source, l, source.levels[l], c.condChannels, maxImages)));
    loop: for (let me = 0; me < opts.metaEpochs; ++me) {
      const stage: 1 | 2 = me < opts.stage1Epochs ? 1 : 2;
      for (let se = 0; se < opts.subEpochs; ++se) {
        const batches = me === 0 && se === 0 ? first : subEpochBatches(opts, N, rng);
        for (let it = 0; it < batches.length; ++it) {
          // a probe runs its iterations, and on until it has timed PROBE_SECONDS (so that a fast step is not timed once)
          if (done >= totalIterations && (probe === undefined || done >= PROBE_MAX || Date.now() - timedFrom >= PROBE_SECONDS * 1000)) break loop;
          if (probe !== undefined && done === 1) {
            if (be.device !== 'cpu') be.synchronize();
            timedFrom = Date.now();
          }
          const lr = lrTable[(me * opts.subEpochs + se) * iterations + it];
          adam.setLearningRate(lr);
          const ids = batches[it];
          for (let l = 0; l < L; ++l) {
            const t0 = Date.now();
            const at = where(opts, l, me, se, it);
            const sampled = samplers[l] && { positions: samplers[l]!.draw(ids, drawn[l]), n: perImage[l] };
            const losses = trainStep(model, l, batchers[l], ids, sampled, labels, stage, opts, adam, params, at, step < L);
            guard.observe(l, losses.loss, at, lr);
            finalLosses[l] = losses;
            const rows = ids.length * perImage[l];
            vectorsDone += rows;
            if (onProgress) {
              if (be.device !== 'cpu') be.synchronize();
              const now = Date.now();
              const rate = vectorsDone / Math.max(1e-3, (now - started) / 1000);
              onProgress({
                metaEpoch: me, metaEpochs: opts.metaEpochs, subEpoch: se, subEpochs: opts.subEpochs, iteration: it, iterations,
                level: l, levels: L, stage, lr, groupLr: adam.groups.map((g) => g.lr), losses,
                vectorsPerSecond: rows / Math.max(1e-3, (now - t0) / 1000),
                etaSeconds: Math.max(0, totalVectors - vectorsDone) / rate,
                step, steps, epoch: me, epochs: opts.metaEpochs,
                ...(opts.timeBudget === undefined ? {} : { budgetLeftSeconds: opts.timeBudget - budgetUsed - (now - started) / 1000 }),
              });
            }
            step += 1;
          }
          done += 1;
          // the budget is a hard limit too: a machine slower than at the timing stops at it
          if (probe === undefined && opts.timeBudget !== undefined && budgetUsed + (Date.now() - started) / 1000 >= opts.timeBudget && done < totalIterations) {
            stoppedEarly = true;
            break loop;
          }
          // a probe cycles through the first sub-epoch's batches
          if (probe !== undefined && it === batches.length - 1) it = -1;
        }
      }
    }
    if (probe !== undefined) params.forEach((p, i) => be.write(p.storage, saved[i]));
  } catch (err) {
    params.forEach((p, i) => be.write(p.storage, saved[i]));
    throw err;
  } finally {
    for (const p of params) p.grad = null;
    for (const b of batchers) b.release();
    adam.release();
  }
  if (be.device !== 'cpu') be.synchronize();
  const now = Date.now();
  const seconds = (now - started) / 1000;
  const timed = Math.max(1, done - 1);
  const secondsPerIteration = (done > 1 ? now - timedFrom : now - started) / 1000 / timed;
  return { seconds, steps: step, finalLosses, vectorsDone, secondsPerIteration, timed: done > 1 ? done - 1 : 1, stoppedEarly };
}

/** One level's optimizer step on one image batch: forward, loss, backward, Adam. */
function trainStep(model: HgadModel, l: number, batcher: LevelBatch, ids: Int32Array,
  sampled: { positions: Int32Array; n: number } | null, labels: Int32Array, stage: 1 | 2,
  opts: SourceTrainConfig, adam: Adam, params: Tensor[], at: string, first: boolean): StepLosses {
  const { flow, head } = model.levels[l];
  const be = model.backend;
  const advice = divergenceAdvice(model.config, first, adam.groups[0].lr);
  let out: StepLosses | null = null;
  const { arena } = be.arena(() => {
    const batch = sampled
      ? batcher.loadSampled(ids, sampled.positions, sampled.n, labels, model.classes, opts.labelSmoothing)
      : batcher.load(ids, labels, model.classes, opts.labelSmoothing);
    let result;
    try {
      const { z, logdet } = flow.forwardChecked(batch.x, batch.cond);
      result = head.loss(z, logdet, batch.labels, batch.Y, stage, opts);
    } catch (err) {
      throw new Error(`fit: training diverged at ${at} (${batch.rows} vectors): ${(err as Error).message}. ${advice}`);
    }
    const v = be.readScalar(result.loss.storage);
    if (!Number.isFinite(v)) throw new Error(`fit: the loss became ${v} at ${at}; no step was taken with it. ${advice}`);
    // zero_grad(set_to_none=True): only this level's parameters get gradients.
    for (const p of params) p.grad = null;
    try {
      backward(result.loss);
      adam.step();
    } finally {
      for (const p of params) p.grad = null;
    }
    out = { ...result.terms, loss: v };
  });
  // The step's intermediates go back to the allocator once its work is queued.
  arena.dispose();
  return out!;
}
