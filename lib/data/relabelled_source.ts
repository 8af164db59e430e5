// A feature source with other class ids: label-free training reads the
// feature cache of a data set (whose ids are its folders) under the ids of
// the clusters its images fell into.
import { expectedRange, expectedType, received } from '../errors';
import type { FeatureSource, FeatureSourceSpec, LevelShape } from './feature_source';

/** How a worker opens the same relabelled source: the inner source's spec and the new ids. */
export interface RelabelledSourceSpec {
  kind: 'relabelled';
  source: FeatureSourceSpec;
  /** (numImages) the class id of each image of the inner source, in its order */
  labels: Int32Array;
}

export class RelabelledFeatureSource implements FeatureSource {
  readonly levels: readonly LevelShape[];
  readonly numImages: number;
  readonly readConditions?: (level: number, ids: Int32Array, out: Float32Array) => void;

  constructor(private readonly inner: FeatureSource, readonly labels: Int32Array) {
    if (!(labels instanceof Int32Array)) throw expectedType('an Int32Array of class ids', 'source.labels', labels);
    if (labels.length !== inner.numImages) throw expectedRange(`${inner.numImages} labels (one per image of the source)`, 'source.labels', received(`${labels.length} labels`));
    for (let i = 0; i < labels.length; ++i) if (!(labels[i] >= 0)) throw expectedRange('class ids >= 0', 'source.labels', received(`${labels[i]} at index ${i}`));
    this.levels = inner.levels;
    this.numImages = inner.numImages;
    if (inner.readConditions) this.readConditions = (level, ids, out) => inner.readConditions!(level, ids, out);
  }

  read(level: number, ids: Int32Array, out: Float32Array): void {
    this.inner.read(level, ids, out);
  }

  close(): void {
    this.inner.close();
  }
}
