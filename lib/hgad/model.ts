// The HGAD model, synchronous core: one flow and one head (the model kind's:
// lib/nn/heads) per feature level, its device, and fit/score over every level. The training
// loop is in trainer.ts (on vectors: vector_training.ts), scoring in scoring.ts, the calibration and the
// fusion of the levels in calibration.ts, the input checks in checks.ts;
// lib/hgad/index.ts runs this core off the main thread.
import { BackendOptions, selectBackend } from '../backend/index';
import { Backend, DeviceRequest } from '../backend/types';
import { expectedRange, expectedType, received } from '../errors';
import { Flow } from '../nn/flow';
import { headKind } from '../nn/heads';
import { Random } from '../random';
import { calibratedScores, calibrationWarnings, fitCalibration, referenceFusion, uncalibratedClasses } from './calibration';
import { checkLabels, checkLevelArrays, classIds, unshared } from './checks';
import { stageOneOnlyWarning } from './divergence';
import { ModelConfig, TrainConfig, validateModelConfig, validateTrainConfig } from './config';
import { scoreLevel } from './scoring';
import { allClassScores, checkClassFreeRule, scoreClassFree } from './class_free';
import { fitVectors } from './vector_training';
import { FeatureSource } from '../data/feature_source';
import { calibrateFromSource, calibrationIds } from './source_calibration';
import { DEFAULT_SOURCE_TRAIN, SourceTrainConfig, trainFromSource, TrainSummary } from './trainer';
import { TrainProgress } from './types';
import type { FitEstimate } from './fit_estimate';

/** Options of fit on a feature source: the loop's, and whether to fit the calibration after it (true). */
export type SourceFitOptions = Partial<SourceTrainConfig> & { calibrate?: boolean };
import { ClassFreeRule, FitProgress, FitSummary, Level, LevelData, LevelInput, Scores } from './types';

export type { Calibration, ClassFree, ClassFreeRule, FitProgress, FitSummary, Level, LevelData, LevelInput, LevelScores, Scores } from './types';
export { referenceFusion } from './calibration';

export class HgadModel {
  readonly config: ModelConfig;
  /** Vectors per scoring batch (default 16384 on the CPU, 65536 on a GPU). */
  scoreChunkSize: number | null = null;

