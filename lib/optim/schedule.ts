// The reference learning-rate schedule (utils.py adjust_learning_rate and
// warmup_learning_rate, inherited from CFlow-AD), reproduced value for value.
//
// How the reference drives it: once per meta epoch `adjust_learning_rate`
// sets the cosine value for that meta epoch; every iteration of every
// sub-epoch then calls `warmup_learning_rate(epoch, i + subEpoch * I,
// I * subEpochs)`, which during the first `warmEpochs` meta epochs overrides
// the rate with a linear ramp. So both the cosine and the warm-up count meta
// epochs, a meta epoch's sub-epochs all share one cosine value, and the
// warm-up ramps across every iteration of every sub-epoch of the warm-up meta
// epochs, ending at the cosine value of meta epoch `warmEpochs` (so the
// schedule is continuous there). The last meta epoch uses the cosine value at
// epochs - 1, slightly above eta_min = lr * lrDecayRate^3.
import { expectedRange, expectedType, isPositiveInteger } from '../errors';

export interface ScheduleConfig {
  /** Peak learning rate (the reference's `lr`). */
  lr: number;
  /** eta_min = lr * lrDecayRate^3 (the reference's `lr_decay_rate`, 0.1). */
  lrDecayRate: number;
  /** Meta epochs of linear warm-up from lr / 10 (the reference's `lr_warm_epochs`, 2); 0 disables it. */
  warmEpochs: number;
  /** Cosine decay per meta epoch; when false the rate stays at lr after warm-up. */
  cosine: boolean;
  /** Meta epochs (the reference's `meta_epochs`). */
  epochs: number;
  /** Sub-epochs per meta epoch (the reference's `sub_epochs`); 1 for plain epochs. */
  subEpochs: number;
  /** Iterations (batches) per sub-epoch. */
  itersPerSubEpoch: number;
}

function validate(cfg: ScheduleConfig): void {
  if (cfg === null || typeof cfg !== 'object') throw expectedType('a schedule config object', 'cfg', cfg);
  if (typeof cfg.lr !== 'number' || !Number.isFinite(cfg.lr) || cfg.lr <= 0) throw expectedRange('a finite number > 0', 'cfg.lr', cfg.lr);
  if (typeof cfg.lrDecayRate !== 'number' || !(cfg.lrDecayRate >= 0 && cfg.lrDecayRate <= 1)) {
    throw expectedRange('a number in [0, 1]', 'cfg.lrDecayRate', cfg.lrDecayRate);
  }
  if (!Number.isInteger(cfg.warmEpochs) || cfg.warmEpochs < 0) throw expectedRange('an integer >= 0', 'cfg.warmEpochs', cfg.warmEpochs);
  if (typeof cfg.cosine !== 'boolean') throw expectedType('a boolean', 'cfg.cosine', cfg.cosine);
  for (const key of ['epochs', 'subEpochs', 'itersPerSubEpoch'] as const) {
    if (!isPositiveInteger(cfg[key])) throw expectedRange('a positive integer', `cfg.${key}`, cfg[key]);
  }
}

function checkIndex(value: number, bound: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= bound) throw expectedRange(`an integer in [0, ${bound})`, name, value);
}

function cosineRate(cfg: ScheduleConfig, epoch: number): number {
  if (!cfg.cosine) return cfg.lr;
  const etaMin = cfg.lr * cfg.lrDecayRate ** 3;
  return etaMin + ((cfg.lr - etaMin) * (1 + Math.cos((Math.PI * epoch) / cfg.epochs))) / 2;
}

/** Learning rate of one iteration; all indices are 0-based. */
export function learningRate(cfg: ScheduleConfig, epoch: number, subEpoch: number, iteration: number): number {
  validate(cfg);
  checkIndex(epoch, cfg.epochs, 'epoch');
  checkIndex(subEpoch, cfg.subEpochs, 'subEpoch');
  checkIndex(iteration, cfg.itersPerSubEpoch, 'iteration');
  return rateAt(cfg, epoch, subEpoch, iteration);
}

function rateAt(cfg: ScheduleConfig, epoch: number, subEpoch: number, iteration: number): number {
  if (epoch >= cfg.warmEpochs) return cosineRate(cfg, epoch);
  const total = cfg.itersPerSubEpoch * cfg.subEpochs;
  const p = (iteration + subEpoch * cfg.itersPerSubEpoch + epoch * total) / (cfg.warmEpochs * total);
  const from = cfg.lr / 10;
  return from + p * (cosineRate(cfg, cfg.warmEpochs) - from);
}

/** Every iteration's learning rate, ordered (epoch, subEpoch, iteration). */
export function scheduleTable(cfg: ScheduleConfig): Float64Array {
  validate(cfg);
  const out = new Float64Array(cfg.epochs * cfg.subEpochs * cfg.itersPerSubEpoch);
  let k = 0;
  for (let e = 0; e < cfg.epochs; ++e) {
    for (let s = 0; s < cfg.subEpochs; ++s) {
      for (let i = 0; i < cfg.itersPerSubEpoch; ++i) out[k++] = rateAt(cfg, e, s, i);
    }
  }
  return out;
}
