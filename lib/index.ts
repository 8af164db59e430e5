// hgad: unified anomaly detection with hierarchical Gaussian mixture
// normalizing flows, for Node.js.
export { HGAD } from './hgad';
export type { DeviceOptions, FitOptions, ModelInfo, ModelConfig, TrainConfig, LevelConfig, FitProgress, FitSummary, LevelData, LevelInput, Scores, LevelScores } from './hgad';
export { HgadModel, referenceFusion } from './hgad/model';
export { DEFAULT_MODEL, DEFAULT_TRAIN } from './hgad/config';
export { Tensor } from './tensor';
export type { DType } from './tensor';
export { Flow } from './nn/flow';
export type { FlowConfig } from './nn/flow';
export { CouplingBlock } from './nn/coupling_block';
export { GaussianMixture, smoothedOneHot } from './nn/mixture';
export { positionalEncoding2d, positionalConditions } from './nn/positional_encoding';
export { backward, noGrad } from './autograd/tape';
export { Adam } from './optim/adam';
export { learningRate, scheduleTable } from './optim/schedule';
export { auroc } from './metrics/auroc';
export { anomalyMaps } from './metrics/anomaly_map';
export { readNpy, writeNpy, readNpyAsync, writeNpyAsync, parseNpy, encodeNpy, toFloat32, toInt32Labels } from './io/npy';
export type { NpyArray, NpyDtype } from './io/npy';
export { readSafetensors, writeSafetensors, parseSafetensors, encodeSafetensors } from './io/safetensors';
export { FormatError } from './errors';
export { setThreads, threads, native } from './binding';
export { devices } from './devices';
export { cudaBackend, toDevice, toHost } from './cuda';
export type { CudaAddon, CudaStream, DeviceBuffer } from './cuda';
export { cpu, CudaBackend, selectBackend } from './backend/index';
export type { Backend, BackendOptions, CudaBackendOptions, Device, DeviceRequest, DeviceArray, Precision, Storage, IntStorage } from './backend/index';
export { Random } from './random';
