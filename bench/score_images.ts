// score_images: images/s of localisation end to end (decode + preprocess,
// backbone, flows and mixtures, maps: upsampling + normalisation + Gaussian
// smoothing) with the demo backbone at the reference's 256 x 256, a model of
// the paper's flow configuration on its levels, and the share of each stage.
// The weights are freshly initialised (speed does not depend on training).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { HGAD } from '../lib/hgad';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { featureOrigin } from '../lib/images/feature_extractor';
import { IMAGENET_MEAN, IMAGENET_STD, loadImage, Preprocessing } from '../lib/images/preprocess';
import { classCalibration, levelInputs, mapsFromScores, positionScores } from '../lib/hgad/score_maps';
import { Random } from '../lib/random';
import { BenchRecord, median } from './timing';

export interface ScoreImagesBench {
  record: BenchRecord;
  shares: Record<string, number>;
}

export async function scoreImagesBench(quick: boolean, device: string): Promise<ScoreImagesBench> {
  const S = quick ? 64 : 256;
  const B = 8;
  const runs = quick ? 2 : 5;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-bench-img-'));
  const rng = new Random(1);
  const files: string[] = [];
  for (let i = 0; i < B; ++i) {
    const px = Buffer.from(Uint8Array.from({ length: S * S * 3 }, () => rng.int(256)));
    const f = path.join(dir, `${i}.png`);
    await sharp(px, { raw: { width: S, height: S, channels: 3 } }).png().toFile(f);
    files.push(f);
  }
  const p: Preprocessing = { imageSize: S, crop: S, mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const backbone = await Backbone.open(demoBackbonePath());
  const probe = await backbone.run(new Float32Array(3 * S * S), 1, S);
  const K = 15;
  const model = HGAD.create({
    levels: probe.map((l) => ({ channels: l.channels, condChannels: 256 })),
    classNames: Array.from({ length: K }, (_, k) => `c${k}`),
    couplings: 12, clamp: 1.9, intraCentres: 10,
    features: featureOrigin(backbone, p),
  }, 0, { device: device === 'cuda' ? 'cuda' : 'cpu' });
  for (const level of model.core.levels) level.calibration = { mean: new Float64Array(K).fill(-1), std: new Float64Array(K).fill(0.5), count: new Float64Array(K).fill(100) };
  const calibration = classCalibration(model.core.levels.map((l) => l.calibration), 3, true);
  const stages = { decode: [] as number[], backbone: [] as number[], flows: [] as number[], maps: [] as number[], total: [] as number[] };
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  for (let r = -1; r < runs; ++r) {
    const t0 = now();
    const pixels = new Float32Array(B * 3 * S * S);
    for (let b = 0; b < B; ++b) await loadImage(files[b], p, pixels.subarray(b * 3 * S * S, (b + 1) * 3 * S * S));
    const t1 = now();
    const levels = await backbone.run(pixels, B, S);
    const t2 = now();
    const scores = await model.score(levelInputs(model.config, levels, B), 3);
    const t3 = now();
    mapsFromScores(positionScores(scores, levels, B), calibration, { height: S, width: S, kind: 'calibrated', sigma: 4 });
    const t4 = now();
    if (r < 0) continue; // warm-up: the worker starts, sessions warm up
    stages.decode.push(t1 - t0);
    stages.backbone.push(t2 - t1);
    stages.flows.push(t3 - t2);
    stages.maps.push(t4 - t3);
    stages.total.push(t4 - t0);
  }
  await backbone.close();
  model.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const total = median(stages.total);
  const shares: Record<string, number> = {};
  for (const k of ['decode', 'backbone', 'flows', 'maps'] as const) shares[k] = median(stages[k]) / total;
  const positions = probe.reduce((a, l) => a + l.height * l.width, 0);
  return {
    record: {
      scenario: 'score_images',
      device: model.device,
      shapes: `B=${B} ${S}x${S}, demo backbone (${probe.map((l) => `${l.channels}x${l.height}x${l.width}`).join(', ')}), ${positions} positions/image, P=256, 12 couplings, K=15, M=10, sigma 4`,
      median_s: total,
      vectors_per_s: B / total,
      gflops: null,
      runs,
      images_per_s: B / total,
      shares,
    } as BenchRecord,
    shares,
  };
}
