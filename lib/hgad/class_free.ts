// Scoring without a class id. One flow pass per chunk and one head pass per
// class give, at every position, logp under each class's intra-class mixture
// and the inter-class posterior log p(y | z). Two rules turn them into scores:
//  - 'inferred' (a): the class with the highest mean log-posterior over the
//    item's positions (each level's mean, then the mean over levels), scored
//    under that class as with a given class;
//  - 'marginal' (b): per position log sum_y pi_y p(z | y) / C over every
//    class's intra-class mixture, with its own calibration (calibration.marginal).
// An item is one vector (the vector API: one row per level) or one image (its
// h*w rows at each level).
import { noGrad } from '../autograd/tape';
import { Arena, IntStorage, Storage } from '../backend/types';
import { expectedRange, expectedType, received } from '../errors';
import { Tensor } from '../tensor';
import { calibratedScores, classCalibrated, referenceFusion, uncalibratedClasses } from './calibration';
import { unshared } from './checks';
import type { HgadModel } from './model';
import { Calibration, ClassFree, ClassFreeRule, LevelInput, LevelScores, Scores } from './types';

export const CLASS_FREE_RULES: readonly ClassFreeRule[] = ['inferred', 'marginal'];

/** One level's scores under every class: K*N values class-major ([k * N + i]). */
export interface AllClassScores {
  K: number;
  N: number;
  /** logp of row i under class k's intra-class mixture, divided by C */
  logp: Float32Array;
  /** log p(y = k | z_i), the inter-class mixture's posterior */
  logPost: Float32Array;
  /** (N) as LevelScores.negEntropy */
  negEntropy: Float32Array;
  /** (N) log sum_k pi_k p(z_i | k) / C */
  marginal: Float32Array;
}

/** Scores one level's rows under every class (chunk by chunk, one flow pass each). */
export function allClassScores(model: HgadModel, l: number, input: LevelInput, chunk?: number): AllClassScores {
  const { flow, head } = model.levels[l];
  const { channels: C, condChannels: P } = model.config.levels[l];
  const K = model.classes;
  const be = model.backend;
  // The one-hot rows take n*K*K values per chunk: chunks shrink as K grows.
  const size = Math.max(64, Math.min(chunk ?? model.scoreChunkSize ?? (be.device === 'cpu' ? 16384 : 65536), Math.floor(2 ** 22 / (K * K))));
  const N = input.features.length / C;
  const logp = new Float32Array(K * N);
  const logPost = new Float32Array(K * N);
  const negEntropy = new Float32Array(N);
  noGrad(() => {
    for (let start = 0; start < N; start += size) {
      const n = Math.min(size, N - start);
      let arena: Arena | null = null;
      try {
        const run = be.arena(() => {
          const x = new Tensor(be.stage(unshared(input.features.subarray(start * C, (start + n) * C))), [n, C]);
          const cond = P > 0 ? new Tensor(be.stage(unshared(input.cond!.subarray(start * P, (start + n) * P))), [n, P]) : null;
          const labels: IntStorage[] = [];
          const Y: Storage[] = [];
          for (let k = 0; k < K; ++k) {
            labels.push(be.stageInt(new Int32Array(n).fill(k)));
            const y = new Float32Array(n * K);
            for (let i = 0; i < n; ++i) y[i * K + k] = 1;
            Y.push(be.stage(y));
          }
          be.afterStaged();
          const { z, logdet } = flow.forwardChecked(x, cond);
          const out = head.classFreeStorage(z, logdet, labels, Y);
          be.markComputed();
          return out;
        });
        arena = run.arena;
        for (let k = 0; k < K; ++k) {
          be.readback(run.result.logp[k], logp.subarray(k * N + start, k * N + start + n));
          be.readback(run.result.mi[k], logPost.subarray(k * N + start, k * N + start + n));
        }
        be.readback(run.result.negEntropy, negEntropy.subarray(start, start + n));
      } finally {
        if (arena) arena.dispose();
      }
    }
  });
  const lpi = head.logPriorsHost();
  const marginal = new Float32Array(N);
  const terms = new Float64Array(K);
  for (let i = 0; i < N; ++i) {
    let mx = -Infinity;
    for (let k = 0; k < K; ++k) {
      logPost[k * N + i] += lpi[k];
      terms[k] = C * logp[k * N + i] + lpi[k];
      mx = Math.max(mx, terms[k]);
    }
    let s = 0;
    for (let k = 0; k < K; ++k) s += Math.exp(terms[k] - mx);
    marginal[i] = (mx + Math.log(s)) / C;
  }
  return { K, N, logp, logPost, negEntropy, marginal };
}

/**
 * The inferred class of each of B items: rows[l] rows per item at level l
 * (item b owns rows [b * rows[l], (b + 1) * rows[l])). score_k = mean over
 * levels of the mean log p(y = k | z) over the item's rows; the class is the
 * argmax, its probability softmax(score)_k (the renormalised geometric mean
 * of the posteriors).
 */
