// Training from a FeatureSource (the reference's loop; its step-by-step match
// with the reference is the golden case train_loop_2lvl): the worker trains
// from a shared source and reports every step, positional conditions are the
// level's table gathered per batch, levels train independently, errors leave
// the weights as they were, and bad options fail first.
import test from 'ava';
import { HGAD } from '../lib/hgad';
import { HgadModel } from '../lib/hgad/model';
import { encodeModel } from '../lib/hgad/persist';
import { trainFromSource, TrainProgress } from '../lib/hgad/trainer';
import { MemoryFeatureSource, MemorySourceSpec } from '../lib/data/feature_source';
import { positionalConditions } from '../lib/nn/positional_encoding';
import { Random } from '../lib/random';

const C = 5;
const P = 8;
const K = 3;
const shapes = [{ channels: C, height: 3, width: 4 }, { channels: C, height: 2, width: 2 }];
const config = {
  levels: shapes.map(() => ({ channels: C, condChannels: P })),
  classNames: ['a', 'b', 'c'], couplings: 2, clamp: 1.9, intraCentres: 3,
};
const options = { metaEpochs: 3, subEpochs: 2, imagesPerBatch: 4, lr: 2e-3, warmEpochs: 1, seed: 3 };

function shared(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

/** Images of K classes (class k shifts channel k), fresh per seed, in shared memory. */
function images(seed: number, numImages: number): MemorySourceSpec {
  const rng = new Random(seed);
  const labels = new Int32Array(new SharedArrayBuffer(numImages * 4));
  for (let i = 0; i < numImages; ++i) labels[i] = i % K;
  const data = shapes.map(({ height, width }) => {
    const a = shared(numImages * height * width * C);
    for (let i = 0; i < a.length; ++i) {
      const image = Math.floor(i / (height * width * C));
      a[i] = rng.normal() * 0.5 + (i % C === labels[image] ? 2 : 0);
    }
    return a;
  });
  return { kind: 'memory', levels: shapes.map((s) => ({ ...s })), labels, data };
}

test('the worker trains from a shared source like the synchronous loop and reports every step', async (t) => {
  const spec = images(1, 10);
  const sync = HgadModel.create(config, 2);
  const syncSteps: TrainProgress[] = [];
  sync.fitSourceSync(new MemoryFeatureSource(spec), options, (p) => syncSteps.push(p));
  const model = HGAD.create(config, 2);
  const steps: TrainProgress[] = [];
  let ticks = 0;
  const timer = setInterval(() => ++ticks, 5);
  const summary = await model.fitSource(spec, { ...options, onProgress: (p) => steps.push(p) });
  clearInterval(timer);
  t.true(ticks > 0, 'timers fired while training ran');
  // 10 images, 4 per batch, last short batch dropped: 2 batches x 2 levels per sub-epoch.
  t.is(summary.steps, 3 * 2 * 2 * 2);
  t.is(steps.length, summary.steps);
  t.deepEqual(steps.map((p) => [p.metaEpoch, p.subEpoch, p.iteration, p.level]), syncSteps.map((p) => [p.metaEpoch, p.subEpoch, p.iteration, p.level]));
  t.deepEqual(steps.slice(0, 4).map((p) => [p.metaEpoch, p.subEpoch, p.iteration, p.level]), [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 1, 1]]);
  t.deepEqual(steps.map((p) => p.stage), steps.map((p) => (p.metaEpoch < 2 ? 1 : 2)));
  for (const p of steps) {
    t.true(Number.isFinite(p.losses.loss) && p.vectorsPerSecond > 0 && p.etaSeconds >= 0, JSON.stringify(p));
    t.deepEqual(p.groupLr, [p.lr, p.lr, p.lr], 'every group at one learning rate');
  }
  t.is(steps[steps.length - 1].etaSeconds, 0);
  t.deepEqual(encodeModel(model.core), encodeModel(sync), 'the worker computes what the synchronous loop computes');
  t.true(model.info().calibrated);
  // Non-shared arrays would be copied to the worker: refused with a clear error.
  const copy = { ...spec, data: spec.data.map((d) => Float32Array.from(d)) };
  await t.throwsAsync(model.fitSource(copy, options), { instanceOf: TypeError, message: /Expected an array backed by a SharedArrayBuffer .* for source\.data\[0\]/ });
});

test('positional conditions: the gathered table rows equal the conditions of every position, image after image', (t) => {
  const spec = images(4, 6);
  // The same conditions written out per position, supplied by the source itself.
  const cond = shapes.map(({ height, width }) => {
    const table = positionalConditions(P, height, width);
    const out = new Float32Array(6 * table.length);
    for (let i = 0; i < 6; ++i) out.set(table, i * table.length);
    return out;
  });
  const explicit: MemorySourceSpec = { ...spec, levels: shapes.map((s) => ({ ...s, condChannels: P })), cond };
  const a = HgadModel.create(config, 5);
  const b = HgadModel.create(config, 5);
  const o = { ...options, imagesPerBatch: 3, metaEpochs: 2 };
  trainFromSource(a, new MemoryFeatureSource(spec), o);
  trainFromSource(b, new MemoryFeatureSource(explicit), o);
  t.deepEqual(encodeModel(a), encodeModel(b));
  // A wrong table would train differently: shifted conditions change the weights.
  const shifted = { ...explicit, cond: cond.map((c) => c.map((v, i) => (i % P === 0 ? v + 0.5 : v))) };
  const c = HgadModel.create(config, 5);
  trainFromSource(c, new MemoryFeatureSource(shifted), o);
  t.notDeepEqual(encodeModel(c), encodeModel(a));
});

