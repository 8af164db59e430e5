// The public, asynchronous HGAD model: training and scoring run in a worker
// thread on a copy of the weights, so the event loop is never blocked; the
// weights are replaced only when fit succeeds.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { FormatError, expectedType, received } from '../errors';
import { ClassFreeOptions, classFreeOption } from './class_free';
import type { ImageClassFree } from './class_free_maps';
import { FeatureSourceSpec, MemoryFeatureSource } from '../data/feature_source';
import type { TrainSummary } from './trainer';
import type { FitEstimate } from './fit_estimate';
import type { TrainProgress } from './types';
import { ModelConfig, TrainConfig } from './config';
import { FitProgress, FitSummary, HgadModel, LevelData, LevelInput, Scores, SourceFitOptions } from './model';
import { loadModelAsync, modelFromTensors, modelTensors, saveModelAsync } from './persist';
import { CallOrder, endWithOwner, forgetOwner, forPosting, inSharedMemory } from './lifetime';
import type { ModelState, Placement, WorkerError, WorkerRequest } from './worker';
import { cudaBackend } from '../backend/devices';
import { checkDeviceRequest } from '../backend/index';
import type { DeviceRequest, Precision } from '../backend/index';
import type { FeatureMap, ImageMaps, MapCalibration, MapsOptions, PositionScores } from './score_maps';

export interface DeviceOptions {
  /**
   * Where fit and score run: 'cpu' (default), 'cuda' (an Error at once when no
   * usable GPU) or 'auto' (the GPU when there is one, else the CPU).
   */
  device?: DeviceRequest;
  /** GEMM precision on a GPU: 'fp32' (default) or 'tf32' (tensor cores, see docs/gpu.md for its measured error). */
  precision?: Precision;
}

/** Resolves a device request now, so that asking for an absent GPU fails at the call that asked. */
export function resolvePlacement(options: DeviceOptions | undefined): Placement {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw expectedType('an options object', 'options', received(options === null ? 'null' : typeof options));
  }
  const { device, precision } = checkDeviceRequest(options?.device ?? 'cpu', options?.precision ?? 'fp32', 'options.');
  if (device === 'cpu') return { device, precision };
  try {
    cudaBackend();
  } catch (err) {
    if (device === 'auto') return { device: 'cpu', precision };
    throw err;
  }
  return { device: 'cuda', precision };
}

export type SourceFitOptionsWithProgress = SourceFitOptions & {
  /** Called after every optimizer step (on the main thread). */
  onProgress?: (p: TrainProgress) => void;
  /** With preview, dryRun or timeBudget: the estimate, before training starts (on the main thread). */
  onPreview?: (e: FitEstimate) => void;
};

/** A memory source crosses to the worker only as shared memory. */
function checkShared(spec: FeatureSourceSpec): void {
  if (spec === null || typeof spec !== 'object') throw expectedType('a feature source description', 'source', spec);
  if (spec.kind !== 'memory') return;
  const arrays: [string, unknown][] = [['source.labels', spec.labels]];
  (Array.isArray(spec.data) ? spec.data : []).forEach((d, l) => arrays.push([`source.data[${l}]`, d]));
  (Array.isArray(spec.cond) ? spec.cond : []).forEach((c, l) => c && arrays.push([`source.cond[${l}]`, c]));
  for (const [name, a] of arrays) {
    if (ArrayBuffer.isView(a) && !(a.buffer instanceof SharedArrayBuffer)) {
      throw expectedType('an array backed by a SharedArrayBuffer (a memory source is shared with the worker, not copied)', name, received('one backed by an ArrayBuffer'));
    }
  }
  new MemoryFeatureSource(spec);
}

export interface FitOptions extends Partial<TrainConfig> {
  /** Called after every training iteration (on the main thread). */
  onProgress?: (p: FitProgress) => void;
}

