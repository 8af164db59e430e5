// The kinds of anomaly map (see lib/localise/score_maps.ts), in a module of
// their own so that command-line help can list them without loading the addon.
export type MapKind = 'calibrated' | 'fused' | 'logp';
export const MAP_KINDS: readonly MapKind[] = ['calibrated', 'fused', 'logp'];
