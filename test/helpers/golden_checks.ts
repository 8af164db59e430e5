// Checks of golden fields beyond the flow itself, keyed by the field they read.
import type { ExecutionContext } from 'ava';
import { Adam, AdamGroup } from '../../lib/optim/adam';
import { scheduleTable } from '../../lib/optim/schedule';
import { anomalyMaps } from '../../lib/metrics/anomaly_map';
import { auroc } from '../../lib/metrics/auroc';

export type CheckFn = (t: ExecutionContext, label: string, actual: ArrayLike<number>, ref: ArrayLike<number>, atol?: number, rtol?: number) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type GoldenChecker = (t: ExecutionContext, golden: any, name: string, check: CheckFn) => void;

export const checkers: Record<string, GoldenChecker> = {
  adam: (t, g, name, check) => {
    const ref = g.adam;
    const groups: AdamGroup[] = Object.keys(ref.groups).map((group) => ({
      name: group,
      params: [{ data: Float32Array.from(ref.init[group].data as number[]), grad: null }],
      lr: ref.groups[group].lr,
      betas: ref.groups[group].betas,
      weightDecay: ref.groups[group].weight_decay,
    }));
    const adam = new Adam(groups, ref.eps);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    ref.steps.forEach((step: any, k: number) => {
      for (const group of groups) group.params[0].grad = Float32Array.from(step.grads[group.name].data as number[]);
      adam.step();
      for (const group of groups) check(t, `${name} adam step ${k + 1} ${group.name}`, group.params[0].data, step.after[group.name].data);
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
    check(t, `${name} anomaly maps`, out.maps, m.scores.data);
    check(t, `${name} image scores`, out.imageScores, m.image_scores.data);
  },
  auroc: (t, g, name, check) => {
    check(t, `${name} auroc`, [auroc(g.auroc.scores, g.auroc.labels)], [g.auroc.value], 1e-12, 0);
  },
};
