// Training from the float16 feature cache at the paper's configuration
// (C = 200, P = 256, 12 couplings, K = 15, M = 10), three rows:
//   fit_sampled   vectors/s and images/s of position sampling at 1/16 against
//                 the full loop, interleaved run by run in one process
//   fit_preview   the preview's ETA (a timing of the first steps) against the
//                 measured time of the run it previewed
//   fit_profile   where a full-position step's time goes: GEMM (the native
//                 GEMM's own clock), cache read + float16 widening and the
//                 condition gather (timed alone on the same batch), the rest
//                 (coupling elementwise, mixture, losses, Adam, allocation)
//   node dist/bench/fit_sampled.js [--quick] [--runs R] [--only fit_sampled,fit_preview,fit_profile]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { native } from '../lib/backend/index';
import { cpu } from '../lib/backend/cpu';
import { CacheFeatureSource } from '../lib/data/feature_cache';
import { importFeatureMaps } from '../lib/data/import_feature_maps';
import { HgadModel } from '../lib/hgad/model';
import { PositionSampler } from '../lib/hgad/position_sampling';
import { trainFromSource } from '../lib/hgad/trainer';
import { writeNpy } from '../lib/io/npy';
import { positionalConditions } from '../lib/nn/positional_encoding';
import { Random } from '../lib/random';
import { PAPER } from './scenarios';
import { hrSeconds, machineContext, median } from './timing';

type Row = Record<string, unknown> & { scenario: string };

