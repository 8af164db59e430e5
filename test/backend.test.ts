// The backend seam: device selection, device tensors, and the whole training
// and scoring path run through the CUDA backend (lib/backend/cuda.ts) over the
// emulated CUDA surface, against the CPU backend. The CUDA kernels themselves
// are checked against the CPU on a GPU by test/ops.cuda.test.ts and the CTest
// parity test; here it is the TypeScript side of the device path that runs.
import test from 'ava';
import { cpu } from '../lib/backend/cpu';
import { selectBackend } from '../lib/backend/index';
import { devices } from '../lib/backend/devices';
import { HgadModel } from '../lib/hgad/model';
import { Flow } from '../lib/nn/flow';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import type { GaussianMixture } from '../lib/nn/heads';
import { linear } from '../lib/autograd/ops';
import { noGrad } from '../lib/autograd/tape';
import { calls, EmuBuffer, roundToTf32 } from './helpers/emulated_cuda';
import { emulatedBackend, testBackend, testDeviceName } from './helpers/device';
import { CudaBackend } from '../lib/backend/cuda';

const hasGpu = devices().devices.length > 0;

test('device selection: cpu, auto falls back to the CPU without a GPU, cuda without one is a clear error', (t) => {
  t.is(selectBackend('cpu'), cpu);
  if (hasGpu) {
    t.log('a GPU is present: the no-GPU branches of this test did not run');
    t.is(selectBackend('auto').device, 'cuda');
    return;
  }
  t.is(selectBackend('auto'), cpu);
  const err = t.throws(() => selectBackend('cuda'));
  t.regex(err!.message, /^CUDA is not available: /);
  t.throws(() => selectBackend('gpu' as never), { instanceOf: RangeError, message: /Expected "cpu", "cuda" or "auto" for device but received "gpu"/ });
  const model = HgadModel.create({ levels: [{ channels: 4, condChannels: 0 }], classNames: ['a', 'b'], couplings: 1, clamp: 1.9, intraCentres: 2 });
  t.throws(() => model.to('cuda'), { message: /^CUDA is not available/ });
  t.is(model.to('auto'), model, "'auto' keeps a CPU model on the CPU");
});

test('device tensors: host access is an error that says what to do; copies round-trip', (t) => {
  const be = emulatedBackend();
  const host = Float32Array.from([1, -2, 3.5, 4, 5, 6]);
  const d = Tensor.from(host, [2, 3], 'float32', false, be);
  t.is(d.device, 'cuda');
  t.is(d.dtype, 'float32');
  t.throws(() => d.data, { message: /This tensor is on cuda:emulated: copy it to the host with \.toHost\(\) or \.to\('cpu'\)/ });
  t.deepEqual(Array.from(d.toHost()), Array.from(host));
  t.deepEqual(Array.from(d.to(cpu).data), Array.from(host));
  t.throws(() => Tensor.zeros([2], 'float64', be), { instanceOf: TypeError, message: /computes in float32/ });
  const w = Tensor.from([1, 0, 0, 0, 1, 0], [2, 3]);
  t.throws(() => linear(d, w, null), { instanceOf: TypeError, message: /Expected every tensor on cuda:emulated for linear but received one on cpu/ });
  const other = emulatedBackend();
  t.throws(() => linear(d, Tensor.from([1, 0, 0, 0, 1, 0], [2, 3], 'float32', false, other), null),
    { instanceOf: TypeError, message: /of another backend instance \(each model has its own stream\); move it with \.to\(backend\)/ });
  be.dispose();
  t.throws(() => Tensor.zeros([2], 'float32', be), { message: /was disposed/ });
  if (!hasGpu) {
    t.is(Tensor.from([1, 2], [2], 'float32', false, 'auto').device, 'cpu', "'auto' tensors live on the CPU without a GPU");
    t.is(Tensor.zeros([2], 'float32', 'cpu').device, 'cpu');
    t.throws(() => Tensor.zeros([2], 'float32', 'cuda'), { message: /^CUDA is not available/ });
    t.throws(() => Tensor.from([1], [1]).to('cuda'), { message: /^CUDA is not available/ });
  }
});

