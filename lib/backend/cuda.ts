// The CUDA backend: tensors in device buffers, every op a kernel of
// native/cuda enqueued on this backend's stream. One CudaBackend per model
// (each has its own compute stream, plus an upload and a download stream for
// batch scoring), so models do not serialise on each other. Device memory
// comes from the addon's caching allocator; allocations made inside
// arena(...) are freed together when the arena is disposed, which is how a
// training step or a scoring batch returns its intermediates at once rather
// than waiting for the garbage collector.
import { FloatArray, native } from '../binding';
import type { CudaStream, DeviceBuffer, DeviceSurface } from '../binding';
import type { DType } from './types';
import { expectedRange, expectedType, received } from '../errors';
import { ArenaStack } from './arena_stack';
import { Arena, Backend, DeviceArray, IntStorage, isDeviceArray, Storage } from './types';

/** fp32: exact float32 GEMMs (cuBLAS when present, else the hand-written SGEMM); tf32: tensor cores with 10-bit mantissa inputs. */
export type Precision = 'fp32' | 'tf32';

export interface CudaBackendOptions {
  precision?: Precision;
}

// gemm's device backend codes (lib/binding.ts OpSurface.gemm)
const GEMM_AUTO = 0;
const GEMM_TILED_TF32 = 2;
const GEMM_CUBLAS_TF32 = 4;

class CudaArray implements DeviceArray {
  readonly kind = 'device' as const;
  constructor(
    readonly buffer: DeviceBuffer,
    readonly length: number,
    readonly dtype: 'float32' | 'int32',
    readonly backend: CudaBackend,
  ) {}
}

export class CudaBackend implements Backend {
  readonly device = 'cuda' as const;
  readonly label: string;
  readonly precision: Precision;
  /** Where the ops run. */
  readonly stream: CudaStream;
  /** Where batch uploads run (overlapping the compute of the previous batch). */
  readonly uploadStream: CudaStream;
  /** Where batch results come back. */
  readonly downloadStream: CudaStream;
  private readonly gemmCode: number;
  private scopes = new ArenaStack<CudaArray>((items) => {
    for (const a of items) a.buffer.dispose();
  });
  private disposed = false;