export function inferClasses(levels: AllClassScores[], rows: readonly number[], B: number): { classes: Int32Array; posterior: Float32Array } {
  const K = levels[0].K;
  const classes = new Int32Array(B);
  const posterior = new Float32Array(B);
  const score = new Float64Array(K);
  for (let b = 0; b < B; ++b) {
    score.fill(0);
    levels.forEach((s, l) => {
      const r = rows[l];
      for (let k = 0; k < K; ++k) {
        let sum = 0;
        for (let p = b * r; p < (b + 1) * r; ++p) sum += s.logPost[k * s.N + p];
        score[k] += sum / r / levels.length;
      }
    });
    let best = 0;
    for (let k = 1; k < K; ++k) if (score[k] > score[best]) best = k;
    let z = 0;
    for (let k = 0; k < K; ++k) z += Math.exp(score[k] - score[best]);
    classes[b] = best;
    posterior[b] = 1 / z;
  }
  return { classes, posterior };
}

/** How to score without class ids: the rule (see lib/hgad/class_free.ts). */
export interface ClassFreeOptions {
  classFree?: ClassFreeRule;
}

export function classFreeOption(options: ClassFreeOptions | undefined): ClassFreeRule | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') throw expectedType('an options object {classFree?}', 'options', options);
  const rule = options.classFree;
  if (rule !== undefined && !CLASS_FREE_RULES.includes(rule)) throw expectedRange(`one of ${CLASS_FREE_RULES.join(', ')}`, 'options.classFree', rule);
  return rule;
}

/** The one-line error of the marginal rule on a model without its calibration (files from before it was fitted). */
export function marginalUnavailable(what = 'the model'): RangeError {
  return new RangeError(`Expected a model with the marginal's calibration (fitted by hgad 'fit' since class-free scoring) for class-free rule 'marginal' but ${what} has none: refit it, or use the rule 'inferred'`);
}

/** Whether every level of the model holds the marginal's calibration. */
export function hasMarginalCalibration(model: HgadModel): boolean {
  return model.levels.every((l) => !!l.calibration?.marginal);
}

/** 'marginal' when the model holds its calibration, else 'inferred'. */
export function defaultClassFreeRule(model: HgadModel): ClassFreeRule {
  return hasMarginalCalibration(model) ? 'marginal' : 'inferred';
}

export function checkClassFreeRule(rule: unknown, model: HgadModel): ClassFreeRule {
  if (rule === undefined) return defaultClassFreeRule(model);
  if (!CLASS_FREE_RULES.includes(rule as ClassFreeRule)) throw expectedRange(`one of ${CLASS_FREE_RULES.join(', ')}`, 'classFree', rule);
  if (rule === 'marginal' && model.levels.some((l) => l.calibration && !l.calibration.marginal)) throw marginalUnavailable();
  return rule as ClassFreeRule;
}

/** Mean over levels of -(logp - mean) / std with the marginal's normalisers, or null when a level has none. */
function marginalCalibrated(levels: LevelScores[], calibrations: (Calibration | null)[]): Float32Array | null {
  const N = levels[0].logp.length;
  const out = new Float32Array(N);
  for (let l = 0; l < levels.length; ++l) {
    const m = calibrations[l]?.marginal;
    if (!m || !classCalibrated(m, 0)) return null;
    for (let i = 0; i < N; ++i) out[i] += -(levels[l].logp[i] - m.mean[0]) / m.std[0] / levels.length;
  }
  return out;
}

/**
 * Class-free scores of B items (rows[l] rows per item at level l; vectors: 1):
 * each level's logp is that of the inferred class (rule 'inferred') or the
 * marginal; calibrated (when every level has B rows, i.e. vectors) with the
 * normalisers of the inferred class or of the marginal.
 */
export function classFreeScores(model: HgadModel, all: AllClassScores[], rows: readonly number[], B: number, rule: ClassFreeRule): Scores & { classFree: ClassFree } {
  for (let l = 0; l < all.length; ++l) {
    if (all[l].N !== rows[l] * B) throw expectedRange(`${rows[l] * B} rows (${B} items of ${rows[l]})`, `level ${l}`, received(`${all[l].N} rows`));
  }
  const { classes, posterior } = inferClasses(all, rows, B);
  const levels: LevelScores[] = all.map((s, l) => {
    if (rule === 'marginal') return { logp: s.marginal, negEntropy: s.negEntropy };
    const logp = new Float32Array(s.N);
    for (let i = 0; i < s.N; ++i) logp[i] = s.logp[classes[Math.floor(i / rows[l])] * s.N + i];
    return { logp, negEntropy: s.negEntropy };
  });
  const classFree: ClassFree = { rule, classes, posterior };
  if (!all.every((s) => s.N === B)) return { levels, calibrated: null, uncalibratedClasses: [], fusion: null, classFree };
  const calibrations = model.levels.map((lv) => lv.calibration);
  if (rule === 'marginal') {
    return { levels, calibrated: marginalCalibrated(levels, calibrations), uncalibratedClasses: [], fusion: referenceFusion(levels), classFree };
  }
  return { levels, calibrated: calibratedScores(levels, calibrations, classes), uncalibratedClasses: uncalibratedClasses(calibrations, classes), fusion: referenceFusion(levels), classFree };
}

/** Checked inputs scored class-free: each level under every class, then the rule. */
export function scoreClassFree(model: HgadModel, inputs: LevelInput[], rows: readonly number[], B: number, rule: ClassFreeRule): Scores & { classFree: ClassFree } {
  const all = inputs.map((input, l) => allClassScores(model, l, input));
  return classFreeScores(model, all, rows, B, rule);
}
