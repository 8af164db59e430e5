// Position sampling: the sampler's strata cover every position of every image
// once per cycle; a sampled batch holds exactly the source's rows at the
// drawn positions (memory and cache sources, float16 and float32, and a
// source without readRows) and the level table's conditions at those
// positions; the trainer draws them, with the reference's batch untouched.
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cpu } from '../lib/backend/cpu';
import { CacheFeatureSource } from '../lib/data/feature_cache';
import { FeatureSource, MemoryFeatureSource, MemorySourceSpec } from '../lib/data/feature_source';
import { importFeatureMaps } from '../lib/data/import_feature_maps';
import { LevelBatch } from '../lib/hgad/level_batch';
import { HgadModel } from '../lib/hgad/model';
import { parsePositions, PositionSampler, sampledPositions } from '../lib/hgad/position_sampling';
import { trainFromSource } from '../lib/hgad/trainer';
import { writeNpy } from '../lib/io/npy';
import { positionalConditions } from '../lib/nn/positional_encoding';
import { Random } from '../lib/random';
import { emulatedBackend } from './helpers/device';

const C = 6;
const P = 8;
const H = 5;
const W = 7;
const N = 9;

function source(seed = 1): MemorySourceSpec {
  const rng = new Random(seed);
  const data = new Float32Array(new SharedArrayBuffer(N * H * W * C * 4));
  // exactly representable in float16, so a float16 cache holds the same values
  for (let i = 0; i < data.length; ++i) data[i] = Math.round(rng.normal() * 64) / 64;
  const labels = Int32Array.from({ length: N }, (_, i) => i % 3);
  return { kind: 'memory', levels: [{ channels: C, height: H, width: W }], labels, data: [data] };
}

test('the sampler: each cycle of visits covers every position of every image once, sorted per visit, from the seed', (t) => {
  const hw = H * W;
  const n = 4;
  const s = new PositionSampler(7, 0, hw, n, 3);
  t.is(s.strata, Math.floor(hw / n));
  for (const image of [0, 2]) {
    const seen = new Int32Array(hw);
    const out = new Int32Array(n);
    for (let v = 0; v < s.strata; ++v) {
      s.drawInto(image, out);
      for (let i = 1; i < n; ++i) t.true(out[i] > out[i - 1], 'sorted, distinct');
      for (const p of out) seen[p] += 1;
    }
    t.true(seen.every((c) => c <= 1), 'no position twice within a cycle');
    t.is(seen.reduce((a, b) => a + b, 0), s.strata * n, 'all but the h*w mod n left over by the cut');
  }
  // the same seed draws the same positions; another seed or image, others
  const a = new PositionSampler(7, 0, hw, n, 3).draw(Int32Array.from([1, 2]), new Int32Array(2 * n));
  const b = new PositionSampler(7, 0, hw, n, 3).draw(Int32Array.from([1, 2]), new Int32Array(2 * n));
  const c = new PositionSampler(8, 0, hw, n, 3).draw(Int32Array.from([1, 2]), new Int32Array(2 * n));
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  t.notDeepEqual(a.subarray(0, n), a.subarray(n));
});

test('positions per image: counts, fractions and their errors', (t) => {
  t.deepEqual(parsePositions('1/16', 'n'), { positionFraction: 1 / 16 });
  t.deepEqual(parsePositions('0.25', 'n'), { positionFraction: 0.25 });
  t.deepEqual(parsePositions('336', 'n'), { positionsPerImage: 336 });
  t.is(sampledPositions({ positionFraction: 1 / 16 }, 5376), 336);
  t.is(sampledPositions({ positionFraction: 1 / 64 }, 49), 1, 'at least one position');
  t.is(sampledPositions({ positionsPerImage: 1000 }, 49), 49, 'capped at h*w');
  t.is(sampledPositions({}, 49), 49);
  t.throws(() => parsePositions('0', 'n'), { message: /Expected a fraction in \(0, 1\] for n but received 0/ });
  t.throws(() => parsePositions('3/2', 'n'), { message: /Expected a fraction in \(0, 1\] for n but received "3\/2"/ });
  t.throws(() => parsePositions('2.5', 'n'), { message: /Expected a positive integer count/ });
  t.throws(() => parsePositions('abc', 'n'), { message: /Expected a count of positions/ });
  t.throws(() => new PositionSampler(0, 0, 10, 11, 1), { message: /Expected a count in \[1, 10\]/ });
});

