// The micro-batcher on its own: batches of at most maxBatch items of one key,
// a lone item run after maxWaitMs, admission bounded by maxPending (counted
// while an item is still prepared), an abandoned item leaving its batch, and
// drain() waiting for every admitted item.
import test from 'ava';
import { AbortedError, MicroBatcher, QueueFullError } from '../lib/serve/batcher';

function recorder(delayMs = 0) {
  const batches: { key: string; items: number[] }[] = [];
  const run = async (key: string, items: number[]) => {
    batches.push({ key, items: [...items] });
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return items.map((x) => x * 10);
  };
  return { batches, run };
}

test('concurrent items of one key run together, at most maxBatch at a time, answers in order', async (t) => {
  const { batches, run } = recorder(20);
  const b = new MicroBatcher(run, { maxBatch: 4, maxWaitMs: 50 });
  const out = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit('a', () => i)));
  t.deepEqual(out, Array.from({ length: 10 }, (_, i) => i * 10));
  t.true(batches.every((x) => x.items.length <= 4));
  t.deepEqual(batches.flatMap((x) => x.items), Array.from({ length: 10 }, (_, i) => i));
  t.is(batches[0].items.length, 4);
});

test('keys are never mixed in a batch; a lone item waits maxWaitMs, not longer', async (t) => {
  const { batches, run } = recorder();
  const b = new MicroBatcher(run, { maxBatch: 8, maxWaitMs: 30 });
  const t0 = performance.now();
  await Promise.all([b.submit('a', () => 1), b.submit('b', () => 2), b.submit('a', () => 3)]);
  t.true(performance.now() - t0 < 1000);
  t.deepEqual(batches.map((x) => [x.key, x.items]), [['a', [1, 3]], ['b', [2]]]);
});

test('beyond maxPending a submit is refused at once, counting items still being prepared', async (t) => {
  const { run } = recorder();
  const b = new MicroBatcher(run, { maxBatch: 2, maxWaitMs: 0, maxPending: 3 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = [1, 2, 3].map((i) => b.submit('a', async () => {
    await gate;
    return i;
  }));
  t.is(b.pending, 3);
  await t.throwsAsync(b.submit('a', () => 4), { instanceOf: QueueFullError, message: /queue is full \(3 images pending\)/ });
  release();
  t.deepEqual(await Promise.all(held), [10, 20, 30]);
  t.is(b.pending, 0);
  t.is(await b.submit('a', () => 5), 50);
});

test('an item whose signal aborts before its batch starts leaves the queue; drain waits for the rest', async (t) => {
  const { batches, run } = recorder(30);
  const b = new MicroBatcher(run, { maxBatch: 1, maxWaitMs: 0 });
  const first = b.submit('a', () => 1);
  const c = new AbortController();
  const second = b.submit('a', () => 2, c.signal);
  await new Promise((r) => setImmediate(r));
  c.abort('gave up');
  await t.throwsAsync(second, { instanceOf: AbortedError, message: 'gave up' });
  await b.drain();
  t.is(await first, 10);
  t.deepEqual(batches.map((x) => x.items), [[1]]);
});

test('bad options are one-line range errors', (t) => {
  const run = async (_k: string, items: number[]) => items;
  t.throws(() => new MicroBatcher(run, { maxBatch: 0 }), { message: 'Expected a positive integer for maxBatch but received 0' });
  t.throws(() => new MicroBatcher(run, { maxBatch: 8, maxPending: 4 }), { message: 'Expected an integer >= maxBatch (8) for maxPending but received 4' });
  t.throws(() => new MicroBatcher(run, { maxWaitMs: -1 }), { message: /Expected a number of milliseconds >= 0 for maxWaitMs/ });
});
