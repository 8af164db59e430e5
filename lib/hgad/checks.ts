// Input checks of the model's fit and score: shapes against the model's
// configuration, finite values, class ids in range. They run before any work
// so that a bad input is one clear error and nothing is half-done.
import { firstNonFinite } from '../backend/host';
import { expectedRange, expectedType, received } from '../errors';
import { ModelConfig } from './config';

/** Checks one level's arrays (features (N, C), cond (N, P) when P > 0) and returns N. */
export function checkLevelArrays(config: ModelConfig, l: number, features: unknown, cond: unknown, what: string): number {
  const { channels: C, condChannels: P } = config.levels[l];
  const name = `${what}[${l}].features`;
  if (!(features instanceof Float32Array)) throw expectedType('a Float32Array', name, features);
  if (features.length === 0 || features.length % C !== 0) {
    throw expectedRange(`a non-empty multiple of ${C} values (N x ${C})`, name, received(`${features.length} values`));
  }
  const N = features.length / C;
  const bad = firstNonFinite(features);
  if (bad >= 0) throw expectedRange('finite values', name, received(`${features[bad]} at vector ${Math.floor(bad / C)}, dimension ${bad % C}`));
  if (P > 0) {
    if (!(cond instanceof Float32Array)) throw expectedType(`a Float32Array of ${N} x ${P} conditions`, `${what}[${l}].cond`, cond);
    if (cond.length !== N * P) throw expectedRange(`${N * P} values (${N} x ${P})`, `${what}[${l}].cond`, received(`${cond.length} values`));
    const badCond = firstNonFinite(cond);
    if (badCond >= 0) throw expectedRange('finite values', `${what}[${l}].cond`, received(`${cond[badCond]} at vector ${Math.floor(badCond / P)}`));
  } else if (cond !== undefined && cond !== null) {
    throw expectedType('no condition (this level is unconditional)', `${what}[${l}].cond`, cond);
  }
  return N;
}

/** Checks N class ids in [0, K). */
export function checkLabels(labels: unknown, N: number, K: number, name: string): Int32Array {
  if (!(labels instanceof Int32Array)) throw expectedType('an Int32Array of class ids', name, labels);
  if (labels.length !== N) throw expectedRange(`${N} labels (one per vector)`, name, received(`${labels.length} labels`));
  for (let i = 0; i < N; ++i) {
    if (labels[i] < 0 || labels[i] >= K) throw expectedRange(`class ids in [0, ${K})`, name, `${labels[i]} at index ${i}`);
  }
  return labels;
}
