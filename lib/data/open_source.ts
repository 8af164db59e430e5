// The one place that knows every kind of feature source: opens the source a
// description names (the worker opens its training data with it).
import { expectedRange, expectedType } from '../errors';
import { CacheFeatureSource } from './feature_cache';
import { FeatureSource, FeatureSourceSpec, MemoryFeatureSource } from './feature_source';
import { RelabelledFeatureSource } from './relabelled_source';

/** Opens the source a spec describes (in whichever thread calls it). */
export function openFeatureSource(spec: FeatureSourceSpec): FeatureSource {
  if (typeof spec !== 'object' || spec === null) throw expectedType('a feature source description', 'source', spec);
  switch (spec.kind) {
    case 'memory':
      return new MemoryFeatureSource(spec);
    case 'cache':
      if (typeof spec.dir !== 'string' || spec.dir === '') throw expectedType('a feature cache folder path', 'source.dir', spec.dir);
      return new CacheFeatureSource(spec.dir);
    case 'relabelled': {
      if (spec.source?.kind === 'relabelled') throw expectedRange("an inner source kind ('memory' or 'cache')", 'source.source.kind', 'relabelled');
      const inner = openFeatureSource(spec.source);
      try {
        return new RelabelledFeatureSource(inner, spec.labels);
      } catch (err) {
        inner.close();
        throw err;
      }
    }
    default:
      throw expectedRange("a feature source kind ('memory', 'cache' or 'relabelled')", 'source.kind', (spec as { kind?: unknown }).kind);
  }
}
