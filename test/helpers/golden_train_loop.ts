// Replays the reference's training loop (golden case train_loop_2lvl) with
// trainFromSource from params_init and checks every step's level order, group
// learning rates and losses, and the parameters after the first image batch
// and at the end.
import type { ExecutionContext } from 'ava';
import { MemoryFeatureSource } from '../../lib/data/feature_source';
import { HgadModel } from '../../lib/hgad/model';
import { trainFromSource, TrainProgress } from '../../lib/hgad/trainer';
import { CouplingBlock } from '../../lib/nn/coupling_block';
import { Flow } from '../../lib/nn/flow';
import { GaussianMixture } from '../../lib/nn/heads';
import { Tensor } from '../../lib/tensor';
import { hostValues } from './device';
import type { GoldenTensor } from './golden';
import { tensorOf } from './golden_flow';
import type { CheckFn } from './golden_checks';

/** Fields of the case file read by this check besides `steps`. */
export const trainLoopFields = ['params_init', 'params_after_first_batch', 'params_final'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Golden = any;

const BLOCK_FIELDS = ['w_perm', 'global_scale', 'global_offset', 'w1', 'b1', 'w2', 'b2'] as const;

function blockTensors(b: CouplingBlock): Record<(typeof BLOCK_FIELDS)[number], Tensor> {
  return { w_perm: b.wPerm, global_scale: b.globalScale, global_offset: b.globalOffset, w1: b.w1, b1: b.b1, w2: b.w2, b2: b.b2 };
}

export function modelFromLoopParams(g: Golden): HgadModel {
  const c = g.config;
  const L = c.levels.length;
  const flowConfig = { channels: c.dim, condChannels: c.pos_embed_dim, couplings: c.coupling_layers, clamp: c.clamp_alpha };
  const config = {
    levels: Array.from({ length: L }, () => ({ channels: c.dim, condChannels: c.pos_embed_dim })),
    classNames: Array.from({ length: c.n_classes }, (_, k) => `class${k}`),
    couplings: c.coupling_layers,
    clamp: c.clamp_alpha,
    intraCentres: c.n_intra_centers,
  };
  const p = g.params_init;
  const levels = Array.from({ length: L }, (_, l) => ({
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    flow: new Flow(flowConfig, p.flows[l].map((b: any) => new CouplingBlock(flowConfig, {
      wPerm: tensorOf(b.w_perm, 'float32'),
      globalScale: tensorOf(b.global_scale, 'float32', [c.dim]),
      globalOffset: tensorOf(b.global_offset, 'float32', [c.dim]),
      w1: tensorOf(b.w1, 'float32'),
      b1: tensorOf(b.b1, 'float32'),
      w2: tensorOf(b.w2, 'float32'),
      b2: tensorOf(b.b2, 'float32'),
    }))),
    head: new GaussianMixture({ channels: c.dim, classes: c.n_classes, intraCentres: c.n_intra_centers },
      tensorOf(p.mu[l], 'float32'), tensorOf(p.mu_delta[l], 'float32'), tensorOf(p.phi_inter[l], 'float32'), tensorOf(p.phi_intra[l], 'float32')),
    calibration: null,
  }));
  return new HgadModel(config, levels);
}

/** The case's (n, C, h, w) maps as a source of (n, h*w, C) rows. */
export function sourceFromLoopInputs(g: Golden): MemoryFeatureSource {
  const data = g.inputs.features.map((f: GoldenTensor) => {
    const [n, C, h, w] = f.shape;
    const out = new Float32Array(n * h * w * C);
    for (let i = 0; i < n; ++i) for (let c = 0; c < C; ++c) for (let q = 0; q < h * w; ++q) out[(i * h * w + q) * C + c] = f.data[(i * C + c) * h * w + q];
    return out;
  });
  return new MemoryFeatureSource({
    kind: 'memory',
    levels: g.config.levels.map((s: { height: number; width: number }) => ({ channels: g.config.dim, height: s.height, width: s.width })),
    labels: Int32Array.from(g.inputs.labels),
    data,
  });
}

/** The trainer's options that reproduce the case's configuration. */
export function loopOptions(g: Golden) {
  const c = g.config;
  return {
    metaEpochs: c.meta_epochs, subEpochs: c.sub_epochs, imagesPerBatch: c.images_per_batch, batches: g.inputs.batches,
    lr: c.lr, lrDecayRate: c.lr_decay_rate, warmEpochs: c.lr_warm_epochs, cosine: c.lr_cosine,
    lambda1: c.lambda1, lambda2: c.lambda2, labelSmoothing: c.label_smoothing,
    betas: c.adam.betas, eps: c.adam.eps, weightDecay: c.adam.groups[0].weight_decay,
  };
}

function snapshot(model: HgadModel): Record<string, ArrayLike<number>> {
  const out: Record<string, ArrayLike<number>> = {};
  model.levels.forEach(({ flow, head }, l) => {
    const mixture = head as GaussianMixture;
    flow.blocks.forEach((b, i) => {
      for (const [k, v] of Object.entries(blockTensors(b))) out[`flows[${l}][${i}].${k}`] = Array.from(hostValues(v));
    });
    out[`mu[${l}]`] = Array.from(hostValues(mixture.mu));
    out[`mu_delta[${l}]`] = Array.from(hostValues(mixture.muDelta));
    out[`phi_inter[${l}]`] = Array.from(hostValues(mixture.phiInter));
    out[`phi_intra[${l}]`] = Array.from(hostValues(mixture.phiIntra));
  });
  return out;
}

function checkParams(t: ExecutionContext, check: CheckFn, label: string, actual: Record<string, ArrayLike<number>>, ref: Golden): void {
  const L = ref.flows.length;
  for (let l = 0; l < L; ++l) {
    ref.flows[l].forEach((b: Record<string, GoldenTensor>, i: number) => {
      for (const k of BLOCK_FIELDS) check(t, `${label} flows[${l}][${i}].${k}`, actual[`flows[${l}][${i}].${k}`], b[k].data);
    });
    for (const k of ['mu', 'mu_delta', 'phi_inter', 'phi_intra']) check(t, `${label} ${k}[${l}]`, actual[`${k}[${l}]`], ref[k][l].data);
  }
}

export function checkTrainLoop(t: ExecutionContext, g: Golden, name: string, check: CheckFn): void {
  const model = modelFromLoopParams(g);
  const L = g.config.levels.length;
  const progress: TrainProgress[] = [];
  let afterFirstBatch: Record<string, ArrayLike<number>> | null = null;
  const summary = trainFromSource(model, sourceFromLoopInputs(g), loopOptions(g), (p) => {
    progress.push(p);
    if (p.step === L - 1) afterFirstBatch = snapshot(model);
  });
  const steps = g.steps;
  t.is(summary.steps, steps.length, `${name}: optimizer steps`);
  t.is(progress.length, steps.length, `${name}: progress reports`);
  const order = (s: { meta_epoch: number; sub_epoch: number; iteration: number; level: number }) => [s.meta_epoch, s.sub_epoch, s.iteration, s.level];
  t.deepEqual(progress.map((p) => [p.metaEpoch, p.subEpoch, p.iteration, p.level]), steps.map(order), `${name}: step order`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const refLr = steps.flatMap((s: any) => s.group_lr);
  check(t, `${name} every step's group lr`, progress.flatMap((p) => p.groupLr), refLr, 0, 1e-9);
  check(t, `${name} every step's loss`, progress.map((p) => p.losses.loss), steps.map((s: { loss: number }) => s.loss));
  for (const key of ['L_g', 'L_e', 'L_mi', 'L_g_intra', 'L_z'] as const) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const idx = steps.map((s: any, i: number) => (key in s.losses ? i : -1)).filter((i: number) => i >= 0);
    if (idx.length === 0) continue;
    t.deepEqual(idx.map((i: number) => progress[i].losses[key] !== undefined), idx.map(() => true), `${name}: ${key} reported where the reference has it`);
    check(t, `${name} every step's ${key}`, idx.map((i: number) => progress[i].losses[key]!), idx.map((i: number) => steps[i].losses[key]));
  }
  t.truthy(afterFirstBatch, `${name}: no snapshot after the first batch`);
  checkParams(t, check, `${name} after first batch`, afterFirstBatch!, g.params_after_first_batch);
  checkParams(t, check, `${name} final`, snapshot(model), g.params_final);
}
