// node dist/bench/fit_memory.js ROOT N: writes a float16 cache of N random
// images (32x32 positions, C = 64) under ROOT, trains one sub-epoch over all of
// them with HGAD.fitSource (the worker opens the cache itself), and prints the
// process's peak RSS (worker included) as one JSON line. Run by bench/images.ts
// once per data-set size, each in a fresh process, so each peak is its own.
import { HGAD } from '../lib/hgad';
import { randomCache } from './images';

async function main(): Promise<void> {
  const [root, n] = process.argv.slice(2);
  const images = Number(n);
  if (!root || !Number.isInteger(images) || images < 8) throw new RangeError(`usage: fit_memory.js ROOT N (N >= 8), got ${process.argv.slice(2).join(' ')}`);
  const K = 15;
  const dir = randomCache(root, images, 32, 64, K);
  const model = HGAD.create({
    levels: [{ channels: 64, condChannels: 32 }], classNames: Array.from({ length: K }, (_, k) => `class${k}`), couplings: 4, clamp: 1.9, intraCentres: 10,
  });
  const t0 = performance.now();
  await model.fitSource({ kind: 'cache', dir }, { metaEpochs: 1, subEpochs: 1, imagesPerBatch: 8, warmEpochs: 0, stage1Epochs: 0 });
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, seconds, vectors: images * 1024 }));
}

main().then(() => process.exit(0), (e) => {
  console.error((e as Error).message);
  process.exit(1);
});
