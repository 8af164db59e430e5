// Checks of golden fields beyond the flow itself, keyed by the field they read.
import type { ExecutionContext } from 'ava';
import { Adam, AdamGroup } from '../../lib/optim/adam';
import { scheduleTable } from '../../lib/optim/schedule';
import { anomalyMaps, referenceMaps } from '../../lib/maps/anomaly_map';
import { auroc } from '../../lib/metrics/auroc';
import { localisationMetrics, mapMaxima } from '../../lib/metrics/localisation';
import { backward } from '../../lib/autograd/tape';
import { GaussianMixture, smoothedOneHot } from '../../lib/nn/heads';
import { flowFromGolden, tensorOf } from './golden_flow';
import { DType, Tensor } from '../../lib/tensor';
import { hostValues, testBackend } from './device';
import { checkTrainLoop, trainLoopFields } from './golden_train_loop';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mixtureFromGolden(g: any, dtype: DType): GaussianMixture {
  const c = g.config;
  return new GaussianMixture(
    { channels: c.dim, classes: c.n_classes, intraCentres: c.n_intra_centers },
    tensorOf(g.params.mu, dtype),
    tensorOf(g.params.mu_delta, dtype),
    tensorOf(g.params.phi_inter, dtype),
    tensorOf(g.params.phi_intra, dtype),
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function checkStage(t: ExecutionContext, g: any, name: string, check: CheckFn, stage: 1 | 2): void {
  const ref = g.outputs[`stage${stage}`];
  const dtype: DType = process.env.HGAD_GOLDEN_DTYPE === 'float64' ? 'float64' : 'float32';
  const flow = flowFromGolden(g, dtype);
  const mixture = mixtureFromGolden(g, dtype);
  const x = tensorOf(g.inputs.x, dtype);
  x.requiresGrad = true;
  const cond = g.config.cond_dim > 0 ? tensorOf(g.inputs.cond, dtype) : null;
  const labels = Int32Array.from(g.inputs.y.data);
  const Y = smoothedOneHot(labels, g.config.n_classes, g.config.label_smoothing, dtype);
  check(t, `${name} smoothed one-hot`, Y, g.inputs.y_onehot.data);
  const be = testBackend();
  const { z, logdet } = flow.forward(x, cond);
  const { loss, terms } = mixture.loss(z, logdet, be.intFromHost(labels), be.fromHost(Y, dtype), stage, { lambda1: g.config.lambda1, lambda2: g.config.lambda2 });
  const p = `${name} stage${stage}`;
  for (const [key, value] of Object.entries(ref.losses)) {
    check(t, `${p} ${key}`, [terms[key as keyof typeof terms] as number], [value as number]);
  }
  check(t, `${p} loss`, hostValues(loss), [ref.loss]);
  backward(loss);
  check(t, `${p} grad x`, hostValues(x.gradStorage!), ref.grads.x.data);
  flow.blocks.forEach((block, i) => {
    const gb = ref.grads.flow[i];
    check(t, `${p} grad block ${i} global_scale`, hostValues(block.globalScale.gradStorage!), gb.global_scale.data);
    check(t, `${p} grad block ${i} global_offset`, hostValues(block.globalOffset.gradStorage!), gb.global_offset.data);
    check(t, `${p} grad block ${i} w1`, hostValues(block.w1.gradStorage!), gb.w1.data);
    check(t, `${p} grad block ${i} b1`, hostValues(block.b1.gradStorage!), gb.b1.data);
    check(t, `${p} grad block ${i} w2`, hostValues(block.w2.gradStorage!), gb.w2.data);
    check(t, `${p} grad block ${i} b2`, hostValues(block.b2.gradStorage!), gb.b2.data);
  });
  check(t, `${p} grad mu`, hostValues(mixture.mu.gradStorage!), ref.grads.mu.data);
  check(t, `${p} grad phi_inter`, hostValues(mixture.phiInter.gradStorage!), ref.grads.phi_inter.data);
  if (stage === 2) {
    check(t, `${p} grad mu_delta`, hostValues(mixture.muDelta.gradStorage!), ref.grads.mu_delta.data);
    check(t, `${p} grad phi_intra`, hostValues(mixture.phiIntra.gradStorage!), ref.grads.phi_intra.data);
  } else {
    t.is(mixture.muDelta.gradStorage, null, `${p}: stage 1 must not touch mu_delta`);
    t.is(mixture.phiIntra.gradStorage, null, `${p}: stage 1 must not touch phi_intra`);
  }
}

export type CheckFn = (t: ExecutionContext, label: string, actual: ArrayLike<number>, ref: ArrayLike<number>, atol?: number, rtol?: number) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type GoldenChecker = (t: ExecutionContext, golden: any, name: string, check: CheckFn) => void;

export const checkers: Record<string, GoldenChecker> = {
  stage1: (t, g, name, check) => checkStage(t, g, name, check, 1),
  stage2: (t, g, name, check) => checkStage(t, g, name, check, 2),
  score: (t, g, name, check) => {
    const flow = flowFromGolden(g, 'float32');
    const mixture = mixtureFromGolden(g, 'float32');
    const cond = g.config.cond_dim > 0 ? tensorOf(g.inputs.cond, 'float32') : null;
    const { z, logdet } = flow.forward(tensorOf(g.inputs.x, 'float32'), cond);
    const classes = new Int32Array(z.shape[0]).fill(g.outputs.score.class_id);
    const s = mixture.score(z, logdet, testBackend().intFromHost(classes));
    check(t, `${name} score logp`, s.logp, g.outputs.score.logp.data);
    check(t, `${name} score neg_entropy`, s.negEntropy, g.outputs.score.neg_entropy.data);
  },
  adam: (t, g, name, check) => {
    const ref = g.adam;
    const be = testBackend();
    const groups: AdamGroup[] = Object.keys(ref.groups).map((group) => ({
      name: group,
      params: [Tensor.from(ref.init[group].data as number[], [ref.init[group].data.length], 'float32', false, be)],
      lr: ref.groups[group].lr,
      betas: ref.groups[group].betas,
      weightDecay: ref.groups[group].weight_decay,
    }));
    const adam = new Adam(groups, ref.eps);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    ref.steps.forEach((step: any, k: number) => {
      for (const group of groups) (group.params[0] as Tensor).grad = be.fromHost(step.grads[group.name].data as number[], 'float32');
      adam.step();
      for (const group of groups) check(t, `${name} adam step ${k + 1} ${group.name}`, hostValues(group.params[0] as Tensor), step.after[group.name].data);
    });
  },
  schedule: (t, g, name, check) => {
    const s = g.schedule;
    const table = scheduleTable({
      lr: s.lr,
      lrDecayRate: s.lr_decay_rate,
      warmEpochs: s.lr_warm_epochs,
      cosine: s.lr_cosine,
      epochs: s.meta_epochs,
      subEpochs: s.sub_epochs,
      itersPerSubEpoch: s.iters_per_sub_epoch,
    });
    check(t, `${name} schedule`, table, s.lr_per_iteration, 0, 1e-12);
  },
  anomaly_map: (t, g, name, check) => {
    const m = g.anomaly_map;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const levels = m.level_logps.map((l: any) => ({ data: Float64Array.from(l.data), b: l.shape[0], h: l.shape[1], w: l.shape[2] }));
    const out = anomalyMaps(levels, m.mask_size, m.gaussian_sigma);
    check(t, `${name} anomaly maps (CPU, float64)`, out.maps, m.scores.data);
    check(t, `${name} image scores`, out.imageScores, m.image_scores.data);
    const be = testBackend();
    const onBackend = referenceMaps(levels, { height: m.mask_size, width: m.mask_size, sigma: m.gaussian_sigma, backend: be, dtype: 'float32' });
    check(t, `${name} anomaly maps (${be.label}, float32)`, onBackend, m.scores.data);
  },
  steps: checkTrainLoop,
  auroc: (t, g, name, check) => {
    check(t, `${name} auroc`, [auroc(g.auroc.scores, g.auroc.labels)], [g.auroc.value], 1e-12, 0);
  },
  aupro: (t, g, name, check) => {
    const [n, height, width] = g.masks.shape;
    const maps = Float64Array.from(g.maps.data);
    const masks = Uint8Array.from(g.masks.data);
    const m = localisationMetrics({ maps, masks, n, height, width }, { fprLimit: g.aupro_fpr_limit });
    check(t, `${name} image scores (map maxima)`, mapMaxima(maps, n, height * width), g.image_scores.data, 1e-12, 0);
    check(t, `${name} image AUROC`, [m.imageAuroc], [g.image_auroc], 1e-12, 0);
    check(t, `${name} image F1-max`, [m.imageF1Max], [g.image_f1_max], 1e-12, 0);
    check(t, `${name} pixel AUROC`, [m.pixelAuroc], [g.pixel_auroc], 1e-12, 0);
    check(t, `${name} pixel F1-max`, [m.pixelF1Max], [g.pixel_f1_max], 1e-12, 0);
    check(t, `${name} AUPRO`, [m.aupro], [g.aupro], 1e-12, 0);
    check(t, `${name} regions`, [m.regions], [g.regions], 0.5, 0);
    check(t, `${name} anomalous images`, [m.nAnomalous], [g.image_labels.reduce((a: number, b: number) => a + b, 0)], 0.5, 0);
  },
};

/** Fields of a case file that a checker above reads besides its own key. */
export const companionFields: Record<string, string[]> = {
  steps: trainLoopFields,
  aupro: ['masks', 'maps', 'image_scores', 'image_labels', 'image_auroc', 'image_f1_max', 'pixel_auroc', 'pixel_f1_max', 'aupro_fpr_limit', 'regions'],
};
