// FMNIST-U: one unified HGAD model on several Fashion-MNIST classes, each
// evaluated against the images of the other classes, next to the model kind
// 'flow' (the single-Gaussian conditional flow) of the same size trained the
// same way, through the same code.
//   npm run eval:fmnist -- [--data DIR] [--normal-classes 0,2,4,6,8] [--json FILE]
//                          [--epochs 6] [--seed 0] [--couplings 8]
//                          [--device cpu|cuda] [--precision fp32|tf32] [--no-flow]
//                          [--class-free] (also: the model scored without class ids, and models
//                          trained on k-means++ clusters instead of the classes: K chosen, K = true)
// --device cuda trains and scores both kinds on the GPU; HGAD_BENCH_EMULATE=1 runs that path over the emulated CUDA surface
// (CPU kernels, TF32 GEMM inputs rounded as the tensor cores round them).
import * as fs from 'fs';
import { HgadModel } from '../lib/hgad/model';
import { auroc } from '../lib/metrics/auroc';
import { DEFAULT_FMNIST_DIR, fitStandardiser, indicesOf, loadFashionMnist, pooledFeatures, standardise } from '../lib/data/fashion_mnist';
import { referenceFusion } from '../lib/hgad/model';
import { threads } from '../lib/backend/index';
import { cpu } from '../lib/backend/cpu';
import { Backend } from '../lib/backend/types';
import { cudaBackends } from './scenarios';
import type { ClassFreeRule } from '../lib/hgad/types';
import { agreement, classFreeRow, clusterVectors, FmnistTest } from './fmnist_class_free';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function mean(a: number[]): number {
  return a.reduce((x, y) => x + y, 0) / a.length;
}

