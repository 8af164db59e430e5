// The image path's public surface: data set index, preprocessing, backbones,
// the feature cache, training from images and the backbone check of scoring.
export { indexDataset, IMAGE_SUFFIXES } from './dataset';
export type { DatasetIndex, ImageEntry, TestImage, IndexOptions } from './dataset';
export { inspectDataset, inspectTestSet } from './inspect';
export type { Inspection, InspectOptions, SkippedImage, TestInspection } from './inspect';
export { loadImage, loadMask, inspectImage, checkPreprocessing, resizeGeometry, IMAGENET_MEAN, IMAGENET_STD } from './preprocess';
export type { Preprocessing, ImageInfo } from './preprocess';
export { Backbone, demoBackbonePath, sha256File, PYRAMID_SCALES } from './backbone';
export type { BackboneOptions, BackboneRecord, FeatureMaps } from './backbone';
export { extractFeatures, cacheKey } from './extract';
export type { ExtractOptions, ExtractProgress, ExtractResult } from './extract';
export { fitImages, fitFeatureMaps, estimateFit, defaultCacheDir, DEFAULT_IMAGE_SIZE, DEFAULT_COND_CHANNELS, DEFAULT_IMAGE_COUPLINGS } from './fit_images';
export type { FitImagesOptions, FitImagesProgress, FitImagesResult, FitFeatureMapsOptions } from './fit_images';
export { checkFeatureOrigin, featureOrigin, modelPreprocessing } from './origin';
export { CacheFeatureSource, readCacheMeta } from '../data/feature_cache';
export type { CacheMeta, CacheSourceSpec, CacheDType } from '../data/feature_cache';
export { importFeatureMaps } from '../data/import_feature_maps';