/** Checks one sampled batch of `src` against the spec's rows and the positional table. */
function checkBatch(t: import('ava').ExecutionContext, src: FeatureSource, spec: MemorySourceSpec, what: string): void {
  const batch = new LevelBatch(cpu, src, 0, src.levels[0], P, 4);
  const ids = Int32Array.from([3, 0, 8]);
  const n = 5;
  const sampler = new PositionSampler(2, 0, H * W, n, N);
  const positions = sampler.draw(ids, new Int32Array(ids.length * n));
  const b = cpu.arena(() => batch.loadSampled(ids, positions, n, spec.labels, 3, 0.02)).result;
  t.is(b.rows, ids.length * n);
  const x = b.x.data;
  const cond = b.cond!.data;
  const table = positionalConditions(P, H, W);
  const labels = b.labels as Int32Array;
  for (let j = 0; j < ids.length; ++j) {
    for (let r = 0; r < n; ++r) {
      const row = j * n + r;
      const pos = positions[row];
      const want = spec.data[0].subarray((ids[j] * H * W + pos) * C, (ids[j] * H * W + pos + 1) * C);
      t.deepEqual(Array.from(x.subarray(row * C, (row + 1) * C)), Array.from(want), `${what}: row of image ${ids[j]} position ${pos}`);
      t.deepEqual(Array.from(cond.subarray(row * P, (row + 1) * P)), Array.from(table.subarray(pos * P, (pos + 1) * P)), `${what}: condition of position ${pos}`);
      t.is(labels[row], spec.labels[ids[j]]);
    }
  }
  batch.release();
}

test('a sampled batch holds the source rows and the positional conditions of the drawn positions (memory source)', (t) => {
  const spec = source();
  checkBatch(t, new MemoryFeatureSource(spec), spec, 'memory');
});

test('a source without readRows: whole images are read and the drawn rows kept', (t) => {
  const spec = source();
  const mem = new MemoryFeatureSource(spec);
  const plain: FeatureSource = { levels: mem.levels, numImages: mem.numImages, labels: mem.labels, read: (l, ids, out) => mem.read(l, ids, out), close() {} };
  checkBatch(t, plain, spec, 'read only');
});

