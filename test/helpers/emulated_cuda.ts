// A stand-in for the CUDA side of the addon (lib/binding.ts DeviceSurface) that keeps "device"
// memory in host arrays and runs every op with the CPU kernels. It lets the
// tests drive the CUDA backend of lib/backend/cuda.ts (device residency,
// arenas, streams, transfers) on machines without a GPU. It is strict where
// the real binding is, and where the hardware would be:
//  * a disposed or too-small buffer is an Error; fresh buffers hold NaN, so
//    code relying on zeroed memory fails loudly;
//  * streams are asynchronous: an op only joins its stream's queue and runs
//    when something waits for that stream (a download, a synchronize, an
//    upload, which returns only once done, as the staged copies do, or a
//    stream that waits on it), in queue order; cudaStreamWait orders two
//    queues. A read of results that nothing ordered after their compute sees
//    NaN, not the results;
//  * frees are stream-ordered as in the caching allocator: a buffer's memory
//    dies when its allocation stream reaches the free, and work of another
//    stream that runs after that fails with "used after its free".
import { native } from '../../lib/binding';
import type { CudaStream, DeviceBuffer, DeviceSurface } from '../../lib/binding';

type Thunk = () => void;

class EmuStream implements CudaStream {
  static all = new Set<EmuStream>();
  disposed = false;
  private queue: Thunk[] = [];
  private done = 0;
  private running = false;

  constructor() {
    EmuStream.all.add(this);
  }
  /** How many ops were ever queued here (a position for cudaStreamWait). */
  get enqueued(): number {
    return this.done + this.queue.length;
  }
  enqueue(thunk: Thunk): void {
    this.queue.push(thunk);
  }
  /** Runs the queued ops up to position `upTo` (all by default). */
  flush(upTo = this.enqueued): void {
    if (this.running) return; // a barrier re-entering its own stream: the earlier ops are already running in order
    this.running = true;
    try {
      while (this.done < upTo && this.queue.length > 0) {
        const next = this.queue.shift()!;
        this.done += 1;
        next();
      }
    } finally {
      this.running = false;
    }
  }
  synchronize(): void {
    if (this.disposed) throw new Error('synchronize: the stream was disposed');
    this.flush();
  }
  dispose(): void {
    this.flush();
    this.disposed = true;
  }
}

/** The legacy default stream (null): its own queue, as non-blocking streams do not order with it. */
const defaultStream = new EmuStream();

function streamOf(s: unknown): EmuStream {
  return s instanceof EmuStream ? s : defaultStream;
}

export class EmuBuffer implements DeviceBuffer {
  static live = 0;
  static allocations = 0;
  private f32: Float32Array | null;
  private i32: Int32Array | null;
  /** Set by dispose(): the handle is dead for new calls at once. */
  private released = false;
  readonly byteLength: number;
  private readonly stream: EmuStream;

  constructor(bytes: number, stream?: CudaStream | null) {
    if (!Number.isInteger(bytes) || bytes < 1) throw new RangeError(`Expected an integer >= 1 for bytes but received ${bytes}`);
    if (stream && stream.disposed) throw new Error('DeviceBuffer: the stream was disposed');
    const words = Math.ceil(bytes / 4);
    this.f32 = native.alloc(words, 'float32', NaN);
    this.i32 = new Int32Array(this.f32.buffer, this.f32.byteOffset, words);
    this.byteLength = bytes;
    this.stream = streamOf(stream);
    EmuBuffer.live += 1;
    EmuBuffer.allocations += 1;
  }
  get disposed(): boolean {
    return this.released;
  }
  dispose(): void {
    if (this.released) return;
    this.released = true;
    EmuBuffer.live -= 1;
    // Stream-ordered free: the memory stays valid for the work queued before it on its stream.
    this.stream.enqueue(() => {
      this.f32 = null;
      this.i32 = null;
    });
  }
  /** Checks made when an op is called (as the binding does). */
  check(name: string, elements: number): void {
    if (this.released) throw checkError(new Error(`${name}: the device buffer was disposed`));
    if (elements * 4 > this.byteLength) {
      throw checkError(new RangeError(`Expected a device buffer of at least ${elements * 4} bytes for ${name} but received ${this.byteLength} bytes`));
    }
  }
  floats(name: string, elements: number): Float32Array {
    if (!this.f32) throw new Error(`${name}: a device buffer was used after its free (another stream was not ordered after the work that used it)`);
    if (elements * 4 > this.byteLength) throw new RangeError(`Expected a device buffer of at least ${elements * 4} bytes for ${name} but received ${this.byteLength} bytes`);
    return this.f32.subarray(0, elements);
  }
  ints(name: string, elements: number): Int32Array {
    this.floats(name, elements);
    return this.i32!.subarray(0, elements);
  }
}

