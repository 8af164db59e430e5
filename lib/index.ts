// hgad: unified anomaly detection with hierarchical Gaussian mixture
// normalizing flows, for Node.js.
export { HGAD } from './hgad';
export type { DeviceOptions, FitOptions, SourceFitOptionsWithProgress, ModelInfo, ModelConfig, TrainConfig, LevelConfig, FitProgress, FitSummary, LevelData, LevelInput, Scores, LevelScores, ClassFree, ClassFreeRule, ClassFreeOptions } from './hgad';
export { HgadModel, referenceFusion } from './hgad/model';
export { DEFAULT_MODEL, DEFAULT_TRAIN } from './hgad/config';
export { trainFromSource, DEFAULT_SOURCE_TRAIN } from './hgad/trainer';
export type { SourceTrainConfig, TrainProgress, TrainSummary, TrainedSchedule, StepLosses } from './hgad/trainer';
export { budgetSchedule, fitCounts, forwardFlopsPerVector } from './hgad/fit_estimate';
export type { FitCounts, FitEstimate, ScheduleLengths } from './hgad/fit_estimate';
export { parsePositions, PositionSampler, sampledPositions } from './hgad/position_sampling';
export { PRESETS, PRESET_NAMES } from './hgad/presets';
export type { PresetName } from './hgad/presets';
export { MemoryFeatureSource } from './data/feature_source';
export { openFeatureSource } from './data/open_source';
export type { FeatureSource, FeatureSourceSpec, MemorySourceSpec, LevelShape } from './data/feature_source';
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
export { anomalyMaps, calibratedMaps, fusedReferenceMaps, imageScoresFromMaps, referenceMaps } from './maps/anomaly_map';
export type { LevelCalibration, LevelMap, MapOptions } from './maps/anomaly_map';
export { localisationMetrics } from './metrics/localisation';
export type { LocalisationMetrics } from './metrics/localisation';
export { meanOverClasses, metricsJson } from './metrics/summary';
export { readNpy, writeNpy, readNpyAsync, writeNpyAsync, parseNpy, encodeNpy, toFloat32, toInt32Labels } from './io/npy';
export type { NpyArray, NpyDtype } from './io/npy';
export { readSafetensors, writeSafetensors, parseSafetensors, encodeSafetensors } from './io/safetensors';
export { FormatError } from './errors';
export {
  cpu, CudaBackend, selectBackend, setThreads, threads, native, setCpuKernel, cpuKernel, CPU_KERNELS, devices, cudaBackend, toDevice,
  toHost,
} from './backend/index';
export type {
  Backend, BackendOptions, CudaBackendOptions, Device, DeviceRequest, DeviceArray, Precision, Storage, IntStorage, CpuKernel, CudaAddon,
  CudaStream, DeviceBuffer, DeviceSurface,
} from './backend/index';
export { Random } from './random';
export * from './images/index';
export { createServer } from './serve/server';
export type { ServeOptions, HgadServer } from './serve/server';
export { createWorker, addImages, queueStatus } from './queue/index';
export type { WorkerOptions, HgadWorker, AddOptions, QueueCounts } from './queue/index';
export { scoreImages } from './localise/score_images';
export type { ScoreImagesOptions, ImageScores } from './localise/score_images';
