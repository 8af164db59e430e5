// Any FeatureExtractor, not only the ONNX Backbone, is recorded in and
// checked against a model's feature origin.
import test from 'ava';
import type { ModelConfig } from '../lib/hgad/config';
import type { FeatureMap } from '../lib/hgad/score_maps';
import { checkFeatureOrigin, FeatureExtractor, featureOrigin } from '../lib/images/feature_extractor';
import type { Preprocessing } from '../lib/images/preprocess';

function constantExtractor(sha256: string): FeatureExtractor {
  return {
    file: 'const.bin',
    levelNames: ['mean'],
    record: { sha256, file: 'const.bin', outputs: ['mean'], pyramid: false },
    async run(pixels: Float32Array, B: number, S: number): Promise<FeatureMap[]> {
      const data = new Float32Array(B);
      for (let b = 0; b < B; ++b) {
        let sum = 0;
        for (let i = 0; i < 3 * S * S; ++i) sum += pixels[b * 3 * S * S + i];
        data[b] = sum / (3 * S * S);
      }
      return [{ channels: 1, height: 1, width: 1, data }];
    },
    async close(): Promise<void> {},
  };
}

test('a FeatureExtractor other than Backbone is recorded as a model origin and checked against it', async (t) => {
  const p: Preprocessing = { imageSize: 4, crop: 4, mean: [0, 0, 0], std: [1, 1, 1] };
  const mine = constantExtractor('a'.repeat(64));
  const origin = featureOrigin(mine, p);
  t.deepEqual(origin, { backbone: { sha256: 'a'.repeat(64), file: 'const.bin', outputs: ['mean'], pyramid: false }, levels: ['mean'], preprocessing: { imageSize: 4, crop: 4, mean: [0, 0, 0], std: [1, 1, 1] } });
  const config = { features: origin } as unknown as ModelConfig;
  t.notThrows(() => checkFeatureOrigin(config, 'm.hgad', mine, p));
  t.throws(() => checkFeatureOrigin(config, 'm.hgad', constantExtractor('b'.repeat(64)), p), { message: /m\.hgad.*const\.bin \(sha256 bbbbbbbbbbbb…\) was given/ });
  t.throws(() => checkFeatureOrigin(config, 'm.hgad', mine, { ...p, crop: 2 }), { message: /cropped to 4.*but the given preprocessing is 4, 2/ });
  const [level] = await mine.run(new Float32Array(2 * 3 * 4 * 4).fill(0.5), 2, 4);
  t.deepEqual([level.channels, level.height, level.width, ...level.data], [1, 1, 1, 0.5, 0.5]);
  await mine.close();
});
