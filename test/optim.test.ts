import test from 'ava';
import { Adam, AdamGroup, FloatArray } from '../lib/optim/adam';
import { ScheduleConfig, learningRate, scheduleTable } from '../lib/optim/schedule';
import { compare, loadGolden } from './helpers/golden';

const golden = loadGolden('adam_and_schedule');
const GROUPS = ['flow_w', 'mu', 'phi'] as const;

function goldenAdam(Ctor: Float32ArrayConstructor | Float64ArrayConstructor) {
  const ref = golden.adam;
  const groups: AdamGroup[] = GROUPS.map((name) => ({
    name,
    params: [{ data: Ctor.from(ref.init[name].data as number[]), grad: null }],
    lr: ref.groups[name].lr,
    betas: ref.groups[name].betas,
    weightDecay: ref.groups[name].weight_decay,
  }));
  return { adam: new Adam(groups, ref.eps), groups };
}

function runAgainstGolden(t: import('ava').ExecutionContext, Ctor: Float32ArrayConstructor | Float64ArrayConstructor, atol: number, rtol: number) {
  const { adam, groups } = goldenAdam(Ctor);
  golden.adam.steps.forEach((s: { grads: Record<string, { data: number[] }>; after: Record<string, { data: number[] }> }, k: number) => {
    groups.forEach((g) => {
      g.params[0].grad = Ctor.from(s.grads[g.name].data);
    });
    adam.step();
    groups.forEach((g) => {
      const r = compare(g.params[0].data, s.after[g.name].data, atol, rtol);
      t.true(r.ok, `step ${k + 1} ${g.name}: ${JSON.stringify(r)}`);
    });
  });
  t.is(adam.stepCount, 3);
}

test('Adam matches PyTorch in float64', (t) => runAgainstGolden(t, Float64Array, 1e-12, 1e-9));
test('Adam matches PyTorch in float32', (t) => runAgainstGolden(t, Float32Array, 1e-6, 1e-5));

test('Adam keeps moments in the parameter float type', (t) => {
  const { adam } = goldenAdam(Float32Array);
  const s = adam.exportState();
  t.true(s.m.every((m) => m instanceof Float32Array));
  t.true(s.v.every((v) => v instanceof Float32Array));
});

test('Adam skips params with null grad, counting their steps separately', (t) => {
  const a = { data: new Float64Array([1, 2]), grad: new Float64Array([0.5, -0.5]) };
  const b = { data: new Float64Array([3]), grad: null as FloatArray | null };
  const adam = new Adam([{ name: 'g', params: [a, b], lr: 0.1, betas: [0.9, 0.999], weightDecay: 0 }]);
  adam.step();
  t.deepEqual(Array.from(b.data), [3]);
  t.deepEqual(adam.exportState().paramSteps, [1, 0]);
  // The first real step of a late parameter is a full lr-sized step (bias-corrected from its own step 1).
  b.grad = new Float64Array([2]);
  adam.step();
  t.true(Math.abs(b.data[0] - (3 - 0.1)) < 1e-7);
  t.deepEqual(adam.exportState().paramSteps, [2, 1]);
});

test('Adam setLearningRate keeps group ratios', (t) => {
  const { adam } = goldenAdam(Float64Array);
  adam.setLearningRate(1e-3);
  t.deepEqual(adam.groups.map((g) => g.lr), [1e-3, 1e-3 * (golden.adam.groups.mu.lr / golden.adam.groups.flow_w.lr), 1e-3]);
  t.true(Math.abs(adam.groups[1].lr - 3e-3) < 1e-15);
  t.throws(() => adam.setLearningRate(0), { instanceOf: RangeError });
});