/** Set while an op is being called rather than run: the accessors then check and return placeholders. */
let checking = false;

/** Marks an error of the call-time checks (the dry run lets other errors, which only the placeholders cause, pass). */
function checkError<E extends Error>(e: E): E {
  (e as E & { emuCheck?: boolean }).emuCheck = true;
  return e;
}

/** Runs op with the accessors checking only: argument errors surface now, as from the binding. */
function dryRun(op: (...a: unknown[]) => unknown, args: unknown[]): void {
  checking = true;
  try {
    op(...args);
  } catch (e) {
    if ((e as { emuCheck?: boolean }).emuCheck) throw e;
  } finally {
    checking = false;
  }
}
const EMPTY_F = new Float32Array(0);
const EMPTY_I = new Int32Array(0);

function f(b: unknown, name: string, n: number): Float32Array {
  if (b === null) throw checkError(new TypeError(`Expected a DeviceBuffer for ${name} but received null`));
  if (!(b instanceof EmuBuffer)) throw checkError(new TypeError(`Expected a DeviceBuffer for ${name}`));
  if (checking) {
    b.check(name, n);
    return EMPTY_F;
  }
  return b.floats(name, n);
}
function fo(b: unknown, name: string, n: number): Float32Array | null {
  return b === null ? null : f(b, name, n);
}
function iv(b: unknown, name: string, n: number): Int32Array {
  if (!(b instanceof EmuBuffer)) throw checkError(new TypeError(`Expected a DeviceBuffer for ${name}`));
  if (checking) {
    b.check(name, n);
    return EMPTY_I;
  }
  return b.ints(name, n);
}
function checkStream(s: unknown, name: string): void {
  if (s instanceof EmuStream && s.disposed) throw new Error(`${name}: the stream was disposed`);
}

/** Counts of the calls made, by function name (what the tests inspect). */
export const calls = new Map<string, number>();

// Where each op takes its optional stream (lib/binding.ts OpSurface, CudaResources).
const STREAM_ARG: Record<string, number> = {
  gemm: 14, couplingForward: 9, couplingInverse: 9, couplingBackward: 9, mixtureHeadForward: 16,
  mixtureHeadBackward: 21, adamStep: 11, axpy: 4, scale: 4, reluBackward: 3, columnSum: 5,
  rowSum: 4, logSoftmaxRows: 4, logSoftmaxRowsBackward: 5, packColumns: 8, unpackColumnsBackward: 8,
  // the buffer functions
  cudaFill: 4, cudaCopy: 5,
  affineFold: 8, affineFoldBackward: 8, centresCompose: 6, centresComposeBackward: 6, gatherRows: 6, oneHot: 5, lossSums: 7,
  mapMax: 3, mapShift: 5, upsampleBilinear: 8, gaussianBlur: 8, mapProduct: 4, halfToFloat: 3, floatToHalf: 3, repeatRows: 5, haarOrthogonal: 3,
};

/**
 * Wraps the ops: each call is counted and checked at once (disposed buffers
 * and streams, sizes, by a dry run of the op that only checks), then queued on
 * its stream. Transfers keep their host-side semantics: an upload copies the
 * host array at once and returns after its stream ran up to it; a download
 * returns after its stream ran up to it, the host array filled.
 */
