// The cost of the feature cache's checksums beside extraction: extracts N
// images (default 32, 256 x 256) with the shipped demo backbone three times
// and prints the medians of the extraction (which hashes each level as it is
// written), of sha1 over the level bytes alone, and of verifyCache (read,
// sha1 and the non-finite scan of every level file, done each time a cache is
// found). Usage: node dist/bench/cache_checksums.js [N]
import * as crypto from 'crypto';
import * as fs from 'fs';
import { verifyCache } from '../lib/data/cache_verify';
import { levelFile } from '../lib/data/feature_cache';
import { Backbone, demoBackbonePath } from '../lib/images/backbone';
import { indexDataset } from '../lib/images/dataset';
import { extractFeatures, ExtractResult } from '../lib/images/extract';
import { IMAGENET_MEAN, IMAGENET_STD } from '../lib/images/preprocess';
import { makeMvtec, tempDir } from '../test/helpers/mvtec';

const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];

async function main(): Promise<void> {
  const N = Number(process.argv[2] ?? 32);
  const root = await makeMvtec({ bottle: { train: N } }, { size: 256 });
  const index = await indexDataset(root);
  const backbone = await Backbone.open(demoBackbonePath());
  const prep = { imageSize: 256, crop: 256, mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const t = { extract: [] as number[], sha1: [] as number[], verify: [] as number[] };
  let r: ExtractResult | undefined;
  for (let k = 0; k < 3; ++k) {
    let t0 = performance.now();
    r = await extractFeatures({ images: index.train, classNames: index.classNames, backbone, preprocessing: prep, cacheDir: tempDir() });
    t.extract.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    verifyCache(r.dir, r.meta);
    t.verify.push((performance.now() - t0) / 1000);
    const bytes = r.meta.levels.map((_, l) => fs.readFileSync(levelFile(r!.dir, l)));
    t0 = performance.now();
    for (const b of bytes) crypto.createHash('sha1').update(b).digest('hex');
    t.sha1.push((performance.now() - t0) / 1000);
  }
  const mib = r!.meta.levels.reduce((s, _, l) => s + fs.statSync(levelFile(r!.dir, l)).size, 0) / 2 ** 20;
  console.log(
    `${N} images 256x256, cache ${mib.toFixed(1)} MiB float16; medians of 3: extraction ${median(t.extract).toFixed(2)} s, ` +
      `sha1 of the level bytes ${(median(t.sha1) * 1000).toFixed(1)} ms, verifyCache ${(median(t.verify) * 1000).toFixed(1)} ms`,
  );
  await backbone.close();
}

void main();
