// The HGAD model, synchronous core: one flow and one hierarchical mixture per
// feature level, the reference's two-stage training loop, scoring and
// calibration. lib/hgad/index.ts runs this core off the main thread.
import { native } from '../binding';
import { noGrad } from '../autograd/tape';
import { BackendOptions, selectBackend } from '../backend/index';
import { Arena, Backend, DeviceRequest, Storage } from '../backend/types';
import { expectedRange, expectedType, received } from '../errors';
import { Flow } from '../nn/flow';
import { GaussianMixture, MixtureLossTerms } from '../nn/mixture';
import { Random } from '../random';
import { Tensor } from '../tensor';
import { LevelConfig, ModelConfig, TrainConfig, validateModelConfig, validateTrainConfig } from './config';
import { MemoryFeatureSource } from '../data/feature_source';
import { trainFromSource, TrainProgress } from './trainer';

/** Training vectors of one level: features (N, C) row-major, class ids (N), condition (N, P) when P > 0. */
export interface LevelData {
  features: Float32Array;
  labels: Int32Array;
  cond?: Float32Array | null;
}

/** Vectors to score at one level: features (N, C), condition (N, P) when P > 0. */
export interface LevelInput {
  features: Float32Array;
  cond?: Float32Array | null;
}

/** Per-class normalisers of logp fitted on the training data: mean and standard deviation (K each). */
export interface Calibration {
  mean: Float64Array;
  std: Float64Array;
}

export interface Level {
  flow: Flow;
  mixture: GaussianMixture;
  calibration: Calibration | null;
}

/** Reported after every optimizer step (see TrainProgress). */
export type FitProgress = TrainProgress;

export interface FitSummary {
  seconds: number;
  finalLosses: (MixtureLossTerms & { loss: number })[];
}

export interface LevelScores {
  /** log-likelihood under the class's intra-class mixture divided by C (higher = more normal) */
  logp: Float32Array;
  /** minus the entropy of the inter-class posterior (higher = more certain) */
  negEntropy: Float32Array;
}

export interface Scores {
  levels: LevelScores[];
  /** Batch-independent anomaly score: mean over levels of -(logp - mean_c) / std_c with the training normalisers. */
  calibrated: Float32Array | null;
  /** The reference's fusion: (max P - P) * (max E - E) with P, E the level sums of exp(x - max x) of logp and negEntropy, over this batch. */
  fusion: Float32Array | null;
}

export class HgadModel {
  readonly config: ModelConfig;
  /** Vectors per scoring batch (default 16384 on the CPU, 65536 on a GPU). */
  scoreChunkSize: number | null = null;

  constructor(config: ModelConfig, readonly levels: Level[]) {
    this.config = validateModelConfig(config);
    if (levels.length !== this.config.levels.length) throw expectedRange(`${this.config.levels.length} levels`, 'levels', levels);
    const be = levels[0].flow.backend;
    for (const l of levels) {
      if (l.flow.backend !== be || l.mixture.backend !== be) throw new TypeError('Expected every level of a model on one device');
    }
  }

  /** Where the weights live and the work runs. */
  get backend(): Backend {
    return this.levels[0].flow.backend;
  }

  /**
   * This model with its weights on a device: 'cpu', 'cuda' (an Error when no
   * GPU is usable), 'auto' (the GPU when there is one) or a Backend. Returns
   * this model when already there, else a copy (weights detached).
   */
  to(device: DeviceRequest | Backend, options: BackendOptions = {}): HgadModel {
    const be = selectBackend(device, options);
    if (be === this.backend) return this;
    const levels = this.levels.map((l) => ({ flow: l.flow.onBackend(be), mixture: l.mixture.onBackend(be), calibration: l.calibration }));
    const moved = new HgadModel(this.config, levels);
    moved.ownsBackend = typeof device === 'string' && be.device !== 'cpu';
    return moved;
  }

  /** Frees the device memory this model's buffers hold (weights stay usable). */
  releaseScratch(): void {
    for (const l of this.levels) l.flow.releaseScratch();
  }

  /**
   * Frees every device buffer of the model, weights included, and its
   * backend's streams when the backend is its own (a model made by to()):
   * the model is unusable afterwards. A no-op for the memory of a CPU model.
   */
  release(): void {
    const be = this.backend;
    this.releaseScratch();
    if (be.device === 'cpu') return;
    for (const l of this.levels) for (const p of [...l.flow.parameters(), ...l.mixture.parameters(), ...l.flow.blocks.map((b) => b.wPerm)]) be.release(p.storage);
    const own = be as unknown as { dispose?: () => void };
    if (this.ownsBackend && typeof own.dispose === 'function') own.dispose();
  }

  /** Whether this model created its backend (to() with a device name), so that release() may dispose of it. */
  private ownsBackend = false;

  static create(config: ModelConfig, seed = 0): HgadModel {
    const cfg = validateModelConfig(config);
    const rng = new Random(seed);
    const K = cfg.classNames.length;
    const levels = cfg.levels.map((l) => ({
      flow: Flow.create({ channels: l.channels, condChannels: l.condChannels, couplings: cfg.couplings, clamp: cfg.clamp, hidden: cfg.hidden }, rng),
      mixture: GaussianMixture.create({ channels: l.channels, classes: K, intraCentres: cfg.intraCentres }, rng),
      calibration: null,
    }));
    return new HgadModel(cfg, levels);
  }

