// The op ABI the TypeScript layer computes through. A Backend owns where a
// tensor's memory lives (host arrays for 'cpu', device buffers for 'cuda') and
// runs each native op on that memory; autograd, the modules, the optimiser
// and the model call these methods only, so they do not change per backend.
// Shapes use the letters of native/ops/*.h. Unless said otherwise lengths are
// taken from the arguments' shapes, outputs are assigned, and every method
// only enqueues work (a device backend returns before the work is done).
import type { FloatArray } from '../binding';

export type { FloatArray };
/** The float type of a tensor's storage. */
export type DType = 'float32' | 'float64';

export type Device = 'cpu' | 'cuda';
export type DeviceRequest = Device | 'auto';

/** Opaque device memory: a buffer of `length` 4-byte elements owned by `backend`. */
export interface DeviceArray {
  readonly kind: 'device';
  readonly length: number;
  readonly dtype: 'float32' | 'int32';
  readonly backend: Backend;
}

/** Float memory of a backend: a host array on the CPU, a DeviceArray on a device. */
export type Storage = FloatArray | DeviceArray;
/** Int32 memory of a backend (class ids, row indices). */
export type IntStorage = Int32Array | DeviceArray;

export function isDeviceArray(s: unknown): s is DeviceArray {
  return typeof s === 'object' && s !== null && (s as DeviceArray).kind === 'device';
}

/** A set of device allocations released together (see Backend.arena). */
export interface Arena {
  dispose(): void;
}

export interface Backend {
  readonly device: Device;
  /** 'cpu', or 'cuda:INDEX (NAME)' */
  readonly label: string;

  // ---------------------------------------------------------------- memory
  alloc(length: number, dtype: DType, fill?: number): Storage;
  allocInt(length: number): IntStorage;
  /** A copy of a host array in this backend's memory (float32 on devices). */
  fromHost(host: ArrayLike<number>, dtype: DType): Storage;
  intFromHost(host: Int32Array): IntStorage;
  /** Copies `host` into `dst` starting at element `offset`. */
  write(dst: Storage, host: FloatArray, offset?: number): void;
  /** The contents as a host array (waits for the work that writes them). */
  toHost(s: Storage): FloatArray;
  /** Reads s into `out` (length <= s.length) from element `offset`; waits. */
  readInto(s: Storage, out: Float32Array | Float64Array, offset?: number): void;
  /** One element, as a number (waits). */
  readScalar(s: Storage, index?: number): number;
  /** Frees device memory now (a no-op on the CPU). */
  release(s: Storage | IntStorage | null | undefined): void;
  /**
   * Runs fn with every allocation it makes recorded in a new arena and returns
   * the arena with fn's result; arena.dispose() frees them all (on the CPU
   * the garbage collector does, and dispose is a no-op). Allocations made
   * with `persistent` set bypass the arena.
   */
  arena<T>(fn: () => T): { result: T; arena: Arena };
  /** Runs fn with allocations outside any arena (buffers kept across steps). */
  persistent<T>(fn: () => T): T;
  /**
   * Frees what the backend itself holds: a device backend's streams and cached
   * buffers (it is unusable afterwards); the CPU backend's pool of idle
   * buffers (it stays usable).
   */
  dispose(): void;
  /** Waits for all work queued by this backend. */
  synchronize(): void;
  /** Index of the first non-finite element, or -1 (waits). */
  firstNonFinite(s: Storage): number;

  // ---------------------------------- pipelined transfers (batch scoring)
  /** A copy of `host` made on the upload queue (returns once `host` may be reused). */
  stage(host: Float32Array): Storage;
  stageInt(host: Int32Array): IntStorage;
  /** Makes the ops enqueued from now on wait for the uploads staged so far. */
  afterStaged(): void;
  /** Makes readback() wait for the ops enqueued so far (and not for later ones). */
  markComputed(): void;
  /** Copies s (from element offset) into out on the download queue; waits for it. */
  readback(s: Storage, out: Float32Array, offset?: number): void;