function main(): void {
  const dir = arg('data', DEFAULT_FMNIST_DIR)!;
  const normal = (arg('normal-classes', '0,2,4,6,8') as string).split(',').map((s) => Number(s.trim()));
  if (normal.some((c) => !Number.isInteger(c) || c < 0 || c > 9) || new Set(normal).size !== normal.length || normal.length < 2) {
    throw new RangeError(`Expected at least two distinct class ids in 0..9 for --normal-classes but received ${arg('normal-classes')}`);
  }
  const anomalous = Array.from({ length: 10 }, (_, i) => i).filter((c) => !normal.includes(c));
  const integer = (name: string, fallback: string, min: number) => {
    const v = Number(arg(name, fallback));
    if (!Number.isInteger(v) || v < min) throw new RangeError(`Expected an integer >= ${min} for --${name} but received ${arg(name)}`);
    return v;
  };
  const epochs = integer('epochs', '6', 1);
  const seed = integer('seed', '0', 0);
  const couplings = integer('couplings', '8', 1);
  const device = arg('device', 'cpu');
  const precision = arg('precision', 'fp32');
  if (device !== 'cpu' && device !== 'cuda') throw new RangeError(`Expected cpu or cuda for --device but received ${device}`);
  if (precision !== 'fp32' && precision !== 'tf32') throw new RangeError(`Expected fp32 or tf32 for --precision but received ${precision}`);
  const withFlow = !process.argv.includes('--no-flow');
  let be: Backend = cpu;
  let deviceLabel = 'cpu';
  if (device === 'cuda') {
    const b = cudaBackends();
    be = b[precision];
    deviceLabel = `${be.label}${b.emulated ? ' (emulated on the CPU)' : ''}, ${precision}`;
  }
  let data;
  try {
    data = loadFashionMnist(dir);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const trainIdx = indicesOf(data.train.labels, normal);
  const raw = pooledFeatures(data.train.images, trainIdx);
  const D = raw.length / trainIdx.length;
  const stdz = fitStandardiser(raw, D);
  const features = standardise(raw, stdz);
  const remap = new Map(normal.map((c, i) => [c, i]));
  const labels = Int32Array.from(trainIdx, (i) => remap.get(data.train.labels[i])!);
  console.log(`FMNIST-U: normal classes ${normal.join(',')}; ${trainIdx.length} training vectors of ${D} dims; ${threads()} threads; seed ${seed}; device ${deviceLabel}`);

  const model = HgadModel.create({ levels: [{ channels: D, condChannels: 0 }], classNames: normal.map(String), couplings, clamp: 1.9, intraCentres: 10 }, seed).to(be);
  const train = { epochs, batchSize: 256, lr: 1e-3, seed };
  let t0 = Date.now();
  let lastEpoch = -1;
  model.fitSync([{ features, labels }], train, (p) => {
    if (p.iteration === p.iterations - 1 && p.epoch !== lastEpoch) {
      lastEpoch = p.epoch;
      const l = p.losses;
      console.log(`  hgad epoch ${p.epoch + 1}/${p.epochs} stage ${p.stage}: loss ${l.loss.toFixed(3)} L_g ${l.L_g.toFixed(3)} L_mi ${l.L_mi.toFixed(3)} L_e ${l.L_e.toFixed(3)}${l.L_z !== undefined ? ` L_z ${l.L_z.toFixed(3)}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  });
  const hgadSeconds = (Date.now() - t0) / 1000;

  t0 = Date.now();
  const flow = withFlow
    ? HgadModel.create({ levels: [{ channels: D, condChannels: 0 }], classNames: normal.map(String), couplings, clamp: 1.9, intraCentres: 10, kind: 'flow' }, seed + 7919).to(be)
    : null;
  if (flow) flow.fitSync([{ features, labels }], train);
  const flowSeconds = (Date.now() - t0) / 1000;
  console.log(`  training: hgad ${hgadSeconds.toFixed(1)} s${flow ? `, flow ${flowSeconds.toFixed(1)} s` : ''}`);

  const anomIdx = indicesOf(data.test.labels, anomalous);
  const anomFeatures = standardise(pooledFeatures(data.test.images, anomIdx), stdz);
  const results = { fusion: [] as number[], logp: [] as number[], calibrated: [] as number[], flow: [] as number[] };
  normal.forEach((cls, k) => {
    const normIdx = indicesOf(data.test.labels, [cls]);
    const normFeatures = standardise(pooledFeatures(data.test.images, normIdx), stdz);
    const all = new Float32Array(normFeatures.length + anomFeatures.length);
    all.set(normFeatures);
    all.set(anomFeatures, normFeatures.length);
    const truth = new Uint8Array(normIdx.length + anomIdx.length);
    truth.fill(1, normIdx.length);
    const s = model.scoreSync([{ features: all }], k);
    const logp = s.levels[0].logp;
    results.logp.push(auroc(Float32Array.from(logp, (v) => -v), truth));
    results.fusion.push(auroc(referenceFusion(s.levels), truth));
    results.calibrated.push(auroc(s.calibrated!, truth));
    // One distribution for every class: its logp does not depend on the class id.
    if (flow) results.flow.push(auroc(Float32Array.from(flow.scoreSync([{ features: all }], k).levels[0].logp, (v) => -v), truth));
    console.log(`  class ${cls}: AUROC fusion ${results.fusion[k].toFixed(3)}  logp ${results.logp[k].toFixed(3)}  calibrated ${results.calibrated[k].toFixed(3)}${flow ? `  flow ${results.flow[k].toFixed(3)}` : ''}`);
  });
  const classFree: Record<string, unknown> = {};
  if (process.argv.includes('--class-free')) {
    const test: FmnistTest = { normal: normal.map((cls) => standardise(pooledFeatures(data.test.images, indicesOf(data.test.labels, [cls])), stdz)), anomalous: anomFeatures, D };
    const identity = normal.map((_, k) => k);
    for (const rule of ['inferred', 'marginal'] as ClassFreeRule[]) classFree[`labelled_${rule}`] = classFreeRow(model, test, rule, identity);
    for (const [name, K] of [['labelfree', undefined], ['labelfree_true', normal.length]] as [string, number | undefined][]) {
      const clusters = clusterVectors(features, labels.length, D, seed, K);
      const agree = agreement(labels, clusters.assignment, normal.length, clusters.K);
      const lf = HgadModel.create({ levels: [{ channels: D, condChannels: 0 }], classNames: Array.from({ length: clusters.K }, (_, k) => `cluster-${k}`), couplings, clamp: 1.9, intraCentres: 10 }, seed).to(be);
      const started = Date.now();
      lf.fitSync([{ features, labels: clusters.assignment }], train);
      const row: Record<string, unknown> = { K: clusters.K, silhouettes: clusters.silhouettes, ari: agree.ari, train_seconds: (Date.now() - started) / 1000 };
      for (const rule of ['inferred', 'marginal'] as ClassFreeRule[]) row[rule] = classFreeRow(lf, test, rule, agree.majority);
      classFree[name] = row;
    }
    for (const [k, v] of Object.entries(classFree)) console.log(`  class-free ${k}: ${JSON.stringify(v, (_key, x) => (typeof x === 'number' ? Number(x.toFixed(4)) : x))}`);
  }
  const summary = {
    ...(Object.keys(classFree).length > 0 ? { class_free: classFree } : {}),
    normal_classes: normal,
    auroc: Object.fromEntries(Object.entries(results).filter(([, v]) => v.length > 0).map(([k, v]) => [k, { per_class: v, mean: mean(v) }])),
    train_seconds: { hgad: hgadSeconds, flow: flow ? flowSeconds : null },
    config: { epochs, couplings, clamp: 1.9, intra_centres: 10, batch_size: 256, lr: 1e-3, seed, threads: threads(), device: deviceLabel },
  };
  console.log(`  mean AUROC: fusion ${mean(results.fusion).toFixed(3)}  logp ${mean(results.logp).toFixed(3)}  calibrated ${mean(results.calibrated).toFixed(3)}${flow ? `  flow ${mean(results.flow).toFixed(3)}` : ''}`);
  const out = arg('json');
  if (out) {
    fs.writeFileSync(out, JSON.stringify(summary, null, 2));
    console.log(`  wrote ${out}`);
  }
}

try {
  main();
} catch (e) {
  console.error(`eval:fmnist: ${(e as Error).message}`);
  process.exit(2);
}