test('Adam state round-trips through export/import', (t) => {
  const ref = goldenAdam(Float64Array);
  const steps = golden.adam.steps;
  const feed = (groups: AdamGroup[], k: number) =>
    groups.forEach((g) => {
      g.params[0].grad = Float64Array.from(steps[k].grads[g.name].data as number[]);
    });
  feed(ref.groups, 0);
  ref.adam.step();
  const state = ref.adam.exportState();
  const copy = goldenAdam(Float64Array);
  copy.groups.forEach((g, i) => g.params[0].data.set(ref.groups[i].params[0].data));
  copy.adam.importState(state);
  t.is(copy.adam.stepCount, 1);
  for (const k of [1, 2]) {
    feed(ref.groups, k);
    feed(copy.groups, k);
    ref.adam.step();
    copy.adam.step();
  }
  copy.groups.forEach((g, i) => t.deepEqual(Array.from(g.params[0].data), Array.from(ref.groups[i].params[0].data)));
  // Exported arrays are copies, not views of the live moments.
  state.m[0][0] = 12345;
  t.not(ref.adam.exportState().m[0][0], 12345);
});

test('Adam rejects bad inputs', (t) => {
  const p = () => ({ data: new Float64Array(2), grad: null });
  const group = (over: Partial<AdamGroup>): AdamGroup => ({ name: 'g', params: [p()], lr: 1e-3, betas: [0.9, 0.999], weightDecay: 0, ...over });
  const bad = (groups: unknown, eps?: number) => () => new Adam(groups as AdamGroup[], eps);
  t.throws(bad([]), { instanceOf: TypeError, message: /Expected a non-empty array of parameter groups for groups/ });
  t.throws(bad([group({ lr: 0 })]), { instanceOf: RangeError, message: /Expected a finite number > 0 for groups\[0\]\.lr but received 0/ });
  t.throws(bad([group({ lr: Infinity })]), { instanceOf: RangeError });
  t.throws(bad([group({ betas: [1, 0.999] })]), { instanceOf: RangeError, message: /groups\[0\]\.betas\[0\]/ });
  t.throws(bad([group({ betas: [0.9, -0.1] })]), { instanceOf: RangeError, message: /groups\[0\]\.betas\[1\]/ });
  t.throws(bad([group({ weightDecay: -1 })]), { instanceOf: RangeError, message: /weightDecay/ });
  t.throws(bad([group({})], 0), { instanceOf: RangeError, message: /for eps but received 0/ });
  t.throws(bad([group({ params: [{ data: [1, 2], grad: null } as never] })]), { instanceOf: TypeError });

  const param = p();
  const adam = new Adam([group({ params: [param] })]);
  param.grad = new Float64Array(3) as never;
  t.throws(() => adam.step(), { instanceOf: TypeError, message: /length 2/ });
  const state = adam.exportState();
  t.throws(() => adam.importState({ ...state, m: [new Float64Array(3)] }), { instanceOf: TypeError, message: /state\.m\[0\]/ });
  t.throws(() => adam.importState({ ...state, step: -1 }), { instanceOf: RangeError });
  t.throws(() => adam.importState({ ...state, paramSteps: [5] }), { instanceOf: RangeError, message: /paramSteps\[0\]/ });
});

const ref = golden.schedule;
const referenceConfig: ScheduleConfig = {
  lr: ref.lr,
  lrDecayRate: ref.lr_decay_rate,
  warmEpochs: ref.lr_warm_epochs,
  cosine: ref.lr_cosine,
  epochs: ref.meta_epochs,
  subEpochs: ref.sub_epochs,
  itersPerSubEpoch: ref.iters_per_sub_epoch,
};

test('schedule reproduces every reference iteration', (t) => {
  const table = scheduleTable(referenceConfig);
  t.is(table.length, 2000);
  const r = compare(table, ref.lr_per_iteration, 0, 1e-12);
  t.true(r.ok, JSON.stringify(r));
  let k = 0;
  for (let e = 0; e < referenceConfig.epochs; ++e) {
    for (let s = 0; s < referenceConfig.subEpochs; ++s) {
      for (let i = 0; i < referenceConfig.itersPerSubEpoch; ++i, ++k) {
        if (learningRate(referenceConfig, e, s, i) !== table[k]) t.fail(`learningRate(${e}, ${s}, ${i}) differs from the table`);
      }
    }
  }
});