  get classes(): number {
    return this.config.classNames.length;
  }

  /** Checks one level's arrays and returns N. */
  private checkLevelArrays(l: number, features: unknown, cond: unknown, what: string): number {
    const { channels: C, condChannels: P } = this.config.levels[l];
    const name = `${what}[${l}].features`;
    if (!(features instanceof Float32Array)) throw expectedType('a Float32Array', name, features);
    if (features.length === 0 || features.length % C !== 0) {
      throw expectedRange(`a non-empty multiple of ${C} values (N x ${C})`, name, received(`${features.length} values`));
    }
    const N = features.length / C;
    const bad = native.firstNonFinite(features);
    if (bad >= 0) throw expectedRange('finite values', name, received(`${features[bad]} at vector ${Math.floor(bad / C)}, dimension ${bad % C}`));
    if (P > 0) {
      if (!(cond instanceof Float32Array)) throw expectedType(`a Float32Array of ${N} x ${P} conditions`, `${what}[${l}].cond`, cond);
      if (cond.length !== N * P) throw expectedRange(`${N * P} values (${N} x ${P})`, `${what}[${l}].cond`, received(`${cond.length} values`));
      const badCond = native.firstNonFinite(cond);
      if (badCond >= 0) throw expectedRange('finite values', `${what}[${l}].cond`, received(`${cond[badCond]} at vector ${Math.floor(badCond / P)}`));
    } else if (cond !== undefined && cond !== null) {
      throw expectedType('no condition (this level is unconditional)', `${what}[${l}].cond`, cond);
    }
    return N;
  }

  private checkLabels(labels: unknown, N: number, name: string): Int32Array {
    if (!(labels instanceof Int32Array)) throw expectedType('an Int32Array of class ids', name, labels);
    if (labels.length !== N) throw expectedRange(`${N} labels (one per vector)`, name, received(`${labels.length} labels`));
    const K = this.classes;
    for (let i = 0; i < N; ++i) {
      if (labels[i] < 0 || labels[i] >= K) throw expectedRange(`class ids in [0, ${K})`, name, `${labels[i]} at index ${i}`);
    }
    return labels;
  }

  /**
   * Trains on every level's vectors with the reference's loop (see
   * trainFromSource), each vector a 1x1 image: when every level holds the same
   * vectors' labels, one batch of ids trains level after level with one Adam;
   * levels of different sizes train one after another (the levels share no
   * parameter, so this differs from the joint loop only in which vectors form
   * a batch). Then fits the calibration.
   */
  fitSync(data: LevelData[], options?: Partial<TrainConfig>, onProgress?: (p: FitProgress) => void): FitSummary {
    const opts = validateTrainConfig(options);
    if (!Array.isArray(data) || data.length !== this.levels.length) {
      throw expectedType(`an array of ${this.levels.length} level data objects`, 'data', data);
    }
    const sizes = data.map((d, l) => {
      const N = this.checkLevelArrays(l, d?.features, d?.cond, 'data');
      this.checkLabels(d.labels, N, `data[${l}].labels`);
      return N;
    });
    const started = Date.now();
    const joint = sizes.every((n, l) => n === sizes[0] && sameLabels(data[l].labels, data[0].labels));
    const groups = joint ? [data.map((_, l) => l)] : data.map((_, l) => [l]);
    const finalLosses: (MixtureLossTerms & { loss: number })[] = new Array(this.levels.length);
    for (const levels of groups) {
      const part = levels.length === this.levels.length ? this : new HgadModel(
        { ...this.config, levels: levels.map((l) => this.config.levels[l]) }, levels.map((l) => this.levels[l]));
      const source = vectorSource(this.config.levels, levels.map((l) => data[l]), levels);
      const N = sizes[levels[0]];
      const summary = trainFromSource(part, source, {
        metaEpochs: opts.epochs, subEpochs: opts.subEpochs, imagesPerBatch: Math.min(opts.batchSize, N), lr: opts.lr,
        warmEpochs: opts.warmEpochs, stage1Epochs: opts.stage1Epochs, centreLrRatio: opts.centreLrRatio,
        lambda1: opts.lambda1, lambda2: opts.lambda2, labelSmoothing: opts.labelSmoothing, seed: opts.seed,
      }, onProgress && ((p) => onProgress({ ...p, level: levels[p.level], levels: this.levels.length })));
      levels.forEach((l, i) => {
        finalLosses[l] = summary.finalLosses[i];
      });
    }
    for (let l = 0; l < this.levels.length; ++l) this.levels[l].calibration = this.calibrate(l, data[l]);
    return { seconds: (Date.now() - started) / 1000, finalLosses };
  }