function asynchronous<T extends Record<string, unknown>>(o: T): T {
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'function' || !(k.startsWith('cuda') || k in STREAM_ARG)) continue;
    const op = v as (...a: unknown[]) => unknown;
    (o as Record<string, unknown>)[k] = (...args: unknown[]) => {
      calls.set(k, (calls.get(k) ?? 0) + 1);
      if (k === 'cudaUpload' || k === 'cudaDownload') {
        const stream = streamOf(args[2]);
        checkStream(args[2], k);
        dryRun(op, args);
        const host = args[1] as Float32Array | Int32Array;
        if (k === 'cudaUpload') {
          const snapshot = host.slice();
          stream.enqueue(() => op(args[0], snapshot, ...args.slice(2)));
        } else {
          stream.enqueue(() => op(...args));
        }
        stream.flush();
        return undefined;
      }
      if (k === 'cudaSynchronize') {
        for (const s of EmuStream.all) s.flush();
        return undefined;
      }
      if (k === 'cudaStreamWait') {
        const waiter = streamOf(args[0]);
        const signaler = streamOf(args[1]);
        checkStream(args[0], k);
        checkStream(args[1], k);
        const upTo = signaler.enqueued;
        waiter.enqueue(() => signaler.flush(upTo));
        return undefined;
      }
      const at = STREAM_ARG[k];
      if (at === undefined) return op(...args);
      checkStream(args[at], k);
      dryRun(op, args);
      streamOf(args[at]).enqueue(() => op(...args));
      return undefined;
    };
  }
  return o;
}

/**
 * Rounds float32 values to TF32 (10 explicit mantissa bits) to nearest, ties
 * away from zero, as cvt.rna.tf32.f32 does for the tensor-core GEMM inputs.
 */
export function roundToTf32(x: Float32Array): Float32Array {
  const out = Float32Array.from(x);
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < u.length; ++i) {
    if ((u[i] & 0x7f800000) === 0x7f800000) continue; // inf and NaN as they are
    u[i] = ((u[i] + 0x1000) & 0xffffe000) >>> 0;
  }
  return out;
}

// gemm's device backend codes whose inputs go through TF32 (lib/binding.ts OpSurface.gemm)
const TF32_BACKENDS = new Set([2, 4]);