export interface ModelInfo {
  classNames: string[];
  levels: { channels: number; condChannels: number }[];
  couplings: number;
  clamp: number;
  intraCentres: number;
  parameters: number;
  /** Whether every level holds per-class normalisers (see uncalibratedClasses for classes they do not cover). */
  calibrated: boolean;
  /** Training vectors of each class (first level), or null when unknown (not trained, or a file from before counts were kept). */
  trainingCounts: number[] | null;
  /** Names of the classes trained on fewer than 2 vectors: their calibrated scores are NaN. */
  uncalibratedClasses: string[];
  /** Where fit and score run. */
  device: 'cpu' | 'cuda';
  precision: Precision;
}

function rebuildError(e: WorkerError): Error {
  if (e.name === 'TypeError') return new TypeError(e.message);
  if (e.name === 'RangeError') return new RangeError(e.message);
  if (e.name === 'FormatError' && e.file) return new FormatError(e.file, e.message.replace(`${e.file}: `, ''));
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void; onProgress?: (p: FitProgress) => void };

/**
 * One worker thread and its requests. The worker does not keep the process
 * alive while it has nothing to do.
 */
class WorkerClient {
  private readonly worker = new Worker(path.join(__dirname, 'worker.js'));
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | null = null;

  constructor() {
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; type: string; progress?: FitProgress } & Record<string, unknown>) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.type === 'progress') {
        try {
          p.onProgress?.(msg.progress!);
        } catch (err) {
          this.settle(msg.id, () => p.reject(err));
        }
      } else if (msg.type === 'done') {
        this.settle(msg.id, () => p.resolve(msg));
      } else if (msg.type === 'error') {
        this.settle(msg.id, () => p.reject(rebuildError(msg as unknown as WorkerError)));
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`hgad worker exited with code ${code} before finishing`)));
  }

  get alive(): boolean {
    return this.dead === null;
  }

  request<T>(message: WithoutId<WorkerRequest>, onProgress?: (p: FitProgress) => void, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  terminate(): void {
    this.fail(new Error('hgad worker closed'));
    void this.worker.terminate();
  }

  private settle(id: number, fn: () => void): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    fn();
  }

  private fail(err: Error): void {
    if (!this.dead) this.dead = err;
    for (const [id, p] of [...this.pending]) this.settle(id, () => p.reject(err));
  }
}

export class HGAD {
  /** Keeps the current weights loaded between score calls. */
  private scorer: WorkerClient | null = null;
  /** fit is exclusive, score and save shared, in call order (see lifetime.ts). */
  private readonly order = new CallOrder();
  /** Unregisters the scorer from the collection of this model. */
  private readonly token = {};

  private constructor(
    private model: HgadModel,
    private readonly placement: Placement,
  ) {}

  /** A freshly initialised model (reference initialisation, seeded), run on options.device (default the CPU). */
  static create(config: ModelConfig, seed = 0, options?: DeviceOptions): HGAD {
    const placement = resolvePlacement(options);
    return new HGAD(HgadModel.create(config, seed), placement);
  }

  static async load(file: string, options?: DeviceOptions): Promise<HGAD> {
    const placement = resolvePlacement(options);
    return new HGAD(await loadModelAsync(file), placement);
  }

  /** Where fit and score run: 'cpu' or 'cuda'. */
  get device(): 'cpu' | 'cuda' {
    return this.placement.device;
  }