  /** Mean and standard deviation (floored) of each class's training logp. */
  private calibrate(l: number, d: LevelData): Calibration {
    const K = this.classes;
    const { logp } = this.scoreLevel(l, { features: d.features, cond: d.cond }, d.labels);
    const sum = new Float64Array(K);
    const sq = new Float64Array(K);
    const count = new Float64Array(K);
    for (let i = 0; i < logp.length; ++i) {
      const k = d.labels[i];
      sum[k] += logp[i];
      sq[k] += logp[i] * logp[i];
      count[k] += 1;
    }
    const mean = new Float64Array(K);
    const std = new Float64Array(K);
    for (let k = 0; k < K; ++k) {
      mean[k] = count[k] > 0 ? sum[k] / count[k] : 0;
      const variance = count[k] > 1 ? Math.max(0, sq[k] / count[k] - mean[k] * mean[k]) : 1;
      std[k] = Math.max(Math.sqrt(variance), 1e-3);
    }
    return { mean, std };
  }

  /**
   * Scores one level in chunks. On a device the chunks are pipelined: the
   * upload of chunk i+1 (upload stream) overlaps the compute of chunk i
   * (compute stream), whose results come back on the download stream while
   * chunk i+1 computes.
   */
  private scoreLevel(l: number, input: LevelInput, classes: Int32Array, chunk?: number): LevelScores {
    const { flow, mixture } = this.levels[l];
    const { channels: C, condChannels: P } = this.config.levels[l];
    const be = this.backend;
    const size = chunk ?? this.scoreChunkSize ?? (be.device === 'cpu' ? 16384 : 65536);
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
        const x = new Tensor(be.stage(input.features.subarray(start * C, (start + n) * C)), [n, C]);
        const cond = P > 0 ? new Tensor(be.stage(input.cond!.subarray(start * P, (start + n) * P)), [n, P]) : null;
        const cls = be.stageInt(classes.subarray(start, start + n));
        be.afterStaged();
        const { z, logdet } = flow.forwardChecked(x, cond);
        const out = mixture.scoreStorage(z, logdet, cls);
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

  /**
   * Scores every level's vectors as the given classes (one id per vector of
   * the first level; every level must then hold the same number of vectors
   * for the combined scores, else those are null).
   */
  scoreSync(inputs: LevelInput[], classes: Int32Array | number): Scores {
    if (!Array.isArray(inputs) || inputs.length !== this.levels.length) {
      throw expectedType(`an array of ${this.levels.length} level inputs`, 'inputs', inputs);
    }
    const sizes = inputs.map((d, l) => this.checkLevelArrays(l, d?.features, d?.cond, 'inputs'));
    const levels = inputs.map((input, l) => {
      const N = sizes[l];
      const cls = typeof classes === 'number' ? new Int32Array(N).fill(classes) : classes;
      this.checkLabels(cls, N, typeof classes === 'number' ? 'classId' : 'classes');
      return this.scoreLevel(l, input, cls);
    });
    const sameN = sizes.every((n) => n === sizes[0]);
    if (!sameN) return { levels, calibrated: null, fusion: null };
    const N = sizes[0];
    const cls = typeof classes === 'number' ? new Int32Array(N).fill(classes) : classes;
    let calibrated: Float32Array | null = new Float32Array(N);
    for (let l = 0; l < levels.length; ++l) {
      const cal = this.levels[l].calibration;
      if (!cal) {
        calibrated = null;
        break;
      }
      for (let i = 0; i < N; ++i) calibrated[i] += -(levels[l].logp[i] - cal.mean[cls[i]]) / cal.std[cls[i]] / levels.length;
    }
    return { levels, calibrated, fusion: referenceFusion(levels) };
  }
}

function sameLabels(a: Int32Array, b: Int32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; ++i) if (a[i] !== b[i]) return false;
  return true;
}

/** Vectors as 1x1 images: a source over the caller's arrays (no copy). */
function vectorSource(configs: LevelConfig[], data: LevelData[], levels: number[]): MemoryFeatureSource {
  return new MemoryFeatureSource({
    kind: 'memory',
    levels: levels.map((l) => ({ channels: configs[l].channels, height: 1, width: 1, condChannels: configs[l].condChannels })),
    labels: data[0].labels,
    data: data.map((d) => d.features),
    cond: data.map((d, i) => (configs[levels[i]].condChannels > 0 ? d.cond! : null)),
  });
}

/** The reference's convert_to_anomaly_scores for vectors, per score kind, then the product of the two. */
export function referenceFusion(levels: LevelScores[]): Float32Array {
  const N = levels[0].logp.length;
  const normalToAnomaly = (pick: (s: LevelScores) => Float32Array) => {
    const sum = new Float64Array(N);
    for (const s of levels) {
      const v = pick(s);
      let mx = -Infinity;
      for (let i = 0; i < N; ++i) mx = Math.max(mx, v[i]);
      for (let i = 0; i < N; ++i) sum[i] += Math.exp(v[i] - mx);
    }
    let mx = -Infinity;
    for (let i = 0; i < N; ++i) mx = Math.max(mx, sum[i]);
    return sum.map((v) => mx - v);
  };
  const a = normalToAnomaly((s) => s.logp);
  const b = normalToAnomaly((s) => s.negEntropy);
  return Float32Array.from(a, (v, i) => v * b[i]);
}