test('flow forward and inverse on the device path equal the CPU', (t) => {
  const be = emulatedBackend();
  const rng = new Random(7);
  const flow = Flow.create({ channels: 7, condChannels: 3, couplings: 3, clamp: 1.9 }, rng);
  for (const b of flow.blocks) for (let i = 0; i < b.globalScale.size; ++i) b.globalScale.data[i] += rng.normal();
  const x = Tensor.from(Float32Array.from({ length: 5 * 7 }, () => rng.normal()), [5, 7]);
  const c = Tensor.from(Float32Array.from({ length: 5 * 3 }, () => rng.normal()), [5, 3]);
  const ref = flow.forward(x, c);
  const dflow = flow.onBackend(be);
  const out = dflow.forward(x.to(be), c.to(be));
  close(t, 'z', out.z.toHost(), ref.z.data, 1e-6);
  close(t, 'logdet', out.logdet.toHost(), ref.logdet.data, 1e-5);
  const inv = dflow.inverse(out.z, c.to(be));
  close(t, 'inverse x', inv.x.toHost(), x.data, 1e-5);
  close(t, 'inverse logdet', inv.logdet.toHost(), Float32Array.from(ref.logdet.data, (v) => -v), 1e-5);
  t.throws(() => dflow.forward(x, c.to(be)), { message: /Expected a tensor on cuda:emulated \(the flow's device\) for x but received a tensor on cpu/ });
});

const C = 5;
const K = 3;
function dataset(seed: number, perClass: number) {
  const rng = new Random(seed);
  const features = new Float32Array(K * perClass * C);
  const labels = new Int32Array(K * perClass);
  for (let n = 0; n < K * perClass; ++n) {
    labels[n] = n % K;
    for (let c = 0; c < C; ++c) features[n * C + c] = rng.normal() * 0.6 + (c === labels[n] ? 2 : 0);
  }
  return { features, labels };
}
const config = { levels: [{ channels: C, condChannels: 0 }], classNames: ['a', 'b', 'c'], couplings: 2, clamp: 1.9, intraCentres: 3 };

/** Trains and scores on `be` and on the CPU from the same initial weights; `live` counts the device allocations. */
function trainAndScoreLikeCpu(t: import('ava').ExecutionContext, be: CudaBackend, live: () => number, calls: Map<string, number> | null): void {
  const data = dataset(3, 40);
  const opts = { epochs: 3, stage1Epochs: 2, batchSize: 32, lr: 2e-3, seed: 5 };
  const onCpu = HgadModel.create(config, 11);
  const onDev = HgadModel.create(config, 11).to(be);
  t.is(onDev.backend, be);
  const live0 = live();
  const cpuLosses: number[] = [];
  const devLosses: number[] = [];
  onCpu.fitSync([data], opts, (p) => cpuLosses.push(p.losses.loss));
  onDev.fitSync([data], opts, (p) => devLosses.push(p.losses.loss));
  t.is(devLosses.length, cpuLosses.length);
  // Same math in another order (the log-determinant constant is added after the coupling): float32 rounding only.
  close(t, 'losses', devLosses, cpuLosses, 2e-3);
  const cpuParams = [...onCpu.levels[0].flow.parameters(), ...onCpu.levels[0].head.parameters()];
  const devParams = [...onDev.levels[0].flow.parameters(), ...onDev.levels[0].head.parameters()];
  devParams.forEach((p, i) => close(t, `parameter ${i}`, p.toHost(), cpuParams[i].data, 2e-3));
  onDev.releaseScratch();
  be.trim();
  t.is(live(), live0, 'no device buffer of training outlives it');

  // Scoring with 5 batches (the last one short), pipelined, equals the CPU scoring of the same weights.
  const test_ = dataset(4, 79);
  const classes = test_.labels;
  const same = onDev.to(cpu);
  const ref = same.scoreSync([{ features: test_.features }], classes);
  onDev.scoreChunkSize = 50;
  const uploads = calls?.get('cudaUpload') ?? 0;
  const waits = calls?.get('cudaStreamWait') ?? 0;
  const got = onDev.scoreSync([{ features: test_.features }], classes);
  close(t, 'logp', got.levels[0].logp, ref.levels[0].logp, 1e-5);
  close(t, 'negEntropy', got.levels[0].negEntropy, ref.levels[0].negEntropy, 1e-5);
  close(t, 'calibrated', got.calibrated!, ref.calibrated!, 1e-4);
  if (calls) {
    const batches = Math.ceil((K * 79) / 50);
    t.is((calls.get('cudaUpload') ?? 0) - uploads, 2 * batches, 'one upload of features and one of class ids per batch');
    t.is((calls.get('cudaStreamWait') ?? 0) - waits, 2 * batches, 'each batch waits for its upload and signals its download');
  }
  onDev.releaseScratch();
  be.trim();
  t.is(live(), live0, 'no device buffer of scoring outlives it');
}

test('training and scoring on the device path follow the CPU, return every intermediate, and keep the pipeline order', (t) => {
  trainAndScoreLikeCpu(t, emulatedBackend(), () => EmuBuffer.live, calls);
});

const onGpu = testDeviceName() === 'cuda';
(onGpu ? test : test.skip)('on the GPU (HGAD_TEST_DEVICE=cuda; skipped otherwise): training and scoring follow the CPU and return their device memory', (t) => {
  const be = testBackend() as CudaBackend;
  trainAndScoreLikeCpu(t, be, () => be.cuda.cudaAllocatorStats().bytesInUse, null);
});

test('a divergence on the device path stops training with the place, frees the step, and keeps the weights finite', (t) => {
  const be = emulatedBackend();
  const model = HgadModel.create(config, 2).to(be);
  const live0 = EmuBuffer.live;
  const data = dataset(5, 30);
  const err = t.throws(() => model.fitSync([data], { epochs: 2, batchSize: 30, lr: 1e9, seed: 1 }));
  t.regex(err!.message, /^fit: (the loss became|training diverged at) .*level 0, epoch \d+, iteration \d+/);
  model.releaseScratch();
  be.trim();
  t.is(EmuBuffer.live, live0, 'the failed step returned its buffers');
  for (const p of [...model.levels[0].flow.parameters(), ...model.levels[0].head.parameters()]) {
    t.true(p.toHost().every(Number.isFinite), 'no step was taken with a non-finite loss');
  }
});

function close(t: import('ava').ExecutionContext, label: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol: number): void {
  t.is(a.length, b.length, `${label}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; ++i) {
    const err = Math.abs(a[i] - b[i]) / (1e-6 + rtol * Math.abs(b[i]) + rtol);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  t.true(worst <= 1, `${label}: index ${at}: ${a[at]} vs ${b[at]}`);
}

test('TF32 emulation rounds GEMM inputs to 10 mantissa bits, to nearest with ties away, and the tf32 backend uses it', (t) => {
  const x = Float32Array.from([1 + 2 ** -11, 1 + 2 ** -12, -(1 + 3 * 2 ** -11), 3.14159274, Infinity, 0]);
  t.deepEqual(Array.from(roundToTf32(x)), [1 + 2 ** -10, 1, -(1 + 2 * 2 ** -10), 3.140625, Infinity, 0]);
  const run = (precision: 'fp32' | 'tf32') => {
    const be = emulatedBackend(precision);
    const A = Tensor.from(Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i) + 1e-4 * i), [64, 32], 'float32', false, be);
    const W = Tensor.from(Float32Array.from({ length: 16 * 32 }, (_, i) => Math.cos(i)), [16, 32], 'float32', false, be);
    return linear(A, W, null).toHost();
  };
  const exact = run('fp32');
  const tf32 = run('tf32');
  let worst = 0;
  for (let i = 0; i < exact.length; ++i) worst = Math.max(worst, Math.abs(tf32[i] - exact[i]));
  t.true(worst > 1e-5 && worst < 5e-2, `TF32 differs from FP32 by the input rounding only (worst ${worst})`);
});

test('release() returns every device buffer of a model, weights included', (t) => {
  const be = emulatedBackend();
  const live0 = EmuBuffer.live;
  const model = HgadModel.create(config, 4).to(be);
  t.true(EmuBuffer.live > live0, 'the weights live on the device');
  model.fitSync([dataset(6, 20)], { epochs: 1, batchSize: 20, seed: 1 });
  model.release();
  be.trim();
  t.is(EmuBuffer.live, live0);
  t.throws(() => model.scoreSync([{ features: new Float32Array(C) }], 0), { message: /disposed/ });
});

test('GaussianMixture.centres() and score() on a device free their buffers before returning', (t) => {
  const be = emulatedBackend();
  const model = HgadModel.create(config, 4).to(be);
  const { flow } = model.levels[0];
  const mixture = model.levels[0].head as GaussianMixture;
  const x = Tensor.from(new Float32Array(6 * C).fill(0.5), [6, C], 'float32', false, be);
  const out = noGrad(() => flow.forward(x, null));
  const live0 = EmuBuffer.live;
  t.is(mixture.centres().length, K * 3 * C);
  const s = mixture.score(out.z, out.logdet, be.intFromHost(new Int32Array(6)));
  t.true(Array.from(s.logp).every(Number.isFinite));
  t.is(EmuBuffer.live, live0 + 1, 'only the class ids made by the caller stay');
});

test('CPU arenas recycle large buffers: a step reuses the previous step\'s memory, and results outside the arena are never recycled', (t) => {
  const first = cpu.arena(() => cpu.alloc(8192, 'float32'));
  const kept = cpu.alloc(8192, 'float32');
  first.arena.dispose();
  const second = cpu.arena(() => cpu.alloc(8192, 'float32', 0));
  t.is(second.result, first.result, 'the disposed buffer came back from the pool');
  t.true((second.result as Float32Array).every((v) => v === 0), 'fill applies to a recycled buffer');
  t.not(second.result, kept);
  const small = cpu.arena(() => cpu.alloc(16, 'float32'));
  small.arena.dispose();
  t.not(cpu.arena(() => cpu.alloc(16, 'float32')).result, small.result, 'small buffers are not pooled');
  const persistent = cpu.arena(() => cpu.persistent(() => cpu.alloc(8192, 'float32')));
  persistent.arena.dispose();
  t.not(cpu.arena(() => cpu.alloc(8192, 'float32')).result, persistent.result, 'persistent buffers are never recycled');
  second.arena.dispose();
  // Host results of the model survive later steps.
  const model = HgadModel.create(config, 5);
  const data = dataset(7, 2000);
  model.fitSync([data], { epochs: 1, batchSize: 1500, seed: 2 });
  const a = model.scoreSync([{ features: data.features }], data.labels);
  const copy = Float32Array.from(a.levels[0].logp);
  model.fitSync([data], { epochs: 1, batchSize: 1500, seed: 3 });
  t.deepEqual(Array.from(a.levels[0].logp), Array.from(copy), 'scores returned earlier are not overwritten by later work');
});

test('Backend.dispose: a device backend frees its streams and refuses new work; the CPU backend only drops its pool', (t) => {
  const be = emulatedBackend();
  const a = be.fromHost(Float32Array.of(1, 2, 3), 'float32');
  t.deepEqual(Array.from(be.toHost(a)), [1, 2, 3]);
  be.release(a);
  be.dispose();
  t.true((be as CudaBackend).stream.disposed, 'the compute stream was disposed');
  t.throws(() => be.alloc(4, 'float32'), { message: /was disposed/ });
  t.notThrows(() => be.dispose(), 'a second dispose is a no-op');
  const { arena } = cpu.arena(() => cpu.alloc(8192, 'float32'));
  arena.dispose();
  cpu.dispose();
  t.is(cpu.alloc(3, 'float32', 1.5).length, 3, 'the CPU backend stays usable');
});