  constructor(readonly cuda: DeviceSurface, label: string, options: CudaBackendOptions = {}) {
    const precision = options.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'tf32') throw expectedRange('"fp32" or "tf32"', 'precision', precision);
    this.precision = precision;
    this.label = label;
    this.stream = new cuda.CudaStream();
    this.uploadStream = new cuda.CudaStream();
    this.downloadStream = new cuda.CudaStream();
    const cublas = cuda.cudaCublasAvailable();
    this.gemmCode = precision === 'fp32' ? GEMM_AUTO : cublas ? GEMM_CUBLAS_TF32 : GEMM_TILED_TF32;
  }

  /** Frees the cached constant buffers (made again when needed). */
  trim(): void {
  }

  /** Frees the streams and the cached constants (the backend is unusable afterwards). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.stream.synchronize();
    } finally {
      this.stream.dispose();
      this.uploadStream.dispose();
      this.downloadStream.dispose();
    }
  }

  // ---------------------------------------------------------------- memory
  private newArray(length: number, dtype: 'float32' | 'int32', stream: CudaStream = this.stream): CudaArray {
    if (this.disposed) throw new Error(`${this.label}: this backend was disposed`);
    if (!Number.isInteger(length) || length < 0) throw expectedRange('an integer >= 0', 'length', length);
    return this.scopes.add(new CudaArray(new this.cuda.DeviceBuffer(Math.max(4, length * 4), stream), length, dtype, this));
  }

  private buf(s: Storage | IntStorage | null, name: string): DeviceBuffer {
    if (!isDeviceArray(s) || s.backend !== this) {
      const where = isDeviceArray(s) ? `a buffer on ${s.backend.label}` : s === null ? 'null' : 'a host array';
      throw expectedType(`a buffer on ${this.label}`, name, received(where));
    }
    return (s as CudaArray).buffer;
  }

  private opt(s: Storage | IntStorage | null, name: string): DeviceBuffer | null {
    return s === null ? null : this.buf(s, name);
  }

  alloc(length: number, dtype: DType, fill?: number): Storage {
    if (dtype !== 'float32') throw new TypeError(`${this.label} computes in float32; received a request for ${dtype}`);
    const a = this.newArray(length, 'float32');
    if (fill !== undefined && length > 0) this.cuda.cudaFill(length, fill, a.buffer, 0, this.stream);
    return a;
  }
  allocInt(length: number): IntStorage {
    return this.newArray(length, 'int32');
  }
  fromHost(values: ArrayLike<number>, dtype: DType): Storage {
    const host = values instanceof Float32Array ? values : Float32Array.from(values);
    const a = this.alloc(host.length, dtype) as CudaArray;
    if (host.length > 0) this.cuda.cudaUpload(a.buffer, host, this.stream, 0);
    return a;
  }
  intFromHost(values: Int32Array): IntStorage {
    const a = this.newArray(values.length, 'int32');
    if (values.length > 0) this.cuda.cudaUpload(a.buffer, values, this.stream, 0);
    return a;
  }
  write(dst: Storage, values: FloatArray, offset = 0): void {
    const host = values instanceof Float32Array ? values : Float32Array.from(values);
    if (host.length > 0) this.cuda.cudaUpload(this.buf(dst, 'write'), host, this.stream, offset);
  }
  toHost(s: Storage): FloatArray {
    const out = new Float32Array(s.length);
    if (s.length > 0) this.cuda.cudaDownload(this.buf(s, 'toHost'), out, this.stream, 0);
    return out;
  }
  readInto(s: Storage, out: Float32Array | Float64Array, offset = 0): void {
    const host = out instanceof Float32Array ? out : new Float32Array(out.length);
    if (host.length > 0) this.cuda.cudaDownload(this.buf(s, 'readInto'), host, this.stream, offset);
    if (host !== out) out.set(host);
  }
  readScalar(s: Storage, index = 0): number {
    const out = new Float32Array(1);
    this.cuda.cudaDownload(this.buf(s, 'readScalar'), out, this.stream, index);
    return out[0];
  }
  release(s: Storage | IntStorage | null | undefined): void {
    if (!s) return;
    const a = s as CudaArray;
    this.scopes.forget(a);
    this.buf(s, 'release').dispose();
  }
  arena<T>(fn: () => T): { result: T; arena: Arena } {
    return this.scopes.run(fn);
  }
  persistent<T>(fn: () => T): T {
    return this.scopes.persistent(fn);
  }
  synchronize(): void {
    this.stream.synchronize();
  }
  firstNonFinite(s: Storage): number {
    return native.firstNonFinite(this.toHost(s));
  }

  // -------------------------------------------------- pipelined transfers
  /** A copy of `host` made on the upload stream (returns once `host` may be reused). */
  stage(host: Float32Array): Storage {
    const a = this.newArray(host.length, 'float32', this.uploadStream);
    if (host.length > 0) this.cuda.cudaUpload(a.buffer, host, this.uploadStream, 0);
    return a;
  }
  stageInt(host: Int32Array): IntStorage {
    const a = this.newArray(host.length, 'int32', this.uploadStream);
    if (host.length > 0) this.cuda.cudaUpload(a.buffer, host, this.uploadStream, 0);
    return a;
  }
  /** Makes the ops enqueued from now on wait for the uploads enqueued so far. */
  afterStaged(): void {
    this.cuda.cudaStreamWait(this.stream, this.uploadStream);
  }
  /** Makes readback() wait for the ops enqueued so far (and no later ones). */
  markComputed(): void {
    this.cuda.cudaStreamWait(this.downloadStream, this.stream);
  }
  /** Downloads s into out on the download stream (waits for it, not for later ops). */
  readback(s: Storage, out: Float32Array, offset = 0): void {
    if (out.length > 0) this.cuda.cudaDownload(this.buf(s, 'readback'), out, this.downloadStream, offset);
  }

  // ------------------------------------------------------------------- ops
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Storage, lda: number, B: Storage, ldb: number,
    beta: number, C: Storage, ldc: number, bias: Storage | null, relu: boolean): void {
    this.cuda.gemm(transA, transB, M, N, K, this.buf(A, 'gemm A'), lda, this.buf(B, 'gemm B'), ldb, beta, this.buf(C, 'gemm C'), ldc,
      this.opt(bias, 'gemm bias'), relu, this.stream, this.gemmCode);
  }

  couplingForward(N: number, C: number, x: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    y: Storage, logdetOut: Storage): void {
    this.cuda.couplingForward(N, C, this.buf(x, 'coupling x'), this.buf(a, 'coupling a'), clamp, this.opt(logdetIn, 'coupling logdetIn'), this.buf(logdetConst, 'coupling logdetConst'),
      this.buf(y, 'coupling y'), this.buf(logdetOut, 'coupling logdetOut'), this.stream);
  }
  couplingInverse(N: number, C: number, y: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    x: Storage, logdetOut: Storage): void {
    this.cuda.couplingInverse(N, C, this.buf(y, 'couplingInverse y'), this.buf(a, 'couplingInverse a'), clamp,
      this.opt(logdetIn, 'couplingInverse logdetIn'), this.buf(logdetConst, 'couplingInverse logdetConst'), this.buf(x, 'couplingInverse x'), this.buf(logdetOut, 'couplingInverse logdetOut'), this.stream);
  }
  couplingBackward(N: number, C: number, x: Storage, a: Storage, clamp: number, dy: Storage, dlogdet: Storage | null,
    dx: Storage, da: Storage): void {
    this.cuda.couplingBackward(N, C, this.buf(x, 'couplingBackward x'), this.buf(a, 'couplingBackward a'), clamp, this.buf(dy, 'couplingBackward dy'),
      this.opt(dlogdet, 'couplingBackward dlogdet'), this.buf(dx, 'couplingBackward dx'), this.buf(da, 'couplingBackward da'), this.stream);
  }
  axpy(alpha: number, x: Storage, y: Storage): void {
    this.cuda.axpy(x.length, alpha, this.buf(x, 'axpy x'), this.buf(y, 'axpy y'), this.stream);
  }
  scale(alpha: number, x: Storage, out: Storage): void {
    this.cuda.scale(x.length, alpha, this.buf(x, 'scale x'), this.buf(out, 'scale out'), this.stream);
  }
  reluBackward(h: Storage, dh: Storage): void {
    this.cuda.reluBackward(h.length, this.buf(h, 'reluBackward h'), this.buf(dh, 'reluBackward dh'), this.stream);
  }
  columnSum(N: number, M: number, X: Storage, beta: number, v: Storage): void {
    this.cuda.columnSum(N, M, this.buf(X, 'columnSum X'), beta, this.buf(v, 'columnSum v'), this.stream);
  }
  mapMax(n: number, x: Storage, m: Storage): void {
    this.cuda.mapMax(n, this.buf(x, 'mapMax x'), this.buf(m, 'mapMax m'), this.stream);
  }
  mapShift(n: number, x: Storage, m: Storage, mode: number, y: Storage): void {
    this.cuda.mapShift(n, this.buf(x, 'mapShift x'), this.buf(m, 'mapShift m'), mode, this.buf(y, 'mapShift y'), this.stream);
  }
  upsampleBilinear(B: number, h: number, w: number, H: number, W: number, x: Storage, beta: number, y: Storage): void {
    this.cuda.upsampleBilinear(B, h, w, H, W, this.buf(x, 'upsampleBilinear x'), beta, this.buf(y, 'upsampleBilinear y'), this.stream);
  }
  gaussianBlur(B: number, H: number, W: number, sigma: number, truncate: number, x: Storage, work: Storage, y: Storage): void {
    this.cuda.gaussianBlur(B, H, W, sigma, truncate, this.buf(x, 'gaussianBlur x'), this.buf(work, 'gaussianBlur work'),
      this.buf(y, 'gaussianBlur y'), this.stream);
  }
  mapProduct(n: number, a: Storage, b: Storage, y: Storage): void {
    this.cuda.mapProduct(n, this.buf(a, 'mapProduct a'), this.buf(b, 'mapProduct b'), this.buf(y, 'mapProduct y'), this.stream);
  }
  repeatRows(copies: number, R: number, P: number, table: Storage, y: Storage): void {
    this.cuda.repeatRows(copies, R, P, this.buf(table, 'repeatRows table'), this.buf(y, 'repeatRows y'), this.stream);
  }
  haarOrthogonal(C: number, a: Storage, q: Storage): void {
    this.cuda.haarOrthogonal(C, this.buf(a, 'haarOrthogonal a'), this.buf(q, 'haarOrthogonal q'), this.stream);
  }
  rowSum(N: number, M: number, X: Storage, r: Storage): void {
    this.cuda.rowSum(N, M, this.buf(X, 'rowSum X'), this.buf(r, 'rowSum r'), this.stream);
  }
  logSoftmaxRows(N: number, M: number, X: Storage, Y: Storage): void {
    this.cuda.logSoftmaxRows(N, M, this.buf(X, 'logSoftmaxRows X'), this.buf(Y, 'logSoftmaxRows Y'), this.stream);
  }
  logSoftmaxRowsBackward(N: number, M: number, Y: Storage, dY: Storage, dX: Storage): void {
    this.cuda.logSoftmaxRowsBackward(N, M, this.buf(Y, 'logSoftmaxRowsBackward Y'), this.buf(dY, 'logSoftmaxRowsBackward dY'),
      this.buf(dX, 'logSoftmaxRowsBackward dX'), this.stream);
  }
  packColumns(N: number, X: Storage, ldx: number, c0: number, W0: number, Z: Storage | null, P: number, out: Storage): void {
    this.cuda.packColumns(N, this.buf(X, 'packColumns X'), ldx, c0, W0, this.opt(Z, 'packColumns Z'), P, this.buf(out, 'packColumns out'), this.stream);
  }
  unpackColumnsBackward(N: number, dOut: Storage, W0: number, P: number, dX: Storage, ldx: number, c0: number, dZ: Storage | null): void {
    this.cuda.unpackColumnsBackward(N, this.buf(dOut, 'unpackColumnsBackward dOut'), W0, P, this.buf(dX, 'unpackColumnsBackward dX'), ldx, c0,
      this.opt(dZ, 'unpackColumnsBackward dZ'), this.stream);
  }
  affineFold(C: number, R: Storage, g: Storage, offset: Storage, W: Storage, b: Storage, logdetConst: Storage, inverse: boolean): void {
    const n = 'affineFold';
    this.cuda.affineFold(C, this.buf(R, n), this.buf(g, n), this.buf(offset, n), this.buf(W, n), this.buf(b, n), this.buf(logdetConst, n), inverse,
      this.stream);
  }
  affineFoldBackward(C: number, R: Storage, g: Storage, dW: Storage, db: Storage, dConst: Storage | null, dg: Storage, dOffset: Storage): void {
    const n = 'affineFoldBackward';
    this.cuda.affineFoldBackward(C, this.buf(R, n), this.buf(g, n), this.buf(dW, n), this.buf(db, n), this.opt(dConst, n), this.buf(dg, n),
      this.buf(dOffset, n), this.stream);
  }
  centresCompose(K: number, M: number, C: number, mu: Storage, muDelta: Storage, cent: Storage): void {
    const n = 'centresCompose';
    this.cuda.centresCompose(K, M, C, this.buf(mu, n), M > 1 ? this.buf(muDelta, n) : null, this.buf(cent, n), this.stream);
  }
  centresComposeBackward(K: number, M: number, C: number, dcent: Storage, dmu: Storage, dDelta: Storage | null): void {
    const n = 'centresComposeBackward';
    this.cuda.centresComposeBackward(K, M, C, this.buf(dcent, n), this.buf(dmu, n), this.opt(dDelta, n), this.stream);
  }
  gatherRows(n: number, C: number, src: Storage | IntStorage, idx: IntStorage, dst: Storage | IntStorage): void {
    this.cuda.gatherRows(n, C, this.buf(src, 'gatherRows src'), Math.floor(src.length / Math.max(C, 1)), this.buf(idx, 'gatherRows idx'),
      this.buf(dst, 'gatherRows dst'), this.stream);
  }
  oneHot(N: number, K: number, labels: IntStorage, smoothing: number, Y: Storage): void {
    this.cuda.oneHot(N, K, this.buf(labels, 'oneHot labels'), smoothing, this.buf(Y, 'oneHot Y'), this.stream);
  }
  mixtureHeadForward(N: number, C: number, K: number, M: number, z: Storage, logdet: Storage, labels: IntStorage | null,
    Y: Storage | null, centres: Storage, lpi: Storage, lpa: Storage, Lg: Storage | null, Le: Storage | null,
    Lmi: Storage | null, Lgi: Storage | null, logp: Storage | null): void {
    const n = 'mixtureHeadForward';
    this.cuda.mixtureHeadForward(N, C, K, M, this.buf(z, n), this.buf(logdet, n), this.opt(labels, n), this.opt(Y, n), this.buf(centres, n),
      this.buf(lpi, n), this.buf(lpa, n), this.opt(Lg, n), this.opt(Le, n), this.opt(Lmi, n), this.opt(Lgi, n), this.opt(logp, n), this.stream);
  }
  mixtureHeadBackward(N: number, C: number, K: number, M: number, z: Storage, logdet: Storage, labels: IntStorage | null,
    Y: Storage | null, centres: Storage, lpi: Storage, lpa: Storage, wg: number, we: number, wmi: number, wgi: number,
    wz: number, dz: Storage, dlogdet: Storage, dcent: Storage, dlpi: Storage, dlpa: Storage): void {
    const n = 'mixtureHeadBackward';
    this.cuda.mixtureHeadBackward(N, C, K, M, this.buf(z, n), this.buf(logdet, n), this.opt(labels, n), this.opt(Y, n), this.buf(centres, n),
      this.buf(lpi, n), this.buf(lpa, n), wg, we, wmi, wgi, wz, this.buf(dz, n), this.buf(dlogdet, n), this.buf(dcent, n), this.buf(dlpi, n),
      this.buf(dlpa, n), this.stream);
  }
  lossSums(N: number, Lg: Storage, Le: Storage, Lmi: Storage, Lgi: Storage | null, logp: Storage | null): Float64Array {
    // Five doubles: ten 4-byte elements, downloaded into the bytes of a Float64Array.
    const out = this.newArray(10, 'float32');
    try {
      const n = 'lossSums';
      this.cuda.lossSums(N, this.buf(Lg, n), this.buf(Le, n), this.buf(Lmi, n), this.opt(Lgi, n), this.opt(logp, n), out.buffer, this.stream);
      const sums = new Float64Array(5);
      this.cuda.cudaDownload(out.buffer, new Float32Array(sums.buffer), this.stream, 0);
      return sums;
    } finally {
      this.release(out);
    }
  }
  adamStep(p: Storage, g: Storage, m: Storage, v: Storage, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void {
    const n = 'adamStep';
    this.cuda.adamStep(p.length, this.buf(p, n), this.buf(g, n), this.buf(m, n), this.buf(v, n), lr, beta1, beta2, eps, weightDecay, step,
      this.stream);
  }
}