  constructor(config: ModelConfig, readonly levels: Level[]) {
    this.config = validateModelConfig(config);
    if (levels.length !== this.config.levels.length) throw expectedRange(`${this.config.levels.length} levels`, 'levels', levels);
    const be = levels[0].flow.backend;
    for (const l of levels) {
      if (l.flow.backend !== be || l.head.backend !== be) throw expectedType('every level of a model on one device', 'levels', received(`levels on ${levels.map((lv) => lv.flow.backend.label).join(', ')}`));
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
    const levels = this.levels.map((l) => ({ flow: l.flow.onBackend(be), head: l.head.onBackend(be), calibration: l.calibration }));
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
    for (const l of this.levels) for (const p of [...l.flow.parameters(), ...l.head.parameters(), ...l.flow.blocks.map((b) => b.wPerm)]) be.release(p.storage);
    if (this.ownsBackend) be.dispose();
  }

  /** Whether this model created its backend (to() with a device name), so that release() may dispose of it. */
  private ownsBackend = false;

  static create(config: ModelConfig, seed = 0): HgadModel {
    const cfg = validateModelConfig(config);
    const rng = new Random(seed);
    const K = cfg.classNames.length;
    const kind = headKind(cfg.kind);
    const levels = cfg.levels.map((l) => {
      const flow = Flow.create({ channels: l.channels, condChannels: l.condChannels, couplings: cfg.couplings, clamp: cfg.clamp, hidden: cfg.hidden }, rng);
      const head = kind.create({ channels: l.channels, classes: K, intraCentres: cfg.intraCentres }, rng, flow.backend);
      return { flow, head, calibration: null };
    });
    return new HgadModel(cfg, levels);
  }

  get classes(): number {
    return this.config.classNames.length;
  }

  /**
   * Trains on every level's vectors with the reference's loop, each vector a
   * 1x1 image (see fitVectors), then fits the calibration.
   */
  fitSync(data: LevelData[], options?: Partial<TrainConfig>, onProgress?: (p: FitProgress) => void): FitSummary {
    const opts = validateTrainConfig(options);
    if (!Array.isArray(data) || data.length !== this.levels.length) {
      throw expectedType(`an array of ${this.levels.length} level data objects`, 'data', data);
    }
    // Shared arrays are read in place (checks and staging copy chunk by chunk): no copy of the data set.
    const sizes = data.map((d, l) => {
      const N = checkLevelArrays(this.config, l, d?.features, d?.cond, 'data');
      checkLabels(d.labels, N, this.classes, `data[${l}].labels`);
      return N;
    });
    const started = Date.now();
    const finalLosses = fitVectors(this, data, sizes, opts, onProgress);
    const warnings: string[] = [];
    if (opts.epochs <= opts.stage1Epochs) warnings.push(stageOneOnlyWarning(opts.epochs, opts.stage1Epochs));
    for (let l = 0; l < this.levels.length; ++l) {
      const all = allClassScores(this, l, data[l]);
      const labels = unshared(data[l].labels);
      const logp = Float32Array.from(labels, (k, i) => all.logp[k * all.N + i]);
      this.levels[l].calibration = { ...fitCalibration(logp, labels, this.classes), marginal: fitCalibration(all.marginal, new Int32Array(all.N), 1) };
    }
    warnings.push(...calibrationWarnings(this.levels[0].calibration!, this.config.classNames));
    return { seconds: (Date.now() - started) / 1000, finalLosses, warnings };
  }

  /**
   * Trains every level on a feature source with the reference's loop (see
   * trainFromSource), then, unless options.calibrate is false, fits the
   * calibration on the source's positions. On an error the weights are
   * those from before the call.
   */
  fitSourceSync(source: FeatureSource, options?: SourceFitOptions, onProgress?: (p: TrainProgress) => void,
    onPreview?: (e: FitEstimate) => void): TrainSummary {
    const { calibrate = true, ...train } = options ?? {};
    if (typeof calibrate !== 'boolean') throw expectedType('a boolean', 'options.calibrate', calibrate);
    const imagesPerBatch = train.imagesPerBatch ?? DEFAULT_SOURCE_TRAIN.imagesPerBatch;
    const images = calibrate ? calibrationImageIds(this, source, train) : null;
    const summary = trainFromSource(this, source, train, onProgress, onPreview, images ? { images, imagesPerBatch } : undefined);
    if (images && train.calibrationImages !== undefined) summary.schedule.calibrationImages = images.length;
    // The model records the schedule it ran (after a time budget cut it).
    if (!train.dryRun) (this as { config: ModelConfig }).config = validateModelConfig({ ...this.config, training: summary.schedule });
    if (images && !train.dryRun) {
      const cal = calibrateFromSource(this, source, imagesPerBatch, images);
      cal.forEach((c, l) => {
        this.levels[l].calibration = c;
      });
    }
    return summary;
  }

  /**
   * Scores every level's vectors as the given classes (one id per vector of
   * the first level; every level must then hold the same number of vectors
   * for the combined scores, else those are null). Without classes (undefined)
   * every vector is scored class-free by `rule` (default: 'marginal' when the
   * model holds its calibration, else 'inferred'; see class_free.ts): every
   * level must hold the same number of vectors, one item each.
   */
  scoreSync(inputs: LevelInput[], classes?: Int32Array | number, rule?: ClassFreeRule): Scores {
    if (!Array.isArray(inputs) || inputs.length !== this.levels.length) {
      throw expectedType(`an array of ${this.levels.length} level inputs`, 'inputs', inputs);
    }
    inputs = inputs.map((d) => (d && typeof d === 'object' ? { features: unshared(d.features), cond: unshared(d.cond) } : d));
    const sizes = inputs.map((d, l) => checkLevelArrays(this.config, l, d?.features, d?.cond, 'inputs'));
    if (classes === undefined) {
      const chosen = checkClassFreeRule(rule, this);
      if (!sizes.every((n) => n === sizes[0])) throw expectedRange(`${sizes[0]} vectors at every level (class-free scoring infers one class per vector)`, 'inputs', received(sizes.join(', ')));
      return scoreClassFree(this, inputs, sizes.map(() => 1), sizes[0], chosen);
    }
    const ids = sizes.map((N) => classIds(classes, N, this.classes));
    const levels = inputs.map((input, l) => scoreLevel(this, l, input, ids[l]));
    const sameN = sizes.every((n) => n === sizes[0]);
    if (!sameN) return { levels, calibrated: null, uncalibratedClasses: [], fusion: null };
    const calibrations = this.levels.map((lv) => lv.calibration);
    const calibrated = calibratedScores(levels, calibrations, ids[0]);
    return { levels, calibrated, uncalibratedClasses: uncalibratedClasses(calibrations, ids[0]), fusion: referenceFusion(levels) };
  }
}

/** The images the calibration after a fit reads (options.calibrationImages: at most that many per class). */
function calibrationImageIds(model: HgadModel, source: FeatureSource, train: Partial<SourceTrainConfig>): Int32Array {
  const perClass = train.calibrationImages;
  if (perClass !== undefined && !(Number.isInteger(perClass) && perClass >= 1)) throw expectedRange('an integer >= 1', 'options.calibrationImages', perClass);
  return calibrationIds(source.labels, model.classes, perClass, train.seed ?? DEFAULT_SOURCE_TRAIN.seed);
}