export function emulatedCuda(): DeviceSurface {
  const addon: DeviceSurface = {
    CudaStream: EmuStream,
    DeviceBuffer: EmuBuffer,
    cudaUpload(dev, host, _s, offset = 0) {
      const dst = host instanceof Int32Array ? iv(dev, 'cudaUpload', offset + host.length) : f(dev, 'cudaUpload', offset + host.length);
      dst.set(host as never, offset);
    },
    cudaDownload(dev, host, _s, offset = 0) {
      const src = host instanceof Int32Array ? iv(dev, 'cudaDownload', offset + host.length) : f(dev, 'cudaDownload', offset + host.length);
      host.set(src.subarray(offset, offset + host.length) as never);
    },
    cudaSynchronize() {},
    cudaStreamWait() {},
    gemm(tA, tB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu, _stream, backend = 0) {
      const rowsA = tA ? K : M;
      const rowsB = tB ? N : K;
      let a = f(A, 'A', (rowsA - 1) * lda + (tA ? M : K));
      let b = f(B, 'B', (rowsB - 1) * ldb + (tB ? K : N));
      if (TF32_BACKENDS.has(backend)) {
        a = roundToTf32(a);
        b = roundToTf32(b);
      }
      native.gemm(tA, tB, M, N, K, a, lda, b, ldb, beta, f(C, 'C', (M - 1) * ldc + N), ldc, fo(bias, 'bias', N), relu);
    },
    couplingForward(N, C, x, a, clamp, ldIn, ldConst, y, ldOut) {
      const C2 = Math.floor(C / 2);
      native.couplingForward(N, C, f(x, 'x', N * C), f(a, 'a', N * 2 * C2), clamp, fo(ldIn, 'logdetIn', N), f(ldConst, 'logdetConst', 1), f(y, 'y', N * C), f(ldOut, 'logdetOut', N));
    },
    couplingInverse(N, C, y, a, clamp, ldIn, ldConst, x, ldOut) {
      const C2 = Math.floor(C / 2);
      native.couplingInverse(N, C, f(y, 'y', N * C), f(a, 'a', N * 2 * C2), clamp, fo(ldIn, 'logdetIn', N), f(ldConst, 'logdetConst', 1), f(x, 'x', N * C), f(ldOut, 'logdetOut', N));
    },
    couplingBackward(N, C, x, a, clamp, dy, dld, dx, da) {
      const C2 = Math.floor(C / 2);
      native.couplingBackward(N, C, f(x, 'x', N * C), f(a, 'a', N * 2 * C2), clamp, f(dy, 'dy', N * C), fo(dld, 'dlogdet', N), f(dx, 'dx', N * C), f(da, 'da', N * 2 * C2));
    },
    mixtureHeadForward(N, C, K, M, z, ld, labels, Y, cent, lpi, lpa, Lg, Le, Lmi, Lgi, logp) {
      native.mixtureHeadForward(N, C, K, M, f(z, 'z', N * C), f(ld, 'logdet', N), labels ? iv(labels, 'labels', N) : null, fo(Y, 'Y', N * K),
        f(cent, 'centres', K * M * C), f(lpi, 'lpi', K), f(lpa, 'lpa', K * M), fo(Lg, 'Lg', N), fo(Le, 'Le', N), fo(Lmi, 'Lmi', N), fo(Lgi, 'Lgi', N), fo(logp, 'logp', N));
    },
    mixtureHeadBackward(N, C, K, M, z, ld, labels, Y, cent, lpi, lpa, wg, we, wmi, wgi, wz, dz, dld, dcent, dlpi, dlpa) {
      native.mixtureHeadBackward(N, C, K, M, f(z, 'z', N * C), f(ld, 'logdet', N), labels ? iv(labels, 'labels', N) : null, fo(Y, 'Y', N * K),
        f(cent, 'centres', K * M * C), f(lpi, 'lpi', K), f(lpa, 'lpa', K * M), wg, we, wmi, wgi, wz, f(dz, 'dz', N * C), f(dld, 'dlogdet', N),
        f(dcent, 'dcent', K * M * C), f(dlpi, 'dlpi', K), f(dlpa, 'dlpa', K * M));
    },
    adamStep(n, p, g, m, v, lr, b1, b2, eps, wd, step) {
      native.adamStep(n, f(p, 'p', n), f(g, 'g', n), f(m, 'm', n), f(v, 'v', n), lr, b1, b2, eps, wd, step);
    },
    axpy(n, alpha, x, y) {
      native.axpy(n, alpha, f(x, 'x', n), f(y, 'y', n));
    },
    scale(n, alpha, x, out) {
      native.scale(n, alpha, f(x, 'x', n), f(out, 'out', n));
    },
    reluBackward(n, h, dh) {
      native.reluBackward(n, f(h, 'h', n), f(dh, 'dh', n));
    },
    columnSum(N, M, X, beta, v) {
      native.columnSum(N, M, f(X, 'X', N * M), beta, f(v, 'v', M));
    },
    mapMax(n, x, m) {
      native.mapMax(n, f(x, 'x', n), f(m, 'm', 1));
    },
    mapShift(n, x, m, mode, y) {
      native.mapShift(n, f(x, 'x', n), f(m, 'm', 1), mode, f(y, 'y', n));
    },
    upsampleBilinear(B, h, w, H, W, x, beta, y) {
      native.upsampleBilinear(B, h, w, H, W, f(x, 'x', B * h * w), beta, f(y, 'y', B * H * W));
    },
    gaussianBlur(B, H, W, sigma, truncate, x, work, y) {
      native.gaussianBlur(B, H, W, sigma, truncate, f(x, 'x', B * H * W), f(work, 'work', B * H * W), f(y, 'y', B * H * W));
    },
    mapProduct(n, a, b, y) {
      native.mapProduct(n, f(a, 'a', n), f(b, 'b', n), f(y, 'y', n));
    },
    repeatRows(copies, R, P, table, y) {
      native.repeatRows(copies, R, P, f(table, 'table', R * P), f(y, 'y', copies * R * P));
    },
    haarOrthogonal(C, a, q) {
      native.haarOrthogonal(C, f(a, 'a', C * C), f(q, 'q', C * C));
    },
    rowSum(N, M, X, r) {
      native.rowSum(N, M, f(X, 'X', N * M), f(r, 'r', N));
    },
    logSoftmaxRows(N, M, X, Y) {
      native.logSoftmaxRows(N, M, f(X, 'X', N * M), f(Y, 'Y', N * M));
    },
    logSoftmaxRowsBackward(N, M, Y, dY, dX) {
      native.logSoftmaxRowsBackward(N, M, f(Y, 'Y', N * M), f(dY, 'dY', N * M), f(dX, 'dX', N * M));
    },
    packColumns(N, X, ldx, c0, W0, Z, P, out) {
      native.packColumns(N, f(X, 'X', N * ldx), ldx, c0, W0, fo(Z, 'Z', N * P), P, f(out, 'out', N * (W0 + P)));
    },
    unpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ) {
      native.unpackColumnsBackward(N, f(dOut, 'dOut', N * (W0 + P)), W0, P, f(dX, 'dX', N * ldx), ldx, c0, fo(dZ, 'dZ', N * P));
    },
    cudaFill(n, value, buf, offset = 0) {
      f(buf, 'buf', offset + n).fill(value, offset, offset + n);
    },
    halfToFloat(n, h, out) {
      const words = f(h, 'h', Math.ceil(n / 2));
      native.halfToFloat(n, new Uint16Array(words.buffer, words.byteOffset, checking ? 0 : n), f(out, 'out', n));
    },
    floatToHalf(n, x, h) {
      const words = f(h, 'h', Math.ceil(n / 2));
      native.floatToHalf(n, f(x, 'x', n), new Uint16Array(words.buffer, words.byteOffset, checking ? 0 : n));
    },
    cudaCopy(n, src, so, dst, dO) {
      f(dst, 'dst', dO + n).set(f(src, 'src', so + n).subarray(so, so + n), dO);
    },
    affineFold(C, R, g, offset, W, b, c, inverse) {
      native.affineFold(C, f(R, 'R', C * C), f(g, 'g', C), f(offset, 'offset', C), f(W, 'W', C * C), f(b, 'b', C), f(c, 'logdetConst', 1), inverse);
    },
    affineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset) {
      native.affineFoldBackward(C, f(R, 'R', C * C), f(g, 'g', C), f(dW, 'dW', C * C), f(db, 'db', C), fo(dConst, 'dConst', 1), f(dg, 'dg', C),
        f(dOffset, 'dOffset', C));
    },
    centresCompose(K, M, C, mu, muDelta, cent) {
      native.centresCompose(K, M, C, f(mu, 'mu', K * C), M > 1 ? f(muDelta, 'muDelta', K * (M - 1) * C) : null, f(cent, 'cent', K * M * C));
    },
    centresComposeBackward(K, M, C, dcent, dmu, dDelta) {
      native.centresComposeBackward(K, M, C, f(dcent, 'dcent', K * M * C), f(dmu, 'dmu', K * C), fo(dDelta, 'dDelta', K * (M - 1) * C));
    },
    gatherRows(n, C, src, srcRows, idx, dst) {
      // 32-bit words: the int32 view copies float and int32 rows alike.
      native.gatherRows(n, C, iv(src, 'src', srcRows * C), srcRows, iv(idx, 'idx', n), iv(dst, 'dst', n * C));
    },
    oneHot(N, K, labels, smoothing, Y) {
      native.oneHot(N, K, iv(labels, 'labels', N), smoothing, f(Y, 'Y', N * K));
    },
    lossSums(N, Lg, Le, Lmi, Lgi, logp, out) {
      const words = f(out, 'out', 10);
      native.lossSums(N, f(Lg, 'Lg', N), f(Le, 'Le', N), f(Lmi, 'Lmi', N), fo(Lgi, 'Lgi', N), fo(logp, 'logp', N),
        checking ? new Float64Array(5) : new Float64Array(words.buffer, words.byteOffset, 5));
    },
    cudaSetDevice() {},
    cudaCublasAvailable() {
      return false;
    },
    cudaAllocatorStats() {
      return { bytesInUse: 0, bytesCached: 0, driverAllocations: EmuBuffer.allocations, cacheHits: 0 };
    },
  };
  return asynchronous(addon as unknown as Record<string, unknown>) as unknown as DeviceSurface;
}
