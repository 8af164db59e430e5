// Worker-thread entry: runs fit and score on a copy of the model so that the
// caller's event loop stays free. A worker serves many requests; a request
// that carries the model's tensors (re)loads them, later ones reuse them.
// In: {id, task, ...}; out: {id, type: 'progress' | 'done' | 'error', ...}.
import { parentPort } from 'worker_threads';
import { FormatError } from '../errors';
import type { FeatureSourceSpec } from '../data/feature_source';
import { openFeatureSource } from '../data/open_source';
import { HgadModel, LevelData, LevelInput, SourceFitOptions } from './model';
import { modelFromTensors, modelTensors } from './persist';
import type { ModelConfig, TrainConfig } from './config';
import type { ClassFreeRule } from './types';
import { scoreImagesClassFree } from './class_free_maps';
import { FeatureMap, levelInputs, MapCalibration, mapsFromScores, MapsOptions, PositionScores, positionScores } from './score_maps';

export type TensorMap = Record<string, { shape: number[]; data: Float32Array }>;
export interface ModelState {
  config: ModelConfig;
  tensors: TensorMap;
}

/** Where the worker runs the model: 'cpu' or 'cuda' (resolved by the caller), and the GEMM precision on a GPU. */
export interface Placement {
  device: 'cpu' | 'cuda';
  precision: 'fp32' | 'tf32';
}

export type WorkerRequest =
  | { id: number; task: 'fit'; model: ModelState; placement: Placement; data: LevelData[]; options: Partial<TrainConfig> }
  | { id: number; task: 'fitSource'; model: ModelState; placement: Placement; source: FeatureSourceSpec; options: SourceFitOptions }
  | { id: number; task: 'score'; model?: ModelState; placement: Placement; inputs: LevelInput[]; classes?: Int32Array | number; rule?: ClassFreeRule }
  | { id: number; task: 'scoreFeatureMaps'; model?: ModelState; placement: Placement; levels: FeatureMap[]; images: number; classId?: number; rule?: ClassFreeRule }
  | { id: number; task: 'maps'; model?: ModelState; placement: Placement; positions: PositionScores; calibration: MapCalibration[] | null; options: Omit<MapsOptions, 'backend'> };

export interface WorkerError {
  id: number;
  type: 'error';
  name: string;
  message: string;
  file?: string;
}

let loaded: HgadModel | null = null;

function handle(request: WorkerRequest): void {
  const port = parentPort!;
  const { id } = request;
  try {
    if (request.model) {
      if (loaded) loaded.release();
      loaded = modelFromTensors(request.model.config, request.model.tensors).to(request.placement.device, { precision: request.placement.precision });
    }
    if (!loaded) throw new Error('hgad worker: no model was sent before the first request');
    if (request.task === 'fit' || request.task === 'fitSource') {
      const model = loaded;
      loaded = null;
      let summary;
      let tensors;
      const progress = (p: unknown) => port.postMessage({ id, type: 'progress', progress: p });
      try {
        if (request.task === 'fit') {
          summary = model.fitSync(request.data, request.options, progress);
        } else {
          // The worker opens the source itself: a memory source's arrays are
          // shared, a file source is read here; nothing is copied across.
          const source = openFeatureSource(request.source);
          try {
            summary = model.fitSourceSync(source, request.options, progress, (preview) => progress({ preview }));
          } finally {
            source.close();
          }
        }
        tensors = modelTensors(model);
      } finally {
        // Device memory goes back at once rather than with the worker.
        model.release();
      }
      port.postMessage({ id, type: 'done', tensors, summary });
    } else if (request.task === 'scoreFeatureMaps') {
      // The NCHW -> rows transpose and the positional conditions are built
      // here too, not on the caller's thread.
      const { levels, images, classId } = request;
      if (classId === undefined) {
        const result = scoreImagesClassFree(loaded, levels, images, request.rule);
        port.postMessage({ id, type: 'done', positions: positionScores(result.scores, levels, images), classFree: result.classFree });
      } else {
        const scores = loaded.scoreSync(levelInputs(loaded.config, levels, images), classId);
        port.postMessage({ id, type: 'done', positions: positionScores(scores, levels, images) });
      }
    } else if (request.task === 'maps') {
      // On the model's device: the CUDA map kernels when the model runs on a GPU.
      const maps = mapsFromScores(request.positions, request.calibration, { ...request.options, backend: loaded.backend }, loaded.levels[0].head);
      port.postMessage({ id, type: 'done', maps }, [maps.maps.buffer as ArrayBuffer, maps.scores.buffer as ArrayBuffer]);
    } else {
      port.postMessage({ id, type: 'done', scores: loaded.scoreSync(request.inputs, request.classes, request.rule) });
    }
  } catch (err) {
    const e = err as Error;
    const out: WorkerError = { id, type: 'error', name: e.name ?? 'Error', message: e.message ?? String(err) };
    if (e instanceof FormatError) out.file = e.file;
    port.postMessage(out);
  }
}

if (parentPort) parentPort.on('message', handle);