for (const dtype of ['float16', 'float32'] as const) {
  test(`a sampled batch from the ${dtype} feature cache reads only the drawn rows and holds them exactly`, async (t) => {
    const spec = source(4);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-sampling-'));
    try {
      // (N, C, H, W) as the importer takes it
      const nchw = new Float32Array(N * C * H * W);
      const rows = spec.data[0];
      for (let i = 0; i < N; ++i) for (let p = 0; p < H * W; ++p) for (let c = 0; c < C; ++c) nchw[((i * C + c) * H * W) + p] = rows[(i * H * W + p) * C + c];
      writeNpy(path.join(dir, 'f.npy'), { dtype: 'float32', shape: [N, C, H, W], data: nchw });
      const { dir: cache } = await importFeatureMaps({ files: [path.join(dir, 'f.npy')], labels: spec.labels, classNames: ['a', 'b', 'c'], cacheDir: path.join(dir, 'cache'), dtype });
      const src = new CacheFeatureSource(cache);
      const reads: number[] = [];
      // the module object itself (the compiled imports read through it)
      const nodeFs = require('fs') as { readSync: (...a: unknown[]) => number };
      const real = nodeFs.readSync;
      nodeFs.readSync = (...a: unknown[]) => {
        const n = real(...a);
        reads.push(n);
        return n;
      };
      try {
        checkBatch(t, src, spec, dtype);
      } finally {
        nodeFs.readSync = real;
      }
      const bytes = reads.reduce((a, b) => a + b, 0);
      t.is(bytes, 3 * 5 * C * (dtype === 'float16' ? 2 : 4), 'only the sampled rows were read');
      t.throws(() => src.readRows!(0, Int32Array.from([0]), Int32Array.from([H * W]), 1, new Float32Array(C)), { message: /Expected positions in \[0, 35\) for positions but received 35/ });
      t.throws(() => src.readRows!(0, Int32Array.from([N]), Int32Array.from([0]), 1, new Float32Array(C)), { message: /Expected image ids in \[0, 9\) for ids but received 9/ });
      src.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the trainer trains on the drawn positions only; every position is the reference batch', (t) => {
  const spec = source();
  const config = { levels: [{ channels: C, condChannels: P }], classNames: ['a', 'b', 'c'], couplings: 2, clamp: 1.9, intraCentres: 2 };
  const options = { metaEpochs: 2, subEpochs: 2, imagesPerBatch: 3, lr: 1e-3, seed: 5 };
  const seen: number[] = [];
  const sampled = HgadModel.create(config, 1);
  const summary = trainFromSource(sampled, new MemoryFeatureSource(spec), { ...options, positionsPerImage: 4 }, (p) => seen.push(p.vectorsPerSecond >= 0 ? 1 : 0));
  t.is(summary.schedule.vectors, 2 * 2 * 9 * 4);
  t.deepEqual(summary.schedule.positionsPerImage, [4]);
  t.is(summary.vectorsPerSecond * summary.seconds > 0, true);
  // every position, by count or fraction 1, is the reference's loop exactly
  const full = HgadModel.create(config, 1);
  const all = HgadModel.create(config, 1);
  const one = HgadModel.create(config, 1);
  trainFromSource(full, new MemoryFeatureSource(spec), options);
  trainFromSource(all, new MemoryFeatureSource(spec), { ...options, positionsPerImage: H * W });
  trainFromSource(one, new MemoryFeatureSource(spec), { ...options, positionFraction: 1 });
  const w = (m: HgadModel) => Array.from(m.levels[0].flow.blocks[1].w2.data);
  t.deepEqual(w(all), w(full));
  t.deepEqual(w(one), w(full));
  t.notDeepEqual(w(sampled), w(full));
  t.throws(() => trainFromSource(HgadModel.create(config, 1), new MemoryFeatureSource(spec), { ...options, positionsPerImage: 4, positionFraction: 0.5 }),
    { message: /Expected positionsPerImage or positionFraction, not both for options.positionFraction/ });
  t.throws(() => trainFromSource(HgadModel.create(config, 1), new MemoryFeatureSource(spec), { ...options, positionFraction: 2 }),
    { message: /Expected a fraction in \(0, 1\] for options.positionFraction but received 2/ });
});

test('presets: fast is the measured setting, the caller\'s options win, a count replaces the fraction', async (t) => {
  const { PRESETS, withPreset } = await import('../lib/hgad/presets');
  t.deepEqual(PRESETS.reference, {});
  t.deepEqual(withPreset('fast', {}), { positionFraction: 1 / 16, metaEpochs: 8, subEpochs: 2, calibrationImages: 64 });
  t.deepEqual(withPreset('fast', { metaEpochs: 3, lr: undefined }), { positionFraction: 1 / 16, metaEpochs: 3, subEpochs: 2, calibrationImages: 64 });
  t.deepEqual(withPreset('fast', { positionsPerImage: 100 }), { positionsPerImage: 100, metaEpochs: 8, subEpochs: 2, calibrationImages: 64 });
  t.deepEqual(withPreset(undefined, { metaEpochs: 3 }), { metaEpochs: 3 });
  t.throws(() => withPreset('slow', {}), { message: /Expected one of reference, fast for options.preset but received "slow"/ });
});

test('the sampled loop on the CUDA backend\'s path (emulated surface: device buffers, gatherRows on the stream) trains the CPU\'s weights', (t) => {
  const spec = source(6);
  const config = { levels: [{ channels: C, condChannels: P }], classNames: ['a', 'b', 'c'], couplings: 2, clamp: 1.9, intraCentres: 2 };
  const options = { metaEpochs: 2, subEpochs: 1, imagesPerBatch: 3, lr: 1e-3, seed: 2, positionsPerImage: 6 };
  const onCpu = HgadModel.create(config, 4);
  const onDev = HgadModel.create(config, 4).to(emulatedBackend());
  trainFromSource(onCpu, new MemoryFeatureSource(spec), options);
  trainFromSource(onDev, new MemoryFeatureSource(spec), options);
  const a = onCpu.levels[0].flow.blocks[1].w2.data;
  const b = onDev.levels[0].flow.blocks[1].w2.toHost();
  let worst = 0;
  for (let i = 0; i < a.length; ++i) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  t.true(worst < 1e-5, `worst |difference| ${worst}`);
  t.notDeepEqual(Array.from(a), Array.from(HgadModel.create(config, 4).levels[0].flow.blocks[1].w2.data), 'it trained');
  onDev.release();
});
