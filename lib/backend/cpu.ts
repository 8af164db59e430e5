// The CPU backend: host arrays (64-byte aligned, float32 or float64) and the
// native CPU kernels; the few small parameter-side ops are plain loops here.
import { FloatArray, native } from '../binding';
import type { DType } from '../tensor';
import { expectedType } from '../errors';
import { Arena, Backend, IntStorage, isDeviceArray, Storage } from './types';

/** FrEIA's SOFTPLUS global scale: 0.1 * softplus_{beta=0.5}(g), with PyTorch's threshold 20 on beta*g. */
export function globalScale(g: number): number {
  return 0.5 * g > 20 ? 0.1 * g : 0.2 * Math.log1p(Math.exp(0.5 * g));
}

/** d globalScale / d g */
export function globalScaleDerivative(g: number): number {
  return 0.5 * g > 20 ? 0.1 : 0.1 / (1 + Math.exp(-0.5 * g));
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function host(s: Storage | null, name: string): FloatArray {
  if (isDeviceArray(s)) throw new TypeError(`${name}: Expected host memory but received a buffer on ${s.backend.label}`);
  return s as FloatArray;
}

function hostInt(s: IntStorage | null, name: string): Int32Array {
  if (!(s instanceof Int32Array)) throw expectedType('an Int32Array', name, s);
  return s;
}

// Buffers of at least this many elements made inside an arena are recycled
// through a pool when the arena is disposed: a training step then reuses the
// previous step's memory instead of faulting in fresh pages (and leaving
// large buffers to the garbage collector).
const POOL_MIN_ELEMENTS = 4096;
// The pool keeps at most this many bytes of idle buffers.
const POOL_MAX_BYTES = 1 << 30;

class CpuBackend implements Backend {
  readonly device = 'cpu' as const;
  readonly label = 'cpu';
  private arenas: FloatArray[][] = [];
  private persistentDepth = 0;
  private pool = new Map<string, FloatArray[]>();
  private pooledBytes = 0;

  /**
   * Inside an arena (and not persistent) large buffers come from the pool and
   * are NOT zeroed unless `fill` is given: the ops assign every element they
   * own (the device backends give uninitialised memory too).
   */
  alloc(length: number, dtype: DType, fill?: number): FloatArray {
    if (this.arenas.length === 0 || this.persistentDepth > 0 || length < POOL_MIN_ELEMENTS) return native.alloc(length, dtype, fill);
    const key = `${dtype}:${length}`;
    const reused = this.pool.get(key)?.pop();
    let a: FloatArray;
    if (reused) {
      this.pooledBytes -= reused.byteLength;
      a = reused;
      if (fill !== undefined) a.fill(fill);
    } else {
      a = native.alloc(length, dtype, fill);
    }
    this.arenas[this.arenas.length - 1].push(a);
    return a;
  }
  allocInt(length: number): Int32Array {
    return native.alloc(length, 'int32');
  }
  fromHost(values: ArrayLike<number>, dtype: DType): FloatArray {
    const out = native.alloc(values.length, dtype);
    out.set(values);
    return out;
  }
  intFromHost(values: Int32Array): Int32Array {
    const out = native.alloc(values.length, 'int32');
    out.set(values);
    return out;
  }
  write(dst: Storage, values: FloatArray, offset = 0): void {
    host(dst, 'write').set(values, offset);
  }
  toHost(s: Storage): FloatArray {
    return host(s, 'toHost');
  }
  readInto(s: Storage, out: Float32Array | Float64Array, offset = 0): void {
    out.set(host(s, 'readInto').subarray(offset, offset + out.length));
  }
  readScalar(s: Storage, index = 0): number {
    return host(s, 'readScalar')[index];
  }
  release(): void {}
  arena<T>(fn: () => T): { result: T; arena: Arena } {
    const list: FloatArray[] = [];
    this.arenas.push(list);
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.arenas.splice(this.arenas.lastIndexOf(list), 1);
      this.recycle(list);
      throw err;
    }
    this.arenas.splice(this.arenas.lastIndexOf(list), 1);
    let disposed = false;
    return {
      result,
      arena: {
        dispose: () => {
          if (disposed) return;
          disposed = true;
          this.recycle(list);
        },
      },
    };
  }
  private recycle(list: FloatArray[]): void {
    for (const a of list) {
      if (this.pooledBytes + a.byteLength > POOL_MAX_BYTES) break;
      const key = `${a instanceof Float64Array ? 'float64' : 'float32'}:${a.length}`;
      let bucket = this.pool.get(key);
      if (!bucket) this.pool.set(key, (bucket = []));
      bucket.push(a);
      this.pooledBytes += a.byteLength;
    }
    list.length = 0;
  }
  persistent<T>(fn: () => T): T {
    this.persistentDepth += 1;
    try {
      return fn();
    } finally {
      this.persistentDepth -= 1;
    }
  }
  /** Drops the pooled buffers (to the garbage collector). */
  trim(): void {
    this.pool.clear();
    this.pooledBytes = 0;
  }
  synchronize(): void {}
  firstNonFinite(s: Storage): number {
    return native.firstNonFinite(host(s, 'firstNonFinite'));
  }

  stage(values: Float32Array): FloatArray {
    return this.fromHost(values, 'float32');
  }
  stageInt(values: Int32Array): Int32Array {
    return this.intFromHost(values);
  }
  afterStaged(): void {}
  markComputed(): void {}
  readback(s: Storage, out: Float32Array, offset = 0): void {
    this.readInto(s, out, offset);
  }

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Storage, lda: number, B: Storage, ldb: number,
    beta: number, C: Storage, ldc: number, bias: Storage | null, relu: boolean): void {
    native.gemm(transA, transB, M, N, K, host(A, 'gemm'), lda, host(B, 'gemm'), ldb, beta, host(C, 'gemm'), ldc, bias ? host(bias, 'gemm') : null, relu);
  }
  couplingForward(N: number, C: number, x: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    y: Storage, logdetOut: Storage): void {
    native.couplingForward(N, C, host(x, 'coupling'), host(a, 'coupling'), clamp, logdetIn ? host(logdetIn, 'coupling') : null,
      host(logdetConst, 'coupling')[0], host(y, 'coupling'), host(logdetOut, 'coupling'));
  }
  couplingInverse(N: number, C: number, y: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    x: Storage, logdetOut: Storage): void {
    native.couplingInverse(N, C, host(y, 'couplingInverse'), host(a, 'couplingInverse'), clamp,
      logdetIn ? host(logdetIn, 'couplingInverse') : null, host(logdetConst, 'couplingInverse')[0], host(x, 'couplingInverse'),
      host(logdetOut, 'couplingInverse'));
  }
  couplingBackward(N: number, C: number, x: Storage, a: Storage, clamp: number, dy: Storage, dlogdet: Storage | null,
    dx: Storage, da: Storage): void {
    native.couplingBackward(N, C, host(x, 'couplingBackward'), host(a, 'couplingBackward'), clamp, host(dy, 'couplingBackward'),
      dlogdet ? host(dlogdet, 'couplingBackward') : null, host(dx, 'couplingBackward'), host(da, 'couplingBackward'));
  }
  axpy(alpha: number, x: Storage, y: Storage): void {
    native.axpy(alpha, host(x, 'axpy'), host(y, 'axpy'));
  }
  scale(alpha: number, x: Storage, out: Storage): void {
    native.scale(alpha, host(x, 'scale'), host(out, 'scale'));
  }
  reluBackward(h: Storage, dh: Storage): void {
    native.reluBackward(host(h, 'reluBackward'), host(dh, 'reluBackward'));
  }
  columnSum(N: number, M: number, X: Storage, beta: number, v: Storage): void {
    native.columnSum(N, M, host(X, 'columnSum'), beta, host(v, 'columnSum'));
  }
  mapMax(n: number, x: Storage, m: Storage): void {
    native.mapMax(n, host(x, 'mapMax'), host(m, 'mapMax'));
  }
  mapShift(n: number, x: Storage, m: Storage, mode: number, y: Storage): void {
    native.mapShift(n, host(x, 'mapShift'), host(m, 'mapShift'), mode, host(y, 'mapShift'));
  }
  upsampleBilinear(B: number, h: number, w: number, H: number, W: number, x: Storage, beta: number, y: Storage): void {
    native.upsampleBilinear(B, h, w, H, W, host(x, 'upsampleBilinear'), beta, host(y, 'upsampleBilinear'));
  }
  gaussianBlur(B: number, H: number, W: number, sigma: number, truncate: number, x: Storage, work: Storage, y: Storage): void {
    native.gaussianBlur(B, H, W, sigma, truncate, host(x, 'gaussianBlur'), host(work, 'gaussianBlur'), host(y, 'gaussianBlur'));
  }
  mapProduct(n: number, a: Storage, b: Storage, y: Storage): void {
    native.mapProduct(n, host(a, 'mapProduct'), host(b, 'mapProduct'), host(y, 'mapProduct'));
  }
  rowSum(N: number, M: number, X: Storage, r: Storage): void {
    native.rowSum(N, M, host(X, 'rowSum'), host(r, 'rowSum'));
  }
  logSoftmaxRows(N: number, M: number, X: Storage, Y: Storage): void {
    native.logSoftmaxRows(N, M, host(X, 'logSoftmaxRows'), host(Y, 'logSoftmaxRows'));
  }
  logSoftmaxRowsBackward(N: number, M: number, Y: Storage, dY: Storage, dX: Storage): void {
    native.logSoftmaxRowsBackward(N, M, host(Y, 'logSoftmaxRowsBackward'), host(dY, 'logSoftmaxRowsBackward'), host(dX, 'logSoftmaxRowsBackward'));
  }
  packColumns(N: number, X: Storage, ldx: number, c0: number, W0: number, Z: Storage | null, P: number, out: Storage): void {
    native.packColumns(N, host(X, 'packColumns'), ldx, c0, W0, Z ? host(Z, 'packColumns') : null, P, host(out, 'packColumns'));
  }
  unpackColumnsBackward(N: number, dOut: Storage, W0: number, P: number, dX: Storage, ldx: number, c0: number, dZ: Storage | null): void {
    native.unpackColumnsBackward(N, host(dOut, 'unpackColumnsBackward'), W0, P, host(dX, 'unpackColumnsBackward'), ldx, c0,
      dZ ? host(dZ, 'unpackColumnsBackward') : null);
  }
  affineFold(C: number, Rs: Storage, gs: Storage, offsets: Storage, Ws: Storage, bs: Storage, constOut: Storage, inverse: boolean): void {
    const [R, g, offset, W, b] = [host(Rs, 'affineFold'), host(gs, 'affineFold'), host(offsets, 'affineFold'), host(Ws, 'affineFold'), host(bs, 'affineFold')];
    const scale = new Float64Array(C);
    let logSum = 0;
    for (let j = 0; j < C; ++j) {
      scale[j] = globalScale(g[j]);
      logSum += Math.log(scale[j]);
    }
    if (!inverse) {
      for (let i = 0; i < C; ++i) {
        let acc = 0;
        for (let j = 0; j < C; ++j) {
          W[i * C + j] = R[i * C + j] * scale[j];
          acc += R[i * C + j] * offset[j];
        }
        b[i] = acc;
      }
    } else {
      for (let j = 0; j < C; ++j) b[j] = -offset[j] / scale[j];
      for (let i = 0; i < C; ++i) for (let j = 0; j < C; ++j) W[i * C + j] = R[i * C + j] / scale[j];
    }
    host(constOut, 'affineFold')[0] = logSum;
  }
  affineFoldBackward(C: number, Rs: Storage, gs: Storage, dWs: Storage, dbs: Storage, dConst: Storage | null, dgs: Storage, dOffsets: Storage): void {
    const [R, g, dW, db, dg, dOffset] = [host(Rs, 'affineFoldBackward'), host(gs, 'affineFoldBackward'), host(dWs, 'affineFoldBackward'),
      host(dbs, 'affineFoldBackward'), host(dgs, 'affineFoldBackward'), host(dOffsets, 'affineFoldBackward')];
    const dc = dConst ? host(dConst, 'affineFoldBackward')[0] : 0;
    for (let j = 0; j < C; ++j) {
      let ds = 0;
      let dOff = 0;
      for (let i = 0; i < C; ++i) {
        ds += dW[i * C + j] * R[i * C + j];
        dOff += R[i * C + j] * db[i];
      }
      const d = globalScaleDerivative(g[j]);
      dg[j] = ds * d + (dc * d) / globalScale(g[j]);
      dOffset[j] = dOff;
    }
  }
  centresCompose(K: number, M: number, C: number, mus: Storage, deltas: Storage, cents: Storage): void {
    const [mu, delta, cent] = [host(mus, 'centresCompose'), host(deltas, 'centresCompose'), host(cents, 'centresCompose')];
    for (let k = 0; k < K; ++k) {
      const muRow = mu.subarray(k * C, (k + 1) * C);
      cent.set(muRow, k * M * C);
      for (let m = 1; m < M; ++m) {
        const off = (k * M + m) * C;
        const d = (k * (M - 1) + m - 1) * C;
        for (let c = 0; c < C; ++c) cent[off + c] = muRow[c] + delta[d + c];
      }
    }
  }
  centresComposeBackward(K: number, M: number, C: number, dcents: Storage, dmus: Storage, dDeltas: Storage | null): void {
    const [dcent, dmu] = [host(dcents, 'centresComposeBackward'), host(dmus, 'centresComposeBackward')];
    const dDelta = dDeltas ? host(dDeltas, 'centresComposeBackward') : null;
    for (let k = 0; k < K; ++k) {
      dmu.set(dcent.subarray(k * M * C, k * M * C + C), k * C);
      if (dDelta) dDelta.set(dcent.subarray(k * M * C + C, (k + 1) * M * C), k * (M - 1) * C);
    }
  }
  gatherRows(n: number, C: number, srcs: Storage, idxs: IntStorage, dsts: Storage): void {
    const [src, idx, dst] = [host(srcs, 'gatherRows'), hostInt(idxs, 'gatherRows'), host(dsts, 'gatherRows')];
    for (let i = 0; i < n; ++i) dst.set(src.subarray(idx[i] * C, (idx[i] + 1) * C), i * C);
  }
  gatherIntRows(n: number, C: number, srcs: IntStorage, idxs: IntStorage, dsts: IntStorage): void {
    const [src, idx, dst] = [hostInt(srcs, 'gatherIntRows'), hostInt(idxs, 'gatherIntRows'), hostInt(dsts, 'gatherIntRows')];
    for (let i = 0; i < n; ++i) dst.set(src.subarray(idx[i] * C, (idx[i] + 1) * C), i * C);
  }
  oneHot(N: number, K: number, labelss: IntStorage, smoothing: number, Ys: Storage): void {
    const [labels, Y] = [hostInt(labelss, 'oneHot'), host(Ys, 'oneHot')];
    Y.fill(smoothing / K, 0, N * K);
    for (let n = 0; n < N; ++n) if (labels[n] >= 0 && labels[n] < K) Y[n * K + labels[n]] += 1 - smoothing;
  }
  mixtureHeadForward(N: number, C: number, K: number, M: number, z: Storage, logdet: Storage, labels: IntStorage | null,
    Y: Storage | null, centres: Storage, lpi: Storage, lpa: Storage, Lg: Storage | null, Le: Storage | null,
    Lmi: Storage | null, Lgi: Storage | null, logp: Storage | null): void {
    const h = (s: Storage | null) => (s ? host(s, 'mixtureHeadForward') : null);
    native.mixtureHeadForward(N, C, K, M, h(z)!, h(logdet)!, labels ? hostInt(labels, 'mixtureHeadForward') : null, h(Y), h(centres)!,
      h(lpi)!, h(lpa)!, h(Lg), h(Le), h(Lmi), h(Lgi), h(logp));
  }
  mixtureHeadBackward(N: number, C: number, K: number, M: number, z: Storage, logdet: Storage, labels: IntStorage | null,
    Y: Storage | null, centres: Storage, lpi: Storage, lpa: Storage, wg: number, we: number, wmi: number, wgi: number,
    wz: number, dz: Storage, dlogdet: Storage, dcent: Storage, dlpi: Storage, dlpa: Storage): void {
    const h = (s: Storage | null) => (s ? host(s, 'mixtureHeadBackward') : null);
    native.mixtureHeadBackward(N, C, K, M, h(z)!, h(logdet)!, labels ? hostInt(labels, 'mixtureHeadBackward') : null, h(Y), h(centres)!,
      h(lpi)!, h(lpa)!, wg, we, wmi, wgi, wz, h(dz)!, h(dlogdet)!, h(dcent)!, h(dlpi)!, h(dlpa)!);
  }
  lossSums(N: number, Lg: Storage, Le: Storage, Lmi: Storage, Lgi: Storage | null, logp: Storage | null): Float64Array {
    const out = new Float64Array(5);
    const terms = [Lg, Le, Lmi, Lgi];
    terms.forEach((t, i) => {
      if (!t) return;
      const a = host(t, 'lossSums');
      let s = 0;
      for (let n = 0; n < N; ++n) s += a[n];
      out[i] = s;
    });
    if (logp) {
      const a = host(logp, 'lossSums');
      let s = 0;
      for (let n = 0; n < N; ++n) s += softplus(-a[n]);
      out[4] = s;
    }
    return out;
  }
  adamStep(ps: Storage, gs: Storage, ms: Storage, vs: Storage, lr: number, b1: number, b2: number, eps: number,
    wd: number, step: number): void {
    const [data, grad, m, v] = [host(ps, 'adamStep'), host(gs, 'adamStep'), host(ms, 'adamStep'), host(vs, 'adamStep')];
    const stepSize = lr / (1 - b1 ** step);
    const bc2Sqrt = Math.sqrt(1 - b2 ** step);
    for (let i = 0; i < data.length; ++i) {
      const p = data[i];
      const g = wd !== 0 ? grad[i] + wd * p : grad[i];
      m[i] = m[i] * b1 + g * (1 - b1);
      v[i] = v[i] * b2 + (1 - b2) * g * g;
      // Read back the stored moments so float32 parameters see the same
      // rounded moments PyTorch's float32 kernels would.
      data[i] = p - stepSize * (m[i] / (Math.sqrt(v[i]) / bc2Sqrt + eps));
    }
  }
}

export const cpu: Backend = new CpuBackend();