  /** The synchronous core, for embedding in code that already runs off the main thread. */
  get core(): HgadModel {
    return this.model;
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  info(): ModelInfo {
    const c = this.model.config;
    const counts = this.model.levels[0].calibration?.count ?? null;
    let parameters = 0;
    for (const l of this.model.levels) for (const p of [...l.flow.parameters(), ...l.head.parameters()]) parameters += p.size;
    return {
      classNames: [...c.classNames],
      levels: c.levels.map((l) => ({ ...l })),
      couplings: c.couplings,
      clamp: c.clamp,
      intraCentres: c.intraCentres,
      parameters,
      calibrated: this.model.levels.every((l) => l.calibration !== null),
      trainingCounts: counts ? Array.from(counts) : null,
      uncalibratedClasses: counts ? c.classNames.filter((_, k) => counts[k] < 2) : [],
      device: this.placement.device,
      precision: this.placement.precision,
    };
  }

  /** Trains on every level's vectors (two-stage schedule of the reference) and fits the calibration. */
  fit(data: LevelData[], options?: FitOptions | null): Promise<FitSummary> {
    return this.order.write(() => this.fitNow(data, options));
  }

  private async fitNow(data: LevelData[], options?: FitOptions | null): Promise<FitSummary> {
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw expectedType('an options object', 'options', options);
    }
    const { onProgress, ...train } = options ?? {};
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw expectedType('a function', 'options.onProgress', received(typeof onProgress));
    }
    // The data set crosses to the worker as shared memory (at most one copy,
    // none for arrays already shared); the worker reads it in place.
    const posted = Array.isArray(data)
      ? data.map((d) => (d && typeof d === 'object' ? { ...d, features: inSharedMemory(d.features), labels: inSharedMemory(d.labels), cond: d.cond && inSharedMemory(d.cond) } : d))
      : data;
    return this.trainInWorker<FitSummary>({ task: 'fit', model: this.state(), placement: this.placement, data: posted, options: train }, onProgress);
  }

  /**
   * Trains every level on a feature source with the reference's loop (see
   * trainFromSource) in a worker thread that opens the source itself, and
   * fits the calibration on it. A 'memory' source must hold its arrays in
   * SharedArrayBuffers (they are shared, not copied). The weights are
   * replaced only when training succeeds.
   */
  fitSource(source: FeatureSourceSpec, options: SourceFitOptionsWithProgress = {}): Promise<TrainSummary> {
    return this.order.write(() => this.fitSourceNow(source, options));
  }

  private async fitSourceNow(source: FeatureSourceSpec, options: SourceFitOptionsWithProgress): Promise<TrainSummary> {
    if (options === null || typeof options !== 'object') throw expectedType('an options object', 'options', options);
    const { onProgress, onPreview, ...train } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') throw expectedType('a function', 'options.onProgress', onProgress);
    if (onPreview !== undefined && typeof onPreview !== 'function') throw expectedType('a function', 'options.onPreview', onPreview);
    checkShared(source);
    const events = (p: FitProgress | { preview: FitEstimate }) => ('preview' in p ? onPreview?.(p.preview) : onProgress?.(p));
    const summary = await this.trainInWorker<TrainSummary>({ task: 'fitSource', model: this.state(), placement: this.placement, source, options: train },
      events as (p: FitProgress) => void);
    // The model records the schedule it ran (after a time budget cut it).
    if (!train.dryRun) this.model = new HgadModel({ ...this.model.config, training: summary.schedule }, this.model.levels);
    return summary;
  }

  /**
   * Runs a training request in a worker thread of its own and, when it
   * succeeds, replaces the weights with the trained ones (the scorer, holding
   * the old weights, is closed); on failure the weights stay as they were.
   */
  private async trainInWorker<S>(request: WithoutId<WorkerRequest>, onProgress: ((p: FitProgress) => void) | undefined): Promise<S> {
    const trainer = new WorkerClient();
    try {
      const result = await trainer.request<{ tensors: Record<string, { shape: number[]; data: Float32Array }>; summary: S }>(request, onProgress);
      this.model = modelFromTensors(this.model.config, result.tensors);
      this.close();
      return result.summary;
    } finally {
      trainer.terminate();
    }
  }

  /**
   * Scores vectors as the given class ids (one per vector) or one class id for
   * all; without class ids (undefined), class-free: each vector's class is
   * inferred and the scores follow options.classFree (see class_free.ts;
   * default 'marginal' when the model holds its calibration, else 'inferred'),
   * reported in Scores.classFree. The first call starts a worker thread holding the weights; later
   * calls reuse it (until fit changes the weights or close() is called).
   */
  score(inputs: LevelInput[], classes?: Int32Array | number, options?: ClassFreeOptions): Promise<Scores> {
    return this.order.read(() => this.scoreNow(inputs, classes, options));
  }

  private async scoreNow(inputs: LevelInput[], classes: Int32Array | number | undefined, options: ClassFreeOptions | undefined): Promise<Scores> {
    const rule = classFreeOption(options);
    const transfer: ArrayBuffer[] = [];
    const posted = Array.isArray(inputs)
      ? inputs.map((d) => (d && typeof d === 'object' ? { ...d, features: forPosting(d.features, transfer), cond: d.cond && forPosting(d.cond, transfer) } : d))
      : inputs;
    const ids = classes instanceof Int32Array ? forPosting(classes, transfer) : classes;
    const result = await this.scoreRequest<{ scores: Scores }>({ task: 'score', inputs: posted, classes: ids, rule }, transfer);
    return result.scores;
  }

  /**
   * Per-position scores of B images of one class from their feature maps
   * (one (B, C, h, w) NCHW level per model level, as backbones return them):
   * the rows, the positional conditions and the flows all run in the scoring
   * worker. Shares score()'s call order.
   */
  scoreFeatureMaps(levels: FeatureMap[], images: number, classId?: number, options?: ClassFreeOptions): Promise<PositionScores> {
    return this.order.read(async () => {
      const rule = classFreeOption(options);
      const transfer: ArrayBuffer[] = [];
      const posted = Array.isArray(levels) ? levels.map((lv) => (lv && typeof lv === 'object' ? { ...lv, data: forPosting(lv.data, transfer) } : lv)) : levels;
      const result = await this.scoreRequest<{ positions: PositionScores; classFree?: ImageClassFree }>({ task: 'scoreFeatureMaps', levels: posted, images, classId, rule }, transfer);
      return result.classFree ? { ...result.positions, classFree: result.classFree } : result.positions;
    });
  }

  /**
   * Anomaly maps and image scores from position scores (see mapsFromScores),
   * computed in the scoring worker so that the caller's event loop stays
   * free. Shares score()'s call order.
   */
  imageMaps(positions: PositionScores, calibration: MapCalibration[] | null, options: Omit<MapsOptions, 'backend'>): Promise<ImageMaps> {
    return this.order.read(async () => {
      const result = await this.scoreRequest<{ maps: ImageMaps }>({ task: 'maps', positions, calibration, options });
      return result.maps;
    });
  }

  /** A request to the scoring worker, started (with the weights) on first use. */
  private scoreRequest<T>(message: { task: 'score' | 'scoreFeatureMaps' | 'maps' } & Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    let model: ModelState | undefined;
    if (!this.scorer || !this.scorer.alive) {
      this.close();
      this.scorer = new WorkerClient();
      endWithOwner(this, this.scorer, this.token);
      model = this.state();
    }
    return this.scorer.request<T>({ ...message, model, placement: this.placement } as unknown as WithoutId<WorkerRequest>, undefined, transfer);
  }

  /**
   * Stops the scoring worker thread, if one runs; score() calls still in
   * flight are rejected ("hgad worker closed"). The model stays usable: the
   * next score() starts a new worker. A running fit() is not stopped. A model
   * dropped without close() has its worker ended when it is garbage-collected.
   */
  close(): void {
    forgetOwner(this.token);
    this.scorer?.terminate();
    this.scorer = null;
  }

  private state(): ModelState {
    return { config: this.model.config, tensors: modelTensors(this.model) };
  }

  /** Writes the weights left by the fits called before it (atomically, see docs/promises.md). */
  save(file: string): Promise<void> {
    return this.order.read(() => saveModelAsync(this.model, file));
  }
}

export type { ModelConfig, TrainConfig, LevelConfig } from './config';
export type { SourceFitOptions } from './model';
export type { ClassFreeOptions } from './class_free';
export type { FitProgress, FitSummary, LevelData, LevelInput, Scores, LevelScores, Calibration, ClassFree, ClassFreeRule } from './model';