/** A float16 cache of `images` random (C = 200, side x side) maps, in a temporary folder. */
async function paperCache(images: number, side: number): Promise<{ source: CacheFeatureSource; cleanup: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-fit-sampled-'));
  const rng = new Random(0);
  const maps = new Float32Array(images * PAPER.C * side * side);
  for (let i = 0; i < maps.length; ++i) maps[i] = rng.normal();
  writeNpy(path.join(dir, 'f.npy'), { dtype: 'float32', shape: [images, PAPER.C, side, side], data: maps });
  const labels = Int32Array.from({ length: images }, (_, i) => i % PAPER.K);
  const classNames = Array.from({ length: PAPER.K }, (_, k) => `class${k}`);
  const { dir: cache } = await importFeatureMaps({ files: [path.join(dir, 'f.npy')], labels, classNames, cacheDir: path.join(dir, 'cache'), dtype: 'float16' });
  const source = new CacheFeatureSource(cache);
  return { source, cleanup: () => { source.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

function paperModel(): HgadModel {
  return HgadModel.create({
    levels: [{ channels: PAPER.C, condChannels: PAPER.P }], classNames: Array.from({ length: PAPER.K }, (_, k) => `class${k}`),
    couplings: PAPER.couplings, clamp: PAPER.clamp, intraCentres: PAPER.M,
  }, 0);
}

const LOOP = { subEpochs: 1, warmEpochs: 0, stage1Epochs: 0, cosine: false, lr: 2e-4, shuffle: false };

export async function fitSampledBench(quick: boolean, runs: number): Promise<Row[]> {
  const side = quick ? 16 : 32;
  const B = quick ? 4 : 8;
  const images = 2 * B;
  const { source, cleanup } = await paperCache(images, side);
  const rows: Row[] = [];
  try {
    const model = paperModel();
    const hw = side * side;
    // one pass (2 batches) of the full loop; 1/16 sampling: 16 passes, the same vectors
    const full = () => trainFromSource(model, source, { ...LOOP, metaEpochs: 1, imagesPerBatch: B });
    const sampled = () => trainFromSource(model, source, { ...LOOP, metaEpochs: 16, imagesPerBatch: B, positionFraction: 1 / 16 });
    const a: number[] = [];
    const b: number[] = [];
    for (let r = -1; r < runs; ++r) {
      const ta = hrSeconds(full);
      const tb = hrSeconds(sampled);
      if (r >= 0) a.push(ta);
      if (r >= 0) b.push(tb);
    }
    const vectors = images * hw;
    const row: Row = {
      scenario: 'fit_sampled', shapes: `${images} images of ${side}x${side}x${PAPER.C} float16 cache, batches of ${B}, P=${PAPER.P} blocks=${PAPER.couplings} K=${PAPER.K} M=${PAPER.M}`,
      full_median_s: median(a), sampled_median_s: median(b), vectors_per_s_full: vectors / median(a), vectors_per_s_sampled: vectors / median(b),
      images_per_s_full: images / median(a), images_per_s_sampled: (16 * images) / median(b),
      vectors_ratio: median(a) / median(b), images_ratio: (16 * median(a)) / median(b), runs,
    };
    rows.push(row);
    console.log(`  fit_sampled: full ${Math.round(row.vectors_per_s_full as number)} vectors/s, ${(row.images_per_s_full as number).toFixed(3)} images/s; ` +
      `1/16 ${Math.round(row.vectors_per_s_sampled as number)} vectors/s (${(row.vectors_ratio as number).toFixed(3)}x), ` +
      `${(row.images_per_s_sampled as number).toFixed(2)} image visits/s (${(row.images_ratio as number).toFixed(2)}x); median of ${runs} interleaved runs`);

    // the preview's ETA against the time of the run it previewed (1/16, 8 passes)
    const etas: number[] = [];
    const took: number[] = [];
    for (let r = 0; r < Math.max(1, Math.ceil(runs / 2)); ++r) {
      let eta = NaN;
      const s = trainFromSource(model, source, { ...LOOP, metaEpochs: 8, imagesPerBatch: B, positionFraction: 1 / 16, preview: true }, undefined, (e) => { eta = e.etaSeconds; });
      etas.push(eta);
      took.push(s.seconds);
    }
    const ratios = etas.map((e, i) => e / took[i]);
    rows.push({ scenario: 'fit_preview', shapes: `8 passes of ${images} images at 1/16`, eta_s: median(etas), measured_s: median(took), eta_over_measured: median(ratios), ratios });
    console.log(`  fit_preview: ETA ${median(etas).toFixed(2)} s, measured ${median(took).toFixed(2)} s: ETA / measured ${median(ratios).toFixed(3)} (runs: ${ratios.map((x) => x.toFixed(2)).join(' ')})`);

    // profile of a full-position step (two steps per call, so the call's setup is shared), and its data path alone
    const total: number[] = [];
    const gemm: number[] = [];
    const read: number[] = [];
    const gather: number[] = [];
    const ids = Int32Array.from({ length: B }, (_, i) => i);
    const out = new Float32Array(B * hw * PAPER.C);
    const table = cpu.fromHost(positionalConditions(PAPER.P, side, side), 'float32');
    const sampler = new PositionSampler(0, 0, hw, hw, images);
    const idx = sampler.draw(ids, new Int32Array(B * hw));
    const cond = new Float32Array(B * hw * PAPER.P);
    for (let r = -1; r < runs; ++r) {
      const g0 = native.gemmProfile().seconds;
      const t = hrSeconds(() => trainFromSource(model, source, { ...LOOP, metaEpochs: 1, imagesPerBatch: B, batches: [Array.from(ids), Array.from(ids)] }));
      const g = native.gemmProfile().seconds - g0;
      const tr = hrSeconds(() => source.read(0, ids, out));
      const tg = hrSeconds(() => cpu.gatherRows(B * hw, PAPER.P, table, idx, cond));
      if (r < 0) continue;
      total.push(t / 2);
      gemm.push(g / 2);
      read.push(tr);
      gather.push(tg);
    }
    const T = median(total);
    const shares = { gemm: median(gemm) / T, cache_read_and_widen: median(read) / T, condition_gather: median(gather) / T };
    const rest = 1 - shares.gemm - shares.cache_read_and_widen - shares.condition_gather;
    rows.push({ scenario: 'fit_profile', shapes: `one batch of ${B} images of ${side}x${side} (${B * hw} vectors), every position`, step_s: T, ...shares, rest, non_gemm: 1 - shares.gemm });
    console.log(`  fit_profile: step ${T.toFixed(3)} s: GEMM ${(100 * shares.gemm).toFixed(1)}%, cache read + float16 widening ${(100 * shares.cache_read_and_widen).toFixed(1)}%, ` +
      `condition gather ${(100 * shares.condition_gather).toFixed(1)}%, the rest (coupling elementwise, mixture, Adam, allocation) ${(100 * rest).toFixed(1)}%`);
  } finally {
    cleanup();
  }
  return rows;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : quick ? 2 : 5;
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`Expected a positive integer for --runs but received ${process.argv[i + 1]}`);
  const ctx = machineContext();
  console.log(`threads ${ctx.threads}, gemm kernel ${ctx.gemm_kernel}${quick ? ' (QUICK: not representative)' : ''}`);
  const rows = await fitSampledBench(quick, runs);
  const j = process.argv.indexOf('--json');
  if (j >= 0) fs.writeFileSync(process.argv[j + 1], JSON.stringify(rows, null, 2) + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
