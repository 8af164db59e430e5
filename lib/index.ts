// hgad: unified anomaly detection with hierarchical Gaussian mixture
// normalizing flows, for Node.js.
//
// The public API: what README.md and docs/ document. Building blocks (tensors, flows,
// mixtures, autograd, optimisers, backends, the native addon) are exported
// from `hgad/internal` (lib/internal.ts) and may change without notice.
// test/public_api.test.ts holds the list of these names.

// The model, fitting and scoring from vectors and feature sources.
export { HGAD } from './hgad';
export type {
  DeviceOptions, FitOptions, SourceFitOptions, SourceFitOptionsWithProgress, ModelInfo, ModelConfig, TrainConfig, LevelConfig, FitProgress,
  FitSummary, LevelData, LevelInput, Scores, LevelScores, ClassFree, ClassFreeRule, ClassFreeOptions,
} from './hgad';
export { HgadModel } from './hgad/model';
export { trainFromSource } from './hgad/trainer';
export type { SourceTrainConfig, TrainProgress, TrainSummary } from './hgad/trainer';
export type { FitEstimate } from './hgad/fit_estimate';
export type { PresetName } from './hgad/presets';
export { MemoryFeatureSource } from './data/feature_source';
export type { FeatureSource, FeatureSourceSpec, MemorySourceSpec, LevelShape } from './data/feature_source';
export { positionalConditions } from './nn/positional_encoding';

// Images: data sets, preprocessing, backbones, the feature cache, fitting and scoring.
export { indexDataset } from './images/dataset';
export type { DatasetIndex, ImageEntry, TestImage, IndexOptions } from './images/dataset';
export { inspectDataset } from './images/inspect';
export type { Inspection, InspectOptions, SkippedImage, TestInspection } from './images/inspect';
export { loadImage, loadMask, inspectImage } from './images/preprocess';
export type { Preprocessing, ImageInfo } from './images/preprocess';
export { Backbone } from './images/backbone';
export type { BackboneOptions, BackboneRecord } from './images/backbone';
export type { FeatureMap } from './hgad/score_maps';
export { extractFeatures } from './images/extract';
export type { ExtractOptions, ExtractProgress, ExtractResult } from './images/extract';
export { fitImages, fitFeatureMaps, estimateFit } from './images/fit_images';
export type { FitImagesOptions, FitImagesProgress, FitImagesResult, FitFeatureMapsOptions } from './images/fit_images';
export { checkFeatureOrigin, modelPreprocessing } from './images/feature_extractor';
export type { FeatureExtractor, ExtractorRecord } from './images/feature_extractor';
export { CacheFeatureSource } from './data/feature_cache';
export type { CacheSourceSpec } from './data/feature_cache';
export { scoreImages } from './localise/score_images';
export type { ScoreImagesOptions, ImageScores } from './localise/score_images';

// Anomaly maps and metrics.
export { anomalyMaps, calibratedMaps, fusedReferenceMaps, imageScoresFromMaps, referenceMaps } from './maps/anomaly_map';
export type { LevelCalibration, LevelMap, MapOptions } from './maps/anomaly_map';
export { localisationMetrics } from './metrics/localisation';
export type { LocalisationMetrics } from './metrics/localisation';
export { auroc } from './metrics/auroc';
export { meanOverClasses, metricsJson } from './metrics/summary';

// Files and errors.
export { readNpy, writeNpy, toFloat32, toInt32Labels } from './io/npy';
export type { NpyArray, NpyDtype } from './io/npy';
export { readSafetensors, writeSafetensors } from './io/safetensors';
export { FormatError } from './errors';

// Devices and CPU threads.
export { devices, setThreads, threads, setCpuKernel, cpuKernel, CPU_KERNELS } from './backend/index';
export type { CpuKernel, Device, DeviceRequest, Precision, DeviceReport } from './backend/index';

// The scoring service and the queue.
export { createServer } from './serve/server';
export type { ServeOptions, HgadServer } from './serve/server';
export { createWorker, addImages, queueStatus } from './queue/index';
export type { WorkerOptions, HgadWorker, AddOptions, QueueCounts } from './queue/index';
