// The kinds of anomaly map (see lib/localise/score_maps.ts), in a module of
// their own so that command-line help can list them without loading the addon.
export type MapKind = 'calibrated' | 'class-calibrated' | 'fused' | 'logp';
export const MAP_KINDS: readonly MapKind[] = ['calibrated', 'class-calibrated', 'fused', 'logp'];

/** The kinds normalised by the training data (batch-independent). */
export function isCalibratedKind(kind: MapKind): boolean {
  return kind === 'calibrated' || kind === 'class-calibrated';
}
