// The CPU backend: host arrays (64-byte aligned, float32 or float64) and the
// native CPU kernels (native/cpu), every op one call of the addon.
import { FloatArray, native } from '../binding';
import type { DType } from './types';
import { expectedType, received } from '../errors';
import { ArenaStack } from './arena_stack';
import { Arena, Backend, IntStorage, isDeviceArray, Storage } from './types';

function host(s: Storage | null, name: string): FloatArray {
  if (isDeviceArray(s)) throw expectedType('host memory', name, received(`a buffer on ${s.backend.label}`));
  return s as FloatArray;
}

function hostInt(s: IntStorage | null, name: string): Int32Array {
  if (!(s instanceof Int32Array)) throw expectedType('an Int32Array', name, s);
  return s;
}

/** Rows of either kind (float or int32 data) on the host. */
function hostRows(s: Storage | IntStorage, name: string): FloatArray | Int32Array {
  return s instanceof Int32Array ? s : host(s, name);
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
  private scopes = new ArenaStack<FloatArray>((items) => this.recycle(items));
  private pool = new Map<string, FloatArray[]>();
  private pooledBytes = 0;

  /**
   * Inside an arena (and not persistent) large buffers come from the pool and
   * are NOT zeroed unless `fill` is given: the ops assign every element they
   * own (the device backends give uninitialised memory too).
   */
  alloc(length: number, dtype: DType, fill?: number): FloatArray {
    if (!this.scopes.collecting || length < POOL_MIN_ELEMENTS) return native.alloc(length, dtype, fill);
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
    return this.scopes.add(a);
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
    return this.scopes.run(fn);
  }
  private recycle(items: Iterable<FloatArray>): void {
    for (const a of items) {
      if (this.pooledBytes + a.byteLength > POOL_MAX_BYTES) break;
      const key = `${a instanceof Float64Array ? 'float64' : 'float32'}:${a.length}`;
      let bucket = this.pool.get(key);
      if (!bucket) this.pool.set(key, (bucket = []));
      bucket.push(a);
      this.pooledBytes += a.byteLength;
    }
  }
  persistent<T>(fn: () => T): T {
    return this.scopes.persistent(fn);
  }
  /** Drops the pooled buffers (to the garbage collector). */
  trim(): void {
    this.pool.clear();
    this.pooledBytes = 0;
  }
  /** Drops the pool; the CPU backend stays usable. */
  dispose(): void {
    this.trim();
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
      host(logdetConst, 'coupling'), host(y, 'coupling'), host(logdetOut, 'coupling'));
  }
  couplingInverse(N: number, C: number, y: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    x: Storage, logdetOut: Storage): void {
    native.couplingInverse(N, C, host(y, 'couplingInverse'), host(a, 'couplingInverse'), clamp,
      logdetIn ? host(logdetIn, 'couplingInverse') : null, host(logdetConst, 'couplingInverse'), host(x, 'couplingInverse'),
      host(logdetOut, 'couplingInverse'));
  }
  couplingBackward(N: number, C: number, x: Storage, a: Storage, clamp: number, dy: Storage, dlogdet: Storage | null,
    dx: Storage, da: Storage): void {
    native.couplingBackward(N, C, host(x, 'couplingBackward'), host(a, 'couplingBackward'), clamp, host(dy, 'couplingBackward'),
      dlogdet ? host(dlogdet, 'couplingBackward') : null, host(dx, 'couplingBackward'), host(da, 'couplingBackward'));
  }
  axpy(alpha: number, x: Storage, y: Storage): void {
    native.axpy(x.length, alpha, host(x, 'axpy'), host(y, 'axpy'));
  }
  scale(alpha: number, x: Storage, out: Storage): void {
    native.scale(x.length, alpha, host(x, 'scale'), host(out, 'scale'));
  }
  reluBackward(h: Storage, dh: Storage): void {
    native.reluBackward(h.length, host(h, 'reluBackward'), host(dh, 'reluBackward'));
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
  repeatRows(copies: number, R: number, P: number, table: Storage, y: Storage): void {
    native.repeatRows(copies, R, P, host(table, 'repeatRows'), host(y, 'repeatRows'));
  }
  haarOrthogonal(C: number, a: Storage, q: Storage): void {
    native.haarOrthogonal(C, host(a, 'haarOrthogonal'), host(q, 'haarOrthogonal'));
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
  affineFold(C: number, R: Storage, g: Storage, offset: Storage, W: Storage, b: Storage, logdetConst: Storage, inverse: boolean): void {
    native.affineFold(C, host(R, 'affineFold'), host(g, 'affineFold'), host(offset, 'affineFold'), host(W, 'affineFold'), host(b, 'affineFold'),
      host(logdetConst, 'affineFold'), inverse);
  }
  affineFoldBackward(C: number, R: Storage, g: Storage, dW: Storage, db: Storage, dConst: Storage | null, dg: Storage, dOffset: Storage): void {
    const h = (s: Storage | null) => (s ? host(s, 'affineFoldBackward') : null);
    native.affineFoldBackward(C, h(R)!, h(g)!, h(dW)!, h(db)!, h(dConst), h(dg)!, h(dOffset)!);
  }
  centresCompose(K: number, M: number, C: number, mu: Storage, muDelta: Storage, cent: Storage): void {
    native.centresCompose(K, M, C, host(mu, 'centresCompose'), M > 1 ? host(muDelta, 'centresCompose') : null, host(cent, 'centresCompose'));
  }
  centresComposeBackward(K: number, M: number, C: number, dcent: Storage, dmu: Storage, dDelta: Storage | null): void {
    native.centresComposeBackward(K, M, C, host(dcent, 'centresComposeBackward'), host(dmu, 'centresComposeBackward'),
      dDelta ? host(dDelta, 'centresComposeBackward') : null);
  }
  gatherRows(n: number, C: number, src: Storage | IntStorage, idx: IntStorage, dst: Storage | IntStorage): void {
    const s = hostRows(src, 'gatherRows');
    native.gatherRows(n, C, s, Math.floor(s.length / Math.max(C, 1)), hostInt(idx, 'gatherRows'), hostRows(dst, 'gatherRows'));
  }
  oneHot(N: number, K: number, labels: IntStorage, smoothing: number, Y: Storage): void {
    native.oneHot(N, K, hostInt(labels, 'oneHot'), smoothing, host(Y, 'oneHot'));
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
    const h = (s: Storage | null) => (s ? host(s, 'lossSums') : null);
    native.lossSums(N, h(Lg)!, h(Le)!, h(Lmi)!, h(Lgi), h(logp), out);
    return out;
  }
  adamStep(p: Storage, g: Storage, m: Storage, v: Storage, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void {
    native.adamStep(p.length, host(p, 'adamStep'), host(g, 'adamStep'), host(m, 'adamStep'), host(v, 'adamStep'), lr, beta1, beta2, eps,
      weightDecay, step);
  }
}

export const cpu: Backend = new CpuBackend();