  // ------------------------------------------------------------------- ops
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Storage, lda: number, B: Storage, ldb: number,
    beta: number, C: Storage, ldc: number, bias: Storage | null, relu: boolean): void;
  /** logdetConst: a 1-element storage added to every row's log-determinant. */
  couplingForward(N: number, C: number, x: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    y: Storage, logdetOut: Storage): void;
  /** logdetOut = logdetIn - (block logdet incl. logdetConst) */
  couplingInverse(N: number, C: number, y: Storage, a: Storage, clamp: number, logdetIn: Storage | null, logdetConst: Storage,
    x: Storage, logdetOut: Storage): void;
  couplingBackward(N: number, C: number, x: Storage, a: Storage, clamp: number, dy: Storage, dlogdet: Storage | null,
    dx: Storage, da: Storage): void;
  /** y += alpha x */
  axpy(alpha: number, x: Storage, y: Storage): void;
  /** out = alpha x */
  scale(alpha: number, x: Storage, out: Storage): void;
  reluBackward(h: Storage, dh: Storage): void;
  columnSum(N: number, M: number, X: Storage, beta: number, v: Storage): void;
  rowSum(N: number, M: number, X: Storage, r: Storage): void;
  logSoftmaxRows(N: number, M: number, X: Storage, Y: Storage): void;
  logSoftmaxRowsBackward(N: number, M: number, Y: Storage, dY: Storage, dX: Storage): void;
  packColumns(N: number, X: Storage, ldx: number, c0: number, W0: number, Z: Storage | null, P: number, out: Storage): void;
  unpackColumnsBackward(N: number, dOut: Storage, W0: number, P: number, dX: Storage, ldx: number, c0: number, dZ: Storage | null): void;
  /**
   * The global affine folded with the rotation R (C, C) (see
   * lib/nn/coupling_block.ts): forward W = R diag(s), b = R offset; inverse
   * W = R diag(1/s), b = -offset/s; logdetConst = sum log s, s = globalScale(g).
   */
  affineFold(C: number, R: Storage, g: Storage, offset: Storage, W: Storage, b: Storage, logdetConst: Storage, inverse: boolean): void;
  affineFoldBackward(C: number, R: Storage, g: Storage, dW: Storage, db: Storage, dConst: Storage | null, dg: Storage, dOffset: Storage): void;
  /** cent (K*M, C): row k*M = mu_k, row k*M+m = mu_k + delta_{k,m-1} */
  centresCompose(K: number, M: number, C: number, mu: Storage, muDelta: Storage, cent: Storage): void;
  /** dmu = the m = 0 rows of dcent (mu is detached in the intra centres); dDelta = the others */
  centresComposeBackward(K: number, M: number, C: number, dcent: Storage, dmu: Storage, dDelta: Storage | null): void;
  /** dst[i] = src[idx[i]] for rows of C elements (float or int32 data); an index outside src's rows gives zeros */
  gatherRows(n: number, C: number, src: Storage | IntStorage, idx: IntStorage, dst: Storage | IntStorage): void;
  /** Y (N, K) = (1 - smoothing) onehot(labels) + smoothing / K */
  oneHot(N: number, K: number, labels: IntStorage, smoothing: number, Y: Storage): void;
  mixtureHeadForward(N: number, C: number, K: number, M: number, z: Storage, logdet: Storage, labels: IntStorage | null,
    Y: Storage | null, centres: Storage, lpi: Storage, lpa: Storage, Lg: Storage | null, Le: Storage | null,
    Lmi: Storage | null, Lgi: Storage | null, logp: Storage | null): void;
  mixtureHeadBackward(N: number, C: number, K: number, M: number, z: Storage, logdet: Storage, labels: IntStorage | null,
    Y: Storage | null, centres: Storage, lpi: Storage, lpa: Storage, wg: number, we: number, wmi: number, wgi: number,
    wz: number, dz: Storage, dlogdet: Storage, dcent: Storage, dlpi: Storage, dlpa: Storage): void;
  /** [sum Lg, sum Le, sum Lmi, sum Lgi, sum softplus(-logp)] in double (0 for a null term); waits. */
  lossSums(N: number, Lg: Storage, Le: Storage, Lmi: Storage, Lgi: Storage | null, logp: Storage | null): Float64Array;
  // ---------------------------------------------- anomaly maps (native/ops/anomaly_map.h)
  /** m (1) = max of x (n) */
  mapMax(n: number, x: Storage, m: Storage): void;
  /** y (n) = exp(x - m[0]) (mode 0) or m[0] - x (mode 1); y may be x */
  mapShift(n: number, x: Storage, m: Storage, mode: number, y: Storage): void;
  /** y (B, H, W) = beta y + bilinear align_corners=True upsampling of x (B, h, w) */
  upsampleBilinear(B: number, h: number, w: number, H: number, W: number, x: Storage, beta: number, y: Storage): void;
  /** y (B, H, W) = scipy gaussian_filter of each x image (reflect border); work (B, H, W) scratch */
  gaussianBlur(B: number, H: number, W: number, sigma: number, truncate: number, x: Storage, work: Storage, y: Storage): void;
  /** y (n) = a * b */
  mapProduct(n: number, a: Storage, b: Storage, y: Storage): void;
  /** table: (R, P)  ->  y (copies * R, P): the table once per copy (a batch's positional conditions) */
  repeatRows(copies: number, R: number, P: number, table: Storage, y: Storage): void;
  /** a: (C, C) column-major Gaussian (overwritten)  ->  q (C, C) row-major: the Haar rotation of its QR (native/ops/orthogonal.h) */
  haarOrthogonal(C: number, a: Storage, q: Storage): void;
  /** PyTorch's Adam with L2 weight decay, in place; step is the 1-based count after this update. */
  adamStep(p: Storage, g: Storage, m: Storage, v: Storage, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void;
}