test('schedule with plain epochs warms up monotonically then decays by cosine', (t) => {
  const cfg: ScheduleConfig = { ...referenceConfig, epochs: 100, subEpochs: 1, itersPerSubEpoch: 7 };
  const table = scheduleTable(cfg);
  const warm = cfg.warmEpochs * cfg.itersPerSubEpoch;
  t.is(table[0], cfg.lr / 10);
  // The ramp stops one step short of its target, which the first post-warm-up iteration reaches.
  for (let k = 1; k <= warm; ++k) t.true(table[k] > table[k - 1], `not increasing at ${k}`);
  t.is(table[warm], learningRate(cfg, cfg.warmEpochs, 0, 0));
  for (let k = warm + 1; k < table.length; ++k) t.true(table[k] <= table[k - 1], `not decreasing at ${k}`);
  const etaMin = cfg.lr * cfg.lrDecayRate ** 3; // lr * 1e-3, rounded as the reference rounds it
  const last = table[table.length - 1];
  // The last epoch sits at cos(pi * (epochs-1) / epochs), a sin^2(pi / 2epochs) fraction above eta_min.
  t.true(last > etaMin && last - etaMin < (cfg.lr - etaMin) * (Math.PI / (2 * cfg.epochs)) ** 2, `last ${last}`);
  t.is(learningRate(cfg, cfg.epochs - 1, 0, 0), etaMin + ((cfg.lr - etaMin) * (1 + Math.cos((Math.PI * 99) / 100))) / 2);
});

test('schedule rejects bad inputs', (t) => {
  t.throws(() => learningRate(referenceConfig, 25, 0, 0), { instanceOf: RangeError, message: /for epoch but received 25/ });
  t.throws(() => learningRate(referenceConfig, 0, 8, 0), { instanceOf: RangeError, message: /subEpoch/ });
  t.throws(() => learningRate(referenceConfig, 0, 0, 1.5), { instanceOf: RangeError, message: /iteration/ });
  t.throws(() => scheduleTable({ ...referenceConfig, lr: -1 }), { instanceOf: RangeError, message: /cfg\.lr/ });
  t.throws(() => scheduleTable({ ...referenceConfig, subEpochs: 0 }), { instanceOf: RangeError, message: /cfg\.subEpochs/ });
  t.throws(() => scheduleTable({ ...referenceConfig, cosine: 1 as never }), { instanceOf: TypeError, message: /cfg\.cosine/ });
});

test('the training schedule is the reference one, with the warm-up shortened for runs of at most warmEpochs epochs', async (t) => {
  const { trainingSchedule, DEFAULT_TRAIN } = await import('../lib/hgad/config');
  const six = trainingSchedule({ ...DEFAULT_TRAIN, epochs: 6, lr: 1e-3 }, 10);
  const reference = scheduleTable({ lr: 1e-3, lrDecayRate: 0.1, warmEpochs: 2, cosine: true, epochs: 6, subEpochs: 1, itersPerSubEpoch: 10 });
  t.deepEqual(Array.from(six), Array.from(reference));
  const one = trainingSchedule({ ...DEFAULT_TRAIN, epochs: 1, lr: 1e-3 }, 10);
  t.true(one.every((v) => v === 1e-3), 'a single epoch trains at lr');
  const two = trainingSchedule({ ...DEFAULT_TRAIN, epochs: 2, lr: 1e-3 }, 10);
  for (let i = 1; i < 10; ++i) t.true(two[i] > two[i - 1], 'the one-epoch warm-up rises');
  t.true(two[10] >= two[9] && two[10] > 1e-4, 'the last epoch keeps a useful rate');
});
