// The public, asynchronous HGAD model: training and scoring run in a worker
// thread on a copy of the weights, so the event loop is never blocked; the
// weights are replaced only when fit succeeds.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { FormatError } from '../errors';
import { ModelConfig, TrainConfig } from './config';
import { FitProgress, FitSummary, HgadModel, LevelData, LevelInput, Scores } from './model';
import { loadModelAsync, modelFromTensors, modelTensors, saveModelAsync } from './persist';
import type { WorkerError, WorkerRequest } from './worker';

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
  calibrated: boolean;
}

function rebuildError(e: WorkerError): Error {
  if (e.name === 'TypeError') return new TypeError(e.message);
  if (e.name === 'RangeError') return new RangeError(e.message);
  if (e.name === 'FormatError' && e.file) return new FormatError(e.file, e.message.replace(`${e.file}: `, ''));
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

function runWorker<T>(request: WorkerRequest, onProgress?: (p: FitProgress) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'worker.js'));
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (msg: { type: string; progress?: FitProgress } & Record<string, unknown>) => {
      if (msg.type === 'progress') {
        if (onProgress) {
          try {
            onProgress(msg.progress!);
          } catch (err) {
            finish(() => reject(err));
          }
        }
      } else if (msg.type === 'done') {
        finish(() => resolve(msg as unknown as T));
      } else if (msg.type === 'error') {
        finish(() => reject(rebuildError(msg as unknown as WorkerError)));
      }
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`hgad worker exited with code ${code} before finishing`))));
    worker.postMessage(request);
  });
}

export class HGAD {
  private constructor(private model: HgadModel) {}

  /** A freshly initialised model (reference initialisation, seeded). */
  static create(config: ModelConfig, seed = 0): HGAD {
    return new HGAD(HgadModel.create(config, seed));
  }

  static async load(file: string): Promise<HGAD> {
    return new HGAD(await loadModelAsync(file));
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
    let parameters = 0;
    for (const l of this.model.levels) for (const p of [...l.flow.parameters(), ...l.mixture.parameters()]) parameters += p.size;
    return {
      classNames: [...c.classNames],
      levels: c.levels.map((l) => ({ ...l })),
      couplings: c.couplings,
      clamp: c.clamp,
      intraCentres: c.intraCentres,
      parameters,
      calibrated: this.model.levels.every((l) => l.calibration !== null),
    };
  }

  /** Trains on every level's vectors (two-stage schedule of the reference) and fits the calibration. */
  async fit(data: LevelData[], options: FitOptions = {}): Promise<FitSummary> {
    const { onProgress, ...train } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new TypeError(`Expected a function for options.onProgress but received ${typeof onProgress}`);
    }
    const result = await runWorker<{ tensors: Record<string, { shape: number[]; data: Float32Array }>; summary: FitSummary }>(
      { task: 'fit', config: this.model.config, tensors: modelTensors(this.model), data, options: train },
      onProgress,
    );
    this.model = modelFromTensors(this.model.config, result.tensors);
    return result.summary;
  }

  /** Scores vectors as the given class ids (one per vector) or one class id for all. */
  async score(inputs: LevelInput[], classes: Int32Array | number): Promise<Scores> {
    const result = await runWorker<{ scores: Scores }>({ task: 'score', config: this.model.config, tensors: modelTensors(this.model), inputs, classes });
    return result.scores;
  }

  async save(file: string): Promise<void> {
    await saveModelAsync(this.model, file);
  }
}

export type { ModelConfig, TrainConfig, LevelConfig } from './config';
export type { FitProgress, FitSummary, LevelData, LevelInput, Scores, LevelScores, Calibration } from './model';
