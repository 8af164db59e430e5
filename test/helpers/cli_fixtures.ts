// Broken and mismatched input files for the CLI's error-case tests, derived
// from a CliDataset and a trained model.
import * as fs from 'fs';
import * as path from 'path';
import { readNpy, writeNpy } from '../../lib/io/npy';
import { C, CliDataset } from './cli_data';

export interface BadFiles {
  garbage: string;
  truncatedNpy: string;
  truncatedModel: string;
  nanFeatures: string;
  narrowFeatures: string;
  oneDimFeatures: string;
  shortLabels: string;
  fractionalLabels: string;
  negativeLabels: string;
  truthOnlyZeros: string;
  /** A file that exists before the failing command and must be left byte for byte. */
  sentinelModel: string;
  sentinelScores: string;
}

export function writeBadFiles(d: CliDataset, model: string): BadFiles {
  const p = (name: string) => path.join(d.dir, name);
  const features = readNpy(d.features);
  const N = features.shape[0];
  const f = Float32Array.from(features.data as Float64Array);
  const files: BadFiles = {
    garbage: p('garbage.npy'),
    truncatedNpy: p('truncated.npy'),
    truncatedModel: p('truncated.safetensors'),
    nanFeatures: p('nan.npy'),
    narrowFeatures: p('narrow.npy'),
    oneDimFeatures: p('onedim.npy'),
    shortLabels: p('short_labels.npy'),
    fractionalLabels: p('fractional_labels.npy'),
    negativeLabels: p('negative_labels.npy'),
    truthOnlyZeros: p('zeros.npy'),
    sentinelModel: p('sentinel.safetensors'),
    sentinelScores: p('sentinel.npy'),
  };
  fs.writeFileSync(files.garbage, 'this is not a numpy file\n'.repeat(20));
  const whole = fs.readFileSync(d.features);
  fs.writeFileSync(files.truncatedNpy, whole.subarray(0, whole.length - 100));
  const m = fs.readFileSync(model);
  fs.writeFileSync(files.truncatedModel, m.subarray(0, Math.floor(m.length * 0.7)));
  const nan = f.slice();
  nan[7 * C + 3] = NaN;
  writeNpy(files.nanFeatures, { dtype: 'float32', shape: [N, C], data: nan });
  const narrow = new Float32Array(N * (C - 1));
  for (let i = 0; i < N; ++i) narrow.set(f.subarray(i * C, i * C + C - 1), i * (C - 1));
  writeNpy(files.narrowFeatures, { dtype: 'float32', shape: [N, C - 1], data: narrow });
  writeNpy(files.oneDimFeatures, { dtype: 'float32', shape: [N * C], data: f });
  writeNpy(files.shortLabels, { dtype: 'int32', shape: [N - 1], data: new Int32Array(N - 1) });
  writeNpy(files.fractionalLabels, { dtype: 'float64', shape: [N], data: new Float64Array(N).fill(0.5) });
  writeNpy(files.negativeLabels, { dtype: 'int32', shape: [N], data: new Int32Array(N).fill(-1) });
  writeNpy(files.truthOnlyZeros, { dtype: 'uint8', shape: [300], data: new Uint8Array(300) });
  fs.writeFileSync(files.sentinelModel, 'previous model\n');
  fs.writeFileSync(files.sentinelScores, 'previous scores\n');
  return files;
}
