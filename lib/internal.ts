// hgad/internal: the building blocks below the public API of lib/index.ts
// (which this module re-exports too): tensors, flows, mixtures, autograd,
// optimisers and schedules, the training loop's pieces, backends and the
// native addon's raw surface, and helpers of the image path. For tools,
// benchmarks and experiments; these names may change in any release.
export * from './index';

// Model and training internals.
export { referenceFusion } from './hgad/model';
export type { Calibration } from './hgad';
export { DEFAULT_MODEL, DEFAULT_TRAIN } from './hgad/config';
export { DEFAULT_SOURCE_TRAIN } from './hgad/trainer';
export type { TrainedSchedule, StepLosses } from './hgad/trainer';
export { budgetSchedule, fitCounts, forwardFlopsPerVector } from './hgad/fit_estimate';
export type { FitCounts, ScheduleLengths } from './hgad/fit_estimate';
export { parsePositions, PositionSampler, sampledPositions } from './hgad/position_sampling';
export { PRESETS, PRESET_NAMES } from './hgad/presets';
export { openFeatureSource } from './data/open_source';

// Tensors, layers, autograd, optimisers.
export { Tensor } from './tensor';
export type { DType } from './tensor';
export { Flow } from './nn/flow';
export type { FlowConfig } from './nn/flow';
export { CouplingBlock } from './nn/coupling_block';
export { GaussianMixture, SingleGaussian, headKind, smoothedOneHot } from './nn/heads';
export type { Head, HeadKind, HeadShape } from './nn/heads';
export { positionalEncoding2d } from './nn/positional_encoding';
export { backward, noGrad } from './autograd/tape';
export { Adam } from './optim/adam';
export { learningRate, scheduleTable } from './optim/schedule';
export { Random } from './random';

// Array file forms beyond read/write.
export { readNpyAsync, writeNpyAsync, parseNpy, encodeNpy } from './io/npy';
export { parseSafetensors, encodeSafetensors } from './io/safetensors';

// Backends and the native addon.
export { cpu, CudaBackend, selectBackend, native, cudaBackend, toDevice, toHost } from './backend/index';
export type {
  Backend, BackendOptions, CudaBackendOptions, DeviceArray, Storage, IntStorage, CudaStream, DeviceBuffer, DeviceSurface,
} from './backend/index';

// Image path helpers.
export { IMAGE_SUFFIXES } from './images/dataset';
export { inspectTestSet } from './images/inspect';
export { checkPreprocessing, resizeGeometry, IMAGENET_MEAN, IMAGENET_STD } from './images/preprocess';
export { demoBackbonePath, sha256File, PYRAMID_SCALES } from './images/backbone';
export { cacheKey } from './images/extract';
export { defaultCacheDir, DEFAULT_IMAGE_SIZE, DEFAULT_COND_CHANNELS, DEFAULT_IMAGE_COUPLINGS } from './images/fit_images';
export { featureOrigin } from './images/feature_extractor';
export { readCacheMeta } from './data/feature_cache';
export type { CacheMeta, CacheDType } from './data/feature_cache';
export { importFeatureMaps } from './data/import_feature_maps';
