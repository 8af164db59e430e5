// CUDA kernels against the CPU kernels on fresh random inputs, outputs
// poisoned with NaN and every element checked. They need a CUDA device; on a
// machine without one this file checks the no-device contract instead (a clear
// Error, the process alive) and says which parity checks did not run.
import test from 'ava';
import { native } from '../lib/binding';
import type { CudaStream, DeviceBuffer, DeviceSurface } from '../lib/binding';
import { cudaBackend, devices, toDevice, toHost } from '../lib/backend/devices';
import { Random } from '../lib/random';
import { compare } from './helpers/golden';

const report = devices();
const usable = report.cudaCompiled && report.devices.length > 0;

if (!usable) {
  test('without a usable CUDA device, CUDA calls fail with a clear Error and the process stays alive', (t) => {
    t.log(`CUDA parity checks NOT RUN on this machine: ${report.reason}`);
    const err = t.throws(() => cudaBackend());
    t.regex(err!.message, /CUDA is not available: /);
    if (report.cudaCompiled) {
      const raw = native;
      const alloc = t.throws(() => new raw.DeviceBuffer(1024));
      t.regex(alloc!.message, /cudaAlloc\(1024 bytes\): CUDA error/);
      // Buffers may pass 2 GiB (the size is a byte count, not a dimension), up to 2^50.
      t.regex(t.throws(() => new raw.DeviceBuffer(3 * 2 ** 30))!.message, /cudaAlloc\(3221225472 bytes\): CUDA error/);
      t.throws(() => new raw.DeviceBuffer(2 ** 51), { instanceOf: RangeError, message: /Expected an integer up to 2\^50 for bytes/ });
      t.throws(() => raw.gemm(false, false, 1, 1, 1, {} as never, 1, {} as never, 1, 0, {} as never, 1, null, false, null, 0), {
        instanceOf: TypeError,
        message: /Expected a Float32Array, Float64Array or DeviceBuffer for A but received an object/,
      });
    }
    t.is(native.threadCount() > 0, true, 'the addon still answers');
  });

  test('without a usable CUDA device, streams and the stream-taking ops check their arguments and fail with a clear Error', (t) => {
    t.log(`CUDA stream, elementwise and folding parity checks NOT RUN on this machine: ${report.reason}`);
    if (!report.cudaCompiled) {
      t.pass('compiled without CUDA: nothing registered to check');
      return;
    }
    const raw = native;
    const names = ['CudaStream', 'DeviceBuffer', 'cudaUpload', 'cudaDownload', 'cudaSynchronize', 'cudaStreamWait', 'gemm',
      'couplingForward', 'couplingInverse', 'couplingBackward', 'mixtureHeadForward', 'mixtureHeadBackward',
      'adamStep', 'axpy', 'scale', 'reluBackward', 'columnSum', 'rowSum',
      'logSoftmaxRows', 'logSoftmaxRowsBackward', 'packColumns', 'unpackColumnsBackward', 'cudaFill', 'cudaCopy',
      'affineFold', 'affineFoldBackward', 'centresCompose', 'centresComposeBackward', 'gatherRows', 'oneHot',
      'lossSums', 'cudaSetDevice', 'cudaCublasAvailable', 'cudaAllocatorStats'];
    for (const name of names) t.is(typeof (raw as unknown as Record<string, unknown>)[name], 'function', `${name} is exported`);

    const stream = t.throws(() => new raw.CudaStream());
    t.regex(stream!.message, /cudaStreamCreate: CUDA error/);
    t.regex(t.throws(() => raw.cudaSynchronize())!.message, /cudaSynchronize: CUDA error/);
    t.notThrows(() => raw.cudaStreamWait(null, null), 'waiting on the same (default) stream is a no-op');
    t.throws(() => raw.cudaStreamWait(null, 3 as never), { instanceOf: TypeError, message: /Expected a CudaStream, null or undefined for signaler but received 3/ });
    t.throws(() => new raw.DeviceBuffer(64, {} as never), { instanceOf: TypeError, message: /for stream but received an object/ });

    // The buffer functions check their stream argument first, then every buffer argument, by name.
    const b = {} as never;
    const badStream = 'default' as never;
    const calls: [string, (s?: never) => void, RegExp][] = [
      ['cudaUpload', (s) => raw.cudaUpload(b, new Float32Array(1), s), /for device/],
      ['cudaDownload', (s) => raw.cudaDownload(b, new Float32Array(1), s), /for device/],
      ['cudaFill', (s) => raw.cudaFill(1, 0, b, 0, s), /for buf/],
      ['cudaCopy', (s) => raw.cudaCopy(1, b, 0, b, 0, s), /for src/],
    ];
    for (const [name, call, buffer] of calls) {
      t.throws(() => call(badStream), { instanceOf: TypeError, message: /Expected a CudaStream, null or undefined for stream but received a string/ }, `${name} checks its stream`);
      for (const s of [undefined, null] as never[]) {
        const err = t.throws(() => call(s), { instanceOf: TypeError }, `${name} checks its buffers`);
        t.regex(err!.message, new RegExp(`Expected a DeviceBuffer ${buffer.source}`), name);
      }
    }
    // Every op is registered once for both backends: it takes host arrays or device buffers, told apart by its first array.
    const unified: [string, () => void, RegExp][] = [
      ['gemm', () => raw.gemm(false, false, 1, 1, 1, b, 1, b, 1, 0, b, 1, null, false, null, 0), /for A but received an object/],
      ['axpy', () => raw.axpy(1, 1, b, b), /for x but received an object/],
      ['scale', () => raw.scale(1, 1, b, b), /for x but received an object/],
      ['reluBackward', () => raw.reluBackward(1, b, b), /for h but received an object/],
      ['columnSum', () => raw.columnSum(1, 1, b, 0, b), /for X but received an object/],
      ['rowSum', () => raw.rowSum(1, 1, b, b), /for X but received an object/],
      ['logSoftmaxRows', () => raw.logSoftmaxRows(1, 1, b, b), /for X but received an object/],
      ['logSoftmaxRowsBackward', () => raw.logSoftmaxRowsBackward(1, 1, b, b, b), /for Y but received an object/],
      ['packColumns', () => raw.packColumns(1, b, 2, 0, 2, null, 0, b), /for X but received an object/],
      ['unpackColumnsBackward', () => raw.unpackColumnsBackward(1, b, 2, 0, b, 2, 0, null), /for dOut but received an object/],
      ['adamStep', () => raw.adamStep(1, b, b, b, b, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /for p but received an object/],
      ['affineFold', () => raw.affineFold(2, b, b, b, b, b, b, false), /for R but received an object/],
      ['mixtureHeadForward', () => raw.mixtureHeadForward(1, 1, 1, 1, b, b, null, null, b, b, b, null, null, null, null, null), /for z but received an object/],
      ['mixtureHeadBackward', () => raw.mixtureHeadBackward(1, 1, 1, 1, b, b, null, null, b, b, b, 1, 1, 0, 0, 0, b, b, b, b, b), /for z but received an object/],
      ['couplingForward', () => raw.couplingForward(1, 2, b, b, 2, null, b, b, b), /for x but received an object/],
      ['couplingInverse', () => raw.couplingInverse(1, 2, b, b, 2, null, b, b, b), /for y but received an object/],
      ['couplingBackward', () => raw.couplingBackward(1, 2, b, b, 2, b, null, b, b), /for x but received an object/],
      ['affineFoldBackward', () => raw.affineFoldBackward(2, b, b, b, b, null, b, b), /for R but received an object/],
      ['centresCompose', () => raw.centresCompose(2, 3, 4, b, b, b), /for mu but received an object/],
      ['centresComposeBackward', () => raw.centresComposeBackward(2, 3, 4, b, b, null), /for dcent but received an object/],
      ['gatherRows', () => raw.gatherRows(1, 1, b, 1, b, b), /Int32Array or DeviceBuffer for src but received an object/],
      ['oneHot', () => raw.oneHot(1, 2, b, 0.1, b), /for Y but received an object/],
      ['lossSums', () => raw.lossSums(1, b, b, b, null, null, b), /for Lg but received an object/],
    ];
    for (const [name, call, message] of unified) {
      const err = t.throws(call, { instanceOf: TypeError }, `${name} checks where it runs`);
      t.regex(err!.message, /^Expected a Float32Array, Float64Array/, name);
      t.regex(err!.message, message, name);
    }
    t.throws(() => raw.affineFold(2, b, b, b, b, b, b, 'no' as never), { instanceOf: TypeError, message: /Expected a boolean for inverse/ });
    t.throws(() => raw.cudaFill(1, 0, b, -1), { instanceOf: RangeError, message: /offsetElements/ });
    t.throws(() => raw.oneHot(1, 0, b, 0.1, b), { instanceOf: RangeError, message: /for K/ });
    t.is(native.threadCount() > 0, true, 'the addon still answers');
  });
} else {
  const seed = Number(process.env.HGAD_TEST_SEED ?? Date.now());
  const rng = new Random(seed);
  const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
  const poisoned = (cuda: DeviceSurface, n: number) => toDevice(cuda, new Float32Array(n).fill(NaN));
  const near = (t: import('ava').ExecutionContext, label: string, gpu: Float32Array | Float64Array, cpu: ArrayLike<number>, atol: number, rtol: number) => {
    const r = compare(gpu, cpu, atol, rtol);
    t.true(gpu.every(Number.isFinite), `${label}: an element was not written (seed ${seed})`);
    t.true(r.ok, `${label}: worst ratio ${r.worstRatio.toFixed(2)} at ${r.worstIndex} (seed ${seed})`);
  };

  test('out of device memory is a JS Error naming the op and the size; the device stays usable', (t) => {
    const cuda = cudaBackend();
    const huge = 2 ** 50;
    const err = t.throws(() => new cuda.DeviceBuffer(huge));
    t.regex(err!.message, new RegExp(`cudaAlloc\\(${huge} bytes\\)`));
    const b = toDevice(cuda, Float32Array.from([1, 2, 3]));
    t.deepEqual(Array.from(toHost(cuda, b, 3)), [1, 2, 3], 'a small buffer still works after the failure');
    b.dispose();
  });

  test('gemm matches the CPU for every transpose case, with bias and ReLU', (t) => {
    const cuda = cudaBackend();
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as [boolean, boolean][]) {
      for (const [M, N, K] of [[1, 1, 1], [33, 65, 17], [130, 70, 257], [1000, 712, 356]]) {
        const A = randn(M * K), B = randn(K * N), bias = randn(N);
        const lda = tA ? M : K, ldb = tB ? K : N;
        const cpu = new Float32Array(M * N);
        native.gemm(tA, tB, M, N, K, A, lda, B, ldb, 0, cpu, N, bias, true);
        const C = poisoned(cuda, M * N);
        cuda.gemm(tA, tB, M, N, K, toDevice(cuda, A), lda, toDevice(cuda, B), ldb, 0, C, N, toDevice(cuda, bias), true, null, 1);
        near(t, `gemm ${tA} ${tB} ${M}x${N}x${K}`, toHost(cuda, C, M * N), cpu, 1e-5 * Math.sqrt(K), 1e-4);
      }
    }
  });

  test('coupling forward, inverse and backward match the CPU', (t) => {
    const cuda = cudaBackend();
    for (const [N, C] of [[7, 3], [300, 27], [16384, 200]]) {
      const C2 = Math.floor(C / 2);
      const x = randn(N * C), a = randn(N * 2 * C2, 3), ld = randn(N), dy = randn(N * C), dld = randn(N);
      const y = new Float32Array(N * C), ldOut = new Float32Array(N), dx = new Float32Array(N * C), da = new Float32Array(N * 2 * C2);
      native.couplingForward(N, C, x, a, 1.9, ld, Float32Array.of(0.25), y, ldOut);
      native.couplingBackward(N, C, x, a, 1.9, dy, dld, dx, da);
      const dX = toDevice(cuda, x), dA = toDevice(cuda, a);
      const gy = poisoned(cuda, N * C), gld = poisoned(cuda, N), gdx = poisoned(cuda, N * C), gda = poisoned(cuda, N * 2 * C2);
      const dK = toDevice(cuda, Float32Array.of(0.25));
      cuda.couplingForward(N, C, dX, dA, 1.9, toDevice(cuda, ld), dK, gy, gld);
      cuda.couplingBackward(N, C, dX, dA, 1.9, toDevice(cuda, dy), toDevice(cuda, dld), gdx, gda);
      near(t, `coupling y ${N}x${C}`, toHost(cuda, gy, N * C), y, 1e-5, 1e-5);
      near(t, `coupling logdet ${N}x${C}`, toHost(cuda, gld, N), ldOut, 1e-4, 1e-5);
      near(t, `coupling dx ${N}x${C}`, toHost(cuda, gdx, N * C), dx, 1e-5, 1e-5);
      near(t, `coupling da ${N}x${C}`, toHost(cuda, gda, N * 2 * C2), da, 1e-5, 1e-5);
      const gx = poisoned(cuda, N * C), gld2 = poisoned(cuda, N);
      cuda.couplingInverse(N, C, gy, dA, 1.9, null, dK, gx, gld2);
      near(t, `coupling inverse ${N}x${C}`, toHost(cuda, gx, N * C), x, 1e-4, 1e-4);
    }
  });

  test('mixture head forward and backward match the CPU', (t) => {
    const cuda = cudaBackend();
    for (const [N, C, K, M] of [[5, 4, 3, 2], [512, 200, 15, 10]]) {
      const z = randn(N * C), logdet = randn(N, 5), cent = randn(K * M * C), lpi = randn(K), lpa = randn(K * M);
      const labels = Int32Array.from({ length: N }, () => rng.int(K));
      const Y = new Float32Array(N * K).fill(0.02 / K);
      labels.forEach((k, n) => (Y[n * K + k] += 0.98));
      const out = () => Array.from({ length: 5 }, () => new Float32Array(N)) as Float32Array[];
      const cpu = out();
      native.mixtureHeadForward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, cpu[0], cpu[1], cpu[2], cpu[3], cpu[4]);
      const d = [toDevice(cuda, z), toDevice(cuda, logdet), toDevice(cuda, labels), toDevice(cuda, Y), toDevice(cuda, cent), toDevice(cuda, lpi), toDevice(cuda, lpa)] as const;
      const g = Array.from({ length: 5 }, () => poisoned(cuda, N));
      cuda.mixtureHeadForward(N, C, K, M, ...d, g[0], g[1], g[2], g[3], g[4]);
      ['Lg', 'Le', 'Lmi', 'Lgi', 'logp'].forEach((name, i) => near(t, `mixture ${name} N=${N}`, toHost(cuda, g[i], N), cpu[i], 1e-5, 1e-5));
      const w = [1 / N, 1 / N, -100 / N, 1 / N, 1 / N] as const;
      const grads = [new Float32Array(N * C), new Float32Array(N), new Float32Array(K * M * C), new Float32Array(K), new Float32Array(K * M)];
      native.mixtureHeadBackward(N, C, K, M, z, logdet, labels, Y, cent, lpi, lpa, ...w, grads[0], grads[1], grads[2], grads[3], grads[4]);
      const gg = grads.map((a) => poisoned(cuda, a.length));
      cuda.mixtureHeadBackward(N, C, K, M, ...d, ...w, gg[0], gg[1], gg[2], gg[3], gg[4]);
      ['dz', 'dlogdet', 'dcent', 'dlpi', 'dlpa'].forEach((name, i) => near(t, `mixture ${name} N=${N}`, toHost(cuda, gg[i], grads[i].length), grads[i], 1e-6, 1e-4));
    }
  });

  test('Adam matches the TypeScript optimiser', async (t) => {
    const cuda = cudaBackend();
    const { Adam } = await import('../lib/optim/adam');
    const n = 10007;
    const p = randn(n), g = randn(n);
    const param = { data: Float32Array.from(p), grad: Float32Array.from(g) };
    const adam = new Adam([{ name: 'p', params: [param], lr: 1e-3, betas: [0.95, 0.99], weightDecay: 1e-4 }]);
    const dp = toDevice(cuda, p), dg = toDevice(cuda, g), dm = toDevice(cuda, new Float32Array(n)), dv = toDevice(cuda, new Float32Array(n));
    for (let step = 1; step <= 3; ++step) {
      adam.step();
      cuda.adamStep(n, dp, dg, dm, dv, 1e-3, 0.95, 0.99, 1e-8, 1e-4, step);
    }
    near(t, 'adam p', toHost(cuda, dp, n), param.data, 1e-7, 1e-5);
  });

  const maxAbs = (a: ArrayLike<number>) => {
    let m = 1e-30;
    for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i]));
    return m;
  };
  const f64 = (a: Float32Array) => Float64Array.from(a);
  // A buffer allocated on `stream` and filled with NaN there.
  const poisonedOn = (cuda: DeviceSurface, n: number, stream: CudaStream | null) => {
    const buf = new cuda.DeviceBuffer(Math.max(4, n * 4), stream);
    cuda.cudaFill(n, NaN, buf, 0, stream);
    return buf;
  };

  test('streams: allocation, staged copies at an offset, fill, copy and cudaStreamWait ordering', (t) => {
    const cuda = cudaBackend();
    const s1 = new cuda.CudaStream(), s2 = new cuda.CudaStream();
    const n = 300007, off = 17, total = n + 2 * off;
    const host = randn(n);
    const src = new cuda.DeviceBuffer(total * 4, s1);
    cuda.cudaFill(total, NaN, src, 0, s1);
    cuda.cudaUpload(src, host, s1, off);
    cuda.cudaFill(off, 7.5, src, 0, s1);
    const dst = new cuda.DeviceBuffer(total * 4, s2);
    cuda.cudaFill(total, -1, dst, 0, s2);
    cuda.cudaStreamWait(s1, s2); // dst is filled before s1 copies into it
    cuda.cudaCopy(n, src, off, dst, off, s1);
    cuda.scale(total, 2, dst, dst, s1);
    cuda.cudaStreamWait(s2, s1); // s2 reads dst after the scale
    const back = new Float32Array(total);
    cuda.cudaDownload(dst, back, s2);
    const want = new Float32Array(total).fill(-2);
    host.forEach((v, i) => (want[off + i] = 2 * v));
    t.deepEqual(back, want, `copy + scale across streams (seed ${seed})`);
    const mid = new Float32Array(n);
    cuda.cudaDownload(src, mid, s2, off);
    t.deepEqual(mid, host, 'download at an element offset');
    cuda.cudaStreamWait(null, s1);
    const head = new Float32Array(off);
    cuda.cudaDownload(src, head, null, 0);
    t.deepEqual(head, new Float32Array(off).fill(7.5), 'fill at offset 0, read on the default stream after a wait');
    t.throws(() => cuda.cudaUpload(src, new Float32Array(total), s1, 1), { instanceOf: RangeError, message: /for device/ });
    t.throws(() => cuda.cudaDownload(src, new Float32Array(2), s1, total - 1), { instanceOf: RangeError, message: /for device/ });
    t.throws(() => cuda.cudaFill(2, 0, src, total - 1, s1), { instanceOf: RangeError, message: /for buf/ });
    t.throws(() => cuda.cudaCopy(10, src, 0, src, 5, s1), { instanceOf: RangeError, message: /not overlapping/ });
    t.notThrows(() => cuda.cudaCopy(5, src, 0, src, 5, s1), 'adjacent ranges of one buffer');
    s1.synchronize();
    s2.synchronize();
    cuda.cudaSynchronize();

    // A stream disposed before the buffers allocated on it: they still free on it.
    const s3 = new cuda.CudaStream();
    const b3 = new cuda.DeviceBuffer(64, s3);
    cuda.cudaFill(16, 1, b3, 0, s3);
    s3.dispose();
    t.true(s3.disposed);
    t.throws(() => cuda.cudaFill(16, 0, b3, 0, s3), { message: /stream: the CUDA stream was disposed/ });
    t.throws(() => s3.synchronize(), { message: /the CUDA stream was disposed/ });
    t.notThrows(() => b3.dispose());
    t.true(b3.disposed);
    t.notThrows(() => s3.dispose(), 'dispose twice');
    for (const b of [src, dst]) b.dispose();
    s1.dispose();
    s2.dispose();
    cuda.cudaSynchronize();
  });

  test('elementwise, row and column bindings match the CPU (float64) on a stream', (t) => {
    const cuda = cudaBackend();
    const s = new cuda.CudaStream();
    const up = (a: Float32Array) => toDevice(cuda, a, s);
    const down = (b: DeviceBuffer, n: number) => toHost(cuda, b, n, s);
    for (const n of [1, 5, 1027, 100003]) {
      const x = randn(n), y = randn(n), alpha = -0.7;
      let ref = f64(y);
      native.axpy(n, alpha, f64(x), ref);
      const dy = up(y);
      cuda.axpy(n, alpha, up(x), dy, s);
      near(t, `axpy n=${n}`, down(dy, n), ref, 1e-6, 1e-6);
      ref = new Float64Array(n);
      native.scale(n, alpha, f64(x), ref);
      const out = poisonedOn(cuda, n, s);
      cuda.scale(n, alpha, up(x), out, s);
      near(t, `scale n=${n}`, down(out, n), ref, 1e-6, 1e-6);
      ref = f64(y);
      native.reluBackward(n, f64(x), ref);
      const dh = up(y);
      cuda.reluBackward(n, up(x), dh, s);
      near(t, `reluBackward n=${n}`, down(dh, n), ref, 1e-12, 0);
    }
    for (const [N, M] of [[1, 1], [33, 100], [7, 1000], [4096, 15]]) {
      const X = randn(N * M, 5), dY = randn(N * M), v0 = randn(M);
      const dX = up(X);
      for (const beta of [0, 0.7]) {
        const ref = f64(v0);
        native.columnSum(N, M, f64(X), beta, ref);
        const v = beta === 0 ? poisonedOn(cuda, M, s) : up(v0);
        cuda.columnSum(N, M, dX, beta, v, s);
        near(t, `columnSum beta=${beta} ${N}x${M}`, down(v, M), ref, 1e-6 * maxAbs(ref), 1e-5);
      }
      const r = new Float64Array(N);
      native.rowSum(N, M, f64(X), r);
      const gr = poisonedOn(cuda, N, s);
      cuda.rowSum(N, M, dX, gr, s);
      near(t, `rowSum ${N}x${M}`, down(gr, N), r, 1e-5 * maxAbs(r), 1e-5);
      const Y = new Float64Array(N * M);
      native.logSoftmaxRows(N, M, f64(X), Y);
      const gY = poisonedOn(cuda, N * M, s);
      cuda.logSoftmaxRows(N, M, dX, gY, s);
      near(t, `logSoftmaxRows ${N}x${M}`, down(gY, N * M), Y, 1e-5 * maxAbs(Y), 1e-5);
      cuda.logSoftmaxRows(N, M, dX, dX, s);
      near(t, `logSoftmaxRows in place ${N}x${M}`, down(dX, N * M), Y, 1e-5 * maxAbs(Y), 1e-5);
      // Backward from the device's float log-softmax, as the autograd feeds it.
      const Yf = down(gY, N * M);
      const dXref = new Float64Array(N * M);
      native.logSoftmaxRowsBackward(N, M, f64(Yf), f64(dY), dXref);
      const gdX = poisonedOn(cuda, N * M, s);
      cuda.logSoftmaxRowsBackward(N, M, gY, up(dY), gdX, s);
      near(t, `logSoftmaxRowsBackward ${N}x${M}`, down(gdX, N * M), dXref, 1e-5 * maxAbs(dXref), 1e-5);
    }
    for (const [N, ldx, c0, W0, P, withDZ] of [[37, 9, 4, 5, 3, 1], [3, 1, 0, 1, 2, 0], [500, 200, 100, 100, 256, 1], [10, 6, 0, 6, 0, 0]]) {
      const W = W0 + P;
      const X = randn(N * ldx), Z = randn(Math.max(1, N * P)), dOut = randn(N * W);
      const ref = new Float64Array(N * W);
      native.packColumns(N, f64(X), ldx, c0, W0, P > 0 ? f64(Z) : null, P, ref);
      const out = poisonedOn(cuda, N * W, s);
      cuda.packColumns(N, up(X), ldx, c0, W0, P > 0 ? up(Z) : null, P, out, s);
      near(t, `packColumns N=${N} W0=${W0} P=${P}`, down(out, N * W), ref, 1e-12, 0);
      const refX = f64(X), refZ = new Float64Array(N * P);
      native.unpackColumnsBackward(N, f64(dOut), W0, P, refX, ldx, c0, withDZ ? refZ : null);
      const gX = up(X), gZ = poisonedOn(cuda, N * P, s);
      cuda.unpackColumnsBackward(N, up(dOut), W0, P, gX, ldx, c0, withDZ ? gZ : null, s);
      near(t, `unpackColumnsBackward dX N=${N} W0=${W0} P=${P}`, down(gX, N * ldx), refX, 1e-6 * maxAbs(refX), 1e-6);
      if (withDZ) near(t, `unpackColumnsBackward dZ N=${N} P=${P}`, down(gZ, N * P), refZ, 1e-12, 0);
    }
    s.synchronize();
    s.dispose();
  });

  // float64 references of the folding and glue ops
  const globalScale = (x: number) => (0.5 * x > 20 ? 0.1 * x : 0.2 * Math.log1p(Math.exp(0.5 * x)));
  const globalScaleGrad = (x: number) => (0.5 * x > 20 ? 0.1 : 0.1 / (1 + Math.exp(-0.5 * x)));
  const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

  test('affineFold and its backward match a float64 reference', (t) => {
    const cuda = cudaBackend();
    const s = new cuda.CudaStream();
    for (const C of [1, 7, 200, 333]) {
      const R = randn(C * C), g = randn(C, 4), offset = randn(C), dW = randn(C * C), db = randn(C), dConst = randn(1);
      if (C > 2) {
        g[0] = 45; // the linear branch of globalScale
        g[1] = -30; // a tiny scale
      }
      const sc = Array.from(g, globalScale);
      const dR = toDevice(cuda, R, s), dg = toDevice(cuda, g, s), dOff = toDevice(cuda, offset, s);
      for (const inverse of [false, true]) {
        const W = new Float64Array(C * C), b = new Float64Array(C);
        let ldc = 0;
        for (let j = 0; j < C; ++j) ldc += Math.log(sc[j]);
        for (let i = 0; i < C; ++i) {
          let acc = 0;
          for (let j = 0; j < C; ++j) {
            W[i * C + j] = inverse ? R[i * C + j] / sc[j] : R[i * C + j] * sc[j];
            acc += R[i * C + j] * offset[j];
          }
          b[i] = inverse ? -offset[i] / sc[i] : acc;
        }
        const gW = poisonedOn(cuda, C * C, s), gb = poisonedOn(cuda, C, s), gc = poisonedOn(cuda, 1, s);
        cuda.affineFold(C, dR, dg, dOff, gW, gb, gc, inverse, s);
        const tag = `C=${C}${inverse ? ' inverse' : ''}`;
        near(t, `affineFold W ${tag}`, toHost(cuda, gW, C * C, s), W, 1e-7, 1e-6);
        near(t, `affineFold b ${tag}`, toHost(cuda, gb, C, s), b, 1e-6 * maxAbs(b), 1e-6);
        near(t, `affineFold logdetConst ${tag}`, toHost(cuda, gc, 1, s), [ldc], 1e-6 * Math.abs(ldc) + 1e-6, 1e-6);
      }
      for (const withConst of [true, false]) {
        const rdg = new Float64Array(C), rdo = new Float64Array(C);
        for (let j = 0; j < C; ++j) {
          let sw = 0, so = 0;
          for (let i = 0; i < C; ++i) {
            sw += dW[i * C + j] * R[i * C + j];
            so += R[i * C + j] * db[i];
          }
          rdg[j] = globalScaleGrad(g[j]) * (sw + (withConst ? dConst[0] / sc[j] : 0));
          rdo[j] = so;
        }
        const gdg = poisonedOn(cuda, C, s), gdo = poisonedOn(cuda, C, s);
        cuda.affineFoldBackward(C, dR, dg, toDevice(cuda, dW, s), toDevice(cuda, db, s), withConst ? toDevice(cuda, dConst, s) : null, gdg, gdo, s);
        const tag = `C=${C}${withConst ? ' dConst' : ''}`;
        near(t, `affineFoldBackward dg ${tag}`, toHost(cuda, gdg, C, s), rdg, 1e-6 * maxAbs(rdg), 1e-6);
        near(t, `affineFoldBackward dOffset ${tag}`, toHost(cuda, gdo, C, s), rdo, 1e-6 * maxAbs(rdo), 1e-6);
      }
    }
    s.dispose();
  });

  test('centresCompose, gatherRows, oneHot and lossSums match a float64 reference', (t) => {
    const cuda = cudaBackend();
    const s = new cuda.CudaStream();
    for (const [K, M, C] of [[1, 1, 1], [3, 4, 5], [15, 10, 200]]) {
      const mu = randn(K * C), delta = randn(K * (M - 1) * C), dcent = randn(K * M * C);
      const cent = new Float64Array(K * M * C), dmu = new Float64Array(K * C), dDelta = new Float64Array(K * (M - 1) * C);
      for (let k = 0; k < K; ++k)
        for (let m = 0; m < M; ++m)
          for (let c = 0; c < C; ++c) {
            const i = (k * M + m) * C + c, d = (k * (M - 1) + m - 1) * C + c;
            cent[i] = m === 0 ? mu[k * C + c] : Math.fround(mu[k * C + c] + delta[d]);
            if (m === 0) dmu[k * C + c] = dcent[i];
            else dDelta[d] = dcent[i];
          }
      const gc = poisonedOn(cuda, K * M * C, s);
      cuda.centresCompose(K, M, C, toDevice(cuda, mu, s), M > 1 ? toDevice(cuda, delta, s) : null, gc, s);
      near(t, `centresCompose K=${K} M=${M} C=${C}`, toHost(cuda, gc, K * M * C, s), cent, 1e-12, 0);
      for (const withDelta of [true, false]) {
        const gmu = poisonedOn(cuda, K * C, s), gd = poisonedOn(cuda, K * (M - 1) * C, s);
        cuda.centresComposeBackward(K, M, C, toDevice(cuda, dcent, s), gmu, withDelta ? gd : null, s);
        near(t, `centresComposeBackward dmu K=${K} M=${M} C=${C}`, toHost(cuda, gmu, K * C, s), dmu, 1e-12, 0);
        if (withDelta && M > 1) near(t, `centresComposeBackward dDelta K=${K} M=${M} C=${C}`, toHost(cuda, gd, K * (M - 1) * C, s), dDelta, 1e-12, 0);
      }
    }

    for (const [n, C, srcRows] of [[1, 1, 1], [100, 7, 50], [16384, 1, 16384], [300, 200, 1000]]) {
      const src = randn(srcRows * C);
      const idx = Int32Array.from({ length: n }, (_, i) => (i % 13 === 5 ? -1 : i % 17 === 3 ? srcRows : rng.int(srcRows)));
      const want = new Float32Array(n * C);
      idx.forEach((r, i) => {
        if (r >= 0 && r < srcRows) want.set(src.subarray(r * C, (r + 1) * C), i * C);
      });
      const dIdx = toDevice(cuda, idx, s);
      const out = poisonedOn(cuda, n * C, s);
      cuda.gatherRows(n, C, toDevice(cuda, src, s), srcRows, dIdx, out, s);
      t.deepEqual(toHost(cuda, out, n * C, s), want, `gatherRows float n=${n} C=${C} (out-of-range rows zero, seed ${seed})`);
      const isrc = Int32Array.from({ length: srcRows * C }, () => rng.int(1 << 30) - (1 << 29));
      const iwant = new Int32Array(n * C);
      idx.forEach((r, i) => {
        if (r >= 0 && r < srcRows) iwant.set(isrc.subarray(r * C, (r + 1) * C), i * C);
      });
      const iout = poisonedOn(cuda, n * C, s);
      cuda.gatherRows(n, C, toDevice(cuda, isrc, s), srcRows, dIdx, iout, s);
      const iback = new Int32Array(n * C);
      cuda.cudaDownload(iout, iback, s);
      t.deepEqual(iback, iwant, `gatherRows int32 n=${n} C=${C}`);
    }

    for (const [N, K, smoothing] of [[1, 1, 0], [1000, 15, 0.1], [37, 4, 0]]) {
      const labels = Int32Array.from({ length: N }, (_, i) => (i % 11 === 4 ? -1 : i % 11 === 7 ? K : rng.int(K)));
      const sm = Math.fround(smoothing);
      const ref = new Float64Array(N * K);
      for (let i = 0; i < N; ++i) for (let k = 0; k < K; ++k) ref[i * K + k] = sm / K + (k === labels[i] ? 1 - sm : 0);
      const Y = poisonedOn(cuda, N * K, s);
      cuda.oneHot(N, K, toDevice(cuda, labels, s), smoothing, Y, s);
      near(t, `oneHot N=${N} K=${K} smoothing=${smoothing}`, toHost(cuda, Y, N * K, s), ref, 1e-7, 1e-7);
    }

    for (const N of [1, 1000, 20000, 100003]) {
      const terms = [randn(N), randn(N), randn(N, 3), randn(N), randn(N, 50)];
      const d = terms.map((a) => toDevice(cuda, a, s));
      for (const full of [true, false]) {
        const ref = [0, 0, 0, 0, 0];
        for (let i = 0; i < N; ++i) {
          ref[0] += terms[0][i];
          ref[1] += terms[1][i];
          ref[2] += terms[2][i];
          if (full) {
            ref[3] += terms[3][i];
            ref[4] += softplus(-terms[4][i]);
          }
        }
        const runs = [0, 1].map(() => {
          const out = poisonedOn(cuda, 10, s);
          cuda.lossSums(N, d[0], d[1], d[2], full ? d[3] : null, full ? d[4] : null, out, s);
          const sums = new Float64Array(5);
          cuda.cudaDownload(out, new Float32Array(sums.buffer), s);
          return sums;
        });
        near(t, `lossSums N=${N}${full ? '' : ' (Lgi, logp null)'}`, runs[0], ref, 1e-6, 1e-6);
        t.deepEqual(runs[1], runs[0], `lossSums N=${N} is deterministic`);
      }
    }
    s.dispose();
  });
}

(report.cudaCompiled ? test : test.skip)('the CUDA classes are per thread: after a worker thread that loaded the addon exits, the argument checks of this thread still work (skipped in builds without CUDA)', async (t) => {
  const { Worker } = await import('worker_threads');
  const binding = require.resolve('../lib/binding');
  await new Promise<void>((resolve, reject) => {
    const w = new Worker(`require(${JSON.stringify(binding)});`, { eval: true });
    w.on('error', reject);
    w.on('exit', () => resolve());
  });
  const raw = native;
  t.throws(() => raw.cudaUpload({} as DeviceBuffer, new Float32Array(1)), { instanceOf: TypeError, message: /Expected a DeviceBuffer for device but received an object/ });
  t.throws(() => raw.cudaFill(1, 0, {} as DeviceBuffer, 0, {} as CudaStream), { instanceOf: TypeError, message: /Expected a CudaStream, null or undefined for stream/ });
});