test('levels train independently within one loop: each level as its own source gives the same weights', (t) => {
  const spec = images(6, 8);
  const joint = HgadModel.create(config, 7);
  trainFromSource(joint, new MemoryFeatureSource(spec), options);
  const alone = HgadModel.create(config, 7);
  for (let l = 0; l < 2; ++l) {
    const part = new HgadModel({ ...config, levels: [config.levels[l]] }, [alone.levels[l]]);
    trainFromSource(part, new MemoryFeatureSource({ ...spec, levels: [spec.levels[l]], data: [spec.data[l]] }), options);
  }
  t.deepEqual(encodeModel(alone), encodeModel(joint));
});

test('a non-finite loss names the level, meta-epoch, sub-epoch and iteration, and the weights are restored', async (t) => {
  const spec = images(8, 8);
  const model = HgadModel.create(config, 9);
  const before = encodeModel(model);
  const err = t.throws(() => trainFromSource(model, new MemoryFeatureSource(spec), { ...options, lr: 1e9, warmEpochs: 0 }));
  t.regex(err!.message, /^fit: (the loss became|training diverged at) .*level \d, meta-epoch \d+, sub-epoch \d+, iteration \d+.*Lower the learning rate/);
  t.deepEqual(encodeModel(model), before, 'the synchronous loop restores the weights');
  const async = HGAD.create(config, 9);
  await t.throwsAsync(async.fitSource(spec, { ...options, lr: 1e9, warmEpochs: 0 }), { message: /meta-epoch \d+, sub-epoch \d+, iteration \d+/ });
  t.deepEqual(encodeModel(async.core), before);
});

test('bad sources and options fail before any step with errors naming them', (t) => {
  const spec = images(10, 5);
  const model = HgadModel.create(config, 0);
  const before = encodeModel(model);
  const src = new MemoryFeatureSource(spec);
  t.throws(() => trainFromSource(model, src, { ...options, metaEpochs: 0 }), { instanceOf: RangeError, message: /options\.metaEpochs/ });
  t.throws(() => trainFromSource(model, src, { ...options, imagesPerBatch: 6 }), { instanceOf: RangeError, message: /at most 5 images per batch .* for options\.imagesPerBatch/ });
  t.throws(() => trainFromSource(model, src, { ...options, batches: [[0, 5]] }), { instanceOf: RangeError, message: /image ids in \[0, 5\) for options\.batches\[0\]/ });
  t.throws(() => trainFromSource(model, src, { ...options, centreLrRatio: 0 }), { instanceOf: RangeError, message: /options\.centreLrRatio/ });
  t.throws(() => trainFromSource(model, src, { ...options, betas: [0.9] as never }), { instanceOf: TypeError, message: /options\.betas/ });
  const other = new MemoryFeatureSource({ ...spec, levels: [spec.levels[0]], data: [spec.data[0]] });
  t.throws(() => trainFromSource(model, other, options), { instanceOf: RangeError, message: /Expected 2 levels \(the model's\) for source\.levels/ });
  const wide = new MemoryFeatureSource({ ...spec, levels: spec.levels.map((s) => ({ ...s, channels: C + 1 })), data: spec.data.map((d) => new Float32Array((d.length / C) * (C + 1))) });
  t.throws(() => trainFromSource(model, wide, options), { instanceOf: RangeError, message: /Expected 5 channels \(the model's level 0\) for source\.levels\[0\]\.channels/ });
  const badLabels = new MemoryFeatureSource({ ...spec, labels: Int32Array.from(spec.labels, () => 3) });
  t.throws(() => trainFromSource(model, badLabels, options), { instanceOf: RangeError, message: /class ids in \[0, 3\)/ });
  const odd = HgadModel.create({ ...config, levels: config.levels.map(() => ({ channels: C, condChannels: 6 })) }, 0);
  t.throws(() => trainFromSource(odd, src, options), { instanceOf: RangeError, message: /multiple of 4 .* condChannels of level 0/ });
  t.deepEqual(encodeModel(model), before);
});

test('fit on vectors is the same loop with every vector a 1x1 image', (t) => {
  const rng = new Random(12);
  const N = 70;
  const features = Float32Array.from({ length: N * C }, () => rng.normal());
  const cond = Float32Array.from({ length: N * P }, () => rng.uniform());
  const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % K);
  const vecConfig = { ...config, levels: [{ channels: C, condChannels: P }] };
  const viaFit = HgadModel.create(vecConfig, 13);
  const progress: TrainProgress[] = [];
  viaFit.fitSync([{ features, labels, cond }], { epochs: 3, batchSize: 16, lr: 2e-3, warmEpochs: 1, seed: 4 }, (p) => progress.push(p));
  const viaSource = HgadModel.create(vecConfig, 13);
  trainFromSource(viaSource, new MemoryFeatureSource({
    kind: 'memory', levels: [{ channels: C, height: 1, width: 1, condChannels: P }], labels, data: [features], cond: [cond],
  }), { metaEpochs: 3, subEpochs: 1, imagesPerBatch: 16, lr: 2e-3, warmEpochs: 1, seed: 4 });
  const params = (m: HgadModel) => [...m.levels[0].flow.parameters(), ...m.levels[0].head.parameters()].map((p) => Array.from(p.data));
  t.deepEqual(params(viaFit), params(viaSource));
  t.is(progress.length, 3 * Math.floor(N / 16));
  t.true(progress.every((p) => p.groupLr.every((lr) => lr === p.lr)), 'one learning rate for every group, the centres included');
  t.truthy(viaFit.levels[0].calibration);
});
