// What the asynchronous model promises about overlapping calls and about its
// threads: fit is exclusive and score/save shared, in call order; close()
// ends the scoring thread and rejects scores in flight; a model dropped
// without close() has its thread ended when it is collected; a view is sent
// to the worker without its whole underlying buffer.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import type { ModelConfig } from '../lib/hgad/config';
import { forPosting } from '../lib/hgad/lifetime';
import { Random } from '../lib/random';

const C = 4;
const config: ModelConfig = { levels: [{ channels: C, condChannels: 0 }], classNames: ['a', 'b'], couplings: 1, clamp: 1.9, intraCentres: 2 };
const OPTS = { epochs: 2, batchSize: 16, stage1Epochs: 1 };

function data(n: number, seed: number): { features: Float32Array; labels: Int32Array } {
  const rng = new Random(seed);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  const features = Float32Array.from({ length: n * C }, (_, i) => rng.normal() + 2 * labels[Math.floor(i / C)]);
  return { features, labels };
}

test('score() called during fit() waits for it and scores with the new weights; fit() called after a score waits for it', async (t) => {
  const d = data(64, 1);
  const x = data(8, 2).features;
  const twin = HGAD.create(config, 5);
  const before = await twin.score([{ features: x }], 0);
  await twin.fit([d], OPTS);
  const after = await twin.score([{ features: x }], 0);
  t.notDeepEqual(Array.from(before.levels[0].logp), Array.from(after.levels[0].logp));

  const model = HGAD.create(config, 5);
  const s0 = model.score([{ features: x }], 0); // called before the fit: old weights
  const fit = model.fit([d], OPTS);
  const s1 = model.score([{ features: x }], 0); // called during the fit: new weights
  const [r0, , r1] = await Promise.all([s0, fit, s1]);
  t.deepEqual(Array.from(r0.levels[0].logp), Array.from(before.levels[0].logp));
  t.deepEqual(Array.from(r1.levels[0].logp), Array.from(after.levels[0].logp));
  model.close();
  twin.close();
});

test('two overlapping fit() calls run one after the other: the second continues from the first', async (t) => {
  const d = data(64, 3);
  const x = data(8, 4).features;
  const sequential = HGAD.create(config, 6);
  await sequential.fit([d], OPTS);
  await sequential.fit([d], { ...OPTS, seed: 1 });
  const want = await sequential.score([{ features: x }], 1);

  const model = HGAD.create(config, 6);
  const order: number[] = [];
  const a = model.fit([d], OPTS).then(() => order.push(1));
  const b = model.fit([d], { ...OPTS, seed: 1 }).then(() => order.push(2));
  await Promise.all([a, b]);
  t.deepEqual(order, [1, 2]);
  const got = await model.score([{ features: x }], 1);
  t.deepEqual(Array.from(got.levels[0].logp), Array.from(want.levels[0].logp));
  // A failing fit in the queue does not stop the calls after it.
  const bad = model.fit([{ features: new Float32Array(3), labels: new Int32Array(1) }], OPTS);
  const still = model.score([{ features: x }], 1);
  await t.throwsAsync(bad, { instanceOf: RangeError });
  t.deepEqual(Array.from((await still).levels[0].logp), Array.from(want.levels[0].logp));
  model.close();
  sequential.close();
});

test('close() rejects scores in flight, and the model scores again afterwards', async (t) => {
  const model = HGAD.create(config, 7);
  const x = data(2000, 5).features;
  const inFlight = model.score([{ features: x }], 0);
  await new Promise((r) => setTimeout(r, 0));
  model.close();
  await t.throwsAsync(inFlight, { message: /hgad worker closed/ });
  const again = await model.score([{ features: x.subarray(0, 2 * C) }], 0);
  t.is(again.levels[0].logp.length, 2);
  model.close();
});

test('a view is posted as a copy of its own bytes (transferred), a whole array as is', (t) => {
  const big = new Float32Array(1 << 20);
  const view = big.subarray(4096, 4096 + C);
  view.set([1, 2, 3, 4]);
  const transfer: ArrayBuffer[] = [];
  const posted = forPosting(view, transfer);
  t.is(posted.buffer.byteLength, 4 * C);
  t.deepEqual(Array.from(posted), [1, 2, 3, 4]);
  t.deepEqual(transfer, [posted.buffer as ArrayBuffer]);
  t.is(big.buffer.byteLength, 4 << 20, 'the caller keeps its array');
  const whole = new Float32Array(8);
  t.is(forPosting(whole, transfer), whole);
  t.is(transfer.length, 1);
});

test('a view of a large array scores as the same vectors in their own array, and the caller keeps its arrays', async (t) => {
  const model = HGAD.create(config, 8);
  const big = data(50_000, 9).features;
  const view = big.subarray(1000 * C, 1003 * C);
  const cls = new Int32Array(100).fill(1).subarray(10, 13);
  const a = await model.score([{ features: view }], cls);
  const b = await model.score([{ features: view.slice() }], Int32Array.of(1, 1, 1));
  t.deepEqual(Array.from(a.levels[0].logp), Array.from(b.levels[0].logp));
  t.is(big.length, 50_000 * C);
  t.is(view.length, 3 * C);
  model.close();
});

test('models dropped without close() have their worker threads ended when collected', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-gc-'));
  const script = path.join(dir, 'drop.js');
  fs.writeFileSync(
    script,
    `const { HGAD } = require(${JSON.stringify(path.resolve(__dirname, '../lib/hgad'))});
const threads = () => require('fs').readdirSync('/proc/self/task').length;
(async () => {
  const x = new Float32Array(8).map((_, i) => i / 8);
  const base = threads();
  for (let i = 0; i < 12; ++i) {
    const m = HGAD.create(${JSON.stringify(config)}, i);
    await m.score([{ features: x }], 0);
  }
  const peak = threads();
  for (let i = 0; i < 50 && threads() > base + 2; ++i) {
    global.gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(JSON.stringify({ base, peak, end: threads() }));
})();
`,
  );
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: 60_000 }));
  fs.rmSync(dir, { recursive: true, force: true });
  t.true(out.peak >= out.base + 12, JSON.stringify(out));
  t.true(out.end <= out.base + 2, JSON.stringify(out));
});
