// Worker-thread entry: runs fit or score on a copy of the model so that the
// caller's event loop stays free. Messages: in {task, ...}; out {type:
// 'progress' | 'done' | 'error'}.
import { parentPort } from 'worker_threads';
import { FormatError } from '../errors';
import { LevelData, LevelInput } from './model';
import { modelFromTensors, modelTensors } from './persist';
import type { ModelConfig, TrainConfig } from './config';

type TensorMap = Record<string, { shape: number[]; data: Float32Array }>;

export type WorkerRequest =
  | { task: 'fit'; config: ModelConfig; tensors: TensorMap; data: LevelData[]; options: Partial<TrainConfig> }
  | { task: 'score'; config: ModelConfig; tensors: TensorMap; inputs: LevelInput[]; classes: Int32Array | number };

export interface WorkerError {
  type: 'error';
  name: string;
  message: string;
  file?: string;
}

function run(request: WorkerRequest): void {
  const port = parentPort!;
  try {
    const model = modelFromTensors(request.config, request.tensors);
    if (request.task === 'fit') {
      const summary = model.fitSync(request.data, request.options, (progress) => port.postMessage({ type: 'progress', progress }));
      port.postMessage({ type: 'done', tensors: modelTensors(model), summary });
    } else {
      const scores = model.scoreSync(request.inputs, request.classes);
      port.postMessage({ type: 'done', scores });
    }
  } catch (err) {
    const e = err as Error;
    const out: WorkerError = { type: 'error', name: e.name ?? 'Error', message: e.message ?? String(err) };
    if (e instanceof FormatError) out.file = e.file;
    port.postMessage(out);
  }
}

if (parentPort) parentPort.once('message', run);
