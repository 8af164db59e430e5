// The one typed surface of the native addon (build/Release/hgad.node),
// NativeAddon: every op, registered once for host arrays and device buffers
// (OpSurface), the host helpers, and the CUDA resources (CudaResources:
// streams, buffers, copies; present when the addon was built with CUDA).
// Only lib/backend imports this file.
import * as path from 'path';
import { expectedRange, expectedType } from './errors';
import { isMainThread } from 'worker_threads';

export type FloatArray = Float32Array | Float64Array;

export interface BuildInfo {
  cudaCompiled: boolean;
  cudaArchs: string;
  gemmKernel: string;
  threads: number;
}

export interface CudaDevice {
  index: number;
  name: string;
  totalMemory: number;
  computeCapability: string;
  multiprocessors: number;
}

export type AllocDType = 'float32' | 'float64' | 'int32';

/** Device memory of a CUDA build (native/napi/cuda_resources.cc): 4-byte elements, float32 or int32. */
export interface DeviceBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  /** Frees the device memory now (the garbage collector does it otherwise), in the order of the stream it was allocated on. */
  dispose(): void;
}

/**
 * A non-blocking CUDA stream. Work on it runs in issue order, concurrently
 * with other streams; it does not wait for the legacy default stream (null)
 * nor the default stream for it: order them with cudaStreamWait.
 */
export interface CudaStream {
  readonly disposed: boolean;
  /** Waits on the host for the work queued on this stream. */
  synchronize(): void;
  /**
   * Releases the stream (the garbage collector does it otherwise). Work already
   * queued still completes; buffers allocated on it keep it alive until freed.
   */
  dispose(): void;
}

/** Memory an op reads or writes: host arrays run the CPU kernel, device buffers the CUDA kernel. */
type Mem = FloatArray | DeviceBuffer;
type IntMem = Int32Array | DeviceBuffer;
/** The stream a device call is queued on: null or left out for the legacy default stream (ignored on the host). */
type Str = CudaStream | null;

/**
 * The ops registered once for both backends (native/napi/dispatch.h): every
 * array argument is a host array (all of one float type) or every one a
 * device buffer; the math is in native/ops/<family>.h.
 */
export interface OpSurface {
  /**
   * native/ops/gemm.h.  C (M, N, row stride ldc) = relu?(beta C + op(A) op(B) + bias[col]); op(A): (M, K) stored as A (lda >= K)
   * or, with transA, as its (K, M) transpose (lda >= M); op(B) likewise (K, N). bias: (N) or null. beta = 0 never reads C.
   * `backend` picks the device implementation (0 auto: cuBLAS when present, 1 tiled FP32, 2 tiled TF32, 3 cuBLAS FP32,
   * 4 cuBLAS TF32); host calls check it and run the CPU kernel in force.
   */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Mem, lda: number, B: Mem, ldb: number, beta: number,
    C: Mem, ldc: number, bias: Mem | null, relu: boolean, stream?: Str, backend?: number): void;
  /** native/ops/elementwise.h.  x, y: (n); y += alpha x */
  axpy(n: number, alpha: number, x: Mem, y: Mem, stream?: Str): void;
  /** out = alpha x (out may be x) */
  scale(n: number, alpha: number, x: Mem, out: Mem, stream?: Str): void;
  /** dh *= (h > 0) */
  reluBackward(n: number, h: Mem, dh: Mem, stream?: Str): void;
  /** X: (N, M)  v: (M) = beta v + sum over the rows of X (summed in double on a device, deterministic) */
  columnSum(N: number, M: number, X: Mem, beta: number, v: Mem, stream?: Str): void;
  /** X: (N, M)  r: (N) = the sum of each row */
  rowSum(N: number, M: number, X: Mem, r: Mem, stream?: Str): void;
  /** X, Y: (N, M); Y = X - logsumexp of its row (Y may be X) */
  logSoftmaxRows(N: number, M: number, X: Mem, Y: Mem, stream?: Str): void;
  /** Y, dY, dX: (N, M); dX = dY - exp(Y) rowsum(dY), from the log-softmax output Y (dX may be dY) */
  logSoftmaxRowsBackward(N: number, M: number, Y: Mem, dY: Mem, dX: Mem, stream?: Str): void;
  /** X: (N, ldx)  Z: (N, P) (null when P = 0)  out: (N, W0 + P) = [X[:, c0:c0+W0] | Z] */
  packColumns(N: number, X: Mem, ldx: number, c0: number, W0: number, Z: Mem | null, P: number, out: Mem, stream?: Str): void;
  /** dOut: (N, W0 + P)  dX: (N, ldx)  dZ: (N, P) or null; dX[:, c0:c0+W0] += dOut[:, :W0], dZ = dOut[:, W0:] */
  unpackColumnsBackward(N: number, dOut: Mem, W0: number, P: number, dX: Mem, ldx: number, c0: number, dZ: Mem | null,
    stream?: Str): void;
  /** native/ops/anomaly_map.h.  x: (n)  m: (1) = max of x */
  mapMax(n: number, x: Mem, m: Mem, stream?: Str): void;
  /** x, y: (n)  m: (1); mode 0: y = exp(x - m), 1: y = m - x */
  mapShift(n: number, x: Mem, m: Mem, mode: number, y: Mem, stream?: Str): void;
  /** x: (B, h, w)  y: (B, H, W) = beta y + the bilinear upsampling of x */
  upsampleBilinear(B: number, h: number, w: number, H: number, W: number, x: Mem, beta: number, y: Mem, stream?: Str): void;
  /** x, work, y: (B, H, W), distinct */
  gaussianBlur(B: number, H: number, W: number, sigma: number, truncate: number, x: Mem, work: Mem, y: Mem, stream?: Str): void;
  /** a, b, y: (n); y = a b */
  mapProduct(n: number, a: Mem, b: Mem, y: Mem, stream?: Str): void;
  /** native/ops/rows.h.  y (copies * R, P) = the table (R, P) once per copy */
  repeatRows(copies: number, R: number, P: number, table: Mem, y: Mem, stream?: Str): void;
  /** native/ops/orthogonal.h.  a: (C, C) column-major Gaussian (overwritten)  ->  q (C, C) row-major Haar rotation */
  haarOrthogonal(C: number, a: Mem, q: Mem, stream?: Str): void;
  /**
   * native/ops/half.h.  out[i] = the binary16 value h[i], i < n (exact). Float16 data is a Uint16Array on the host, on a
   * device n binary16 values two to a 4-byte element (uploaded through an Int32Array view).
   */
  halfToFloat(n: number, h: Uint16Array | DeviceBuffer, out: Mem, stream?: Str): void;
  /** h[i] = x[i] rounded to binary16 (nearest, ties to even; overflow to inf), i < n */
  floatToHalf(n: number, x: Mem, h: Uint16Array | DeviceBuffer, stream?: Str): void;
  /** native/ops/fold.h.  R, W: (C, C)  g, offset, b: (C)  logdetConst: (1) */
  affineFold(C: number, R: Mem, g: Mem, offset: Mem, W: Mem, b: Mem, logdetConst: Mem, inverse: boolean, stream?: Str): void;
  /** R, dW: (C, C)  g, db, dg, dOffset: (C)  dConst: (1) or null */
  affineFoldBackward(C: number, R: Mem, g: Mem, dW: Mem, db: Mem, dConst: Mem | null, dg: Mem, dOffset: Mem, stream?: Str): void;
  /** mu: (K, C)  muDelta: (K, M - 1, C) (null when M = 1)  cent: (K, M, C) */
  centresCompose(K: number, M: number, C: number, mu: Mem, muDelta: Mem | null, cent: Mem, stream?: Str): void;
  /** dcent: (K, M, C)  dmu: (K, C)  dDelta: (K, M - 1, C) or null */
  centresComposeBackward(K: number, M: number, C: number, dcent: Mem, dmu: Mem, dDelta: Mem | null, stream?: Str): void;
  /** native/ops/batch.h.  src: (srcRows, C) float or int32  idx: (n)  dst: (n, C); a row index outside [0, srcRows) gives zeros */
  gatherRows(n: number, C: number, src: Mem | IntMem, srcRows: number, idx: IntMem, dst: Mem | IntMem, stream?: Str): void;
  /** labels: (N)  Y: (N, K) */
  oneHot(N: number, K: number, labels: IntMem, smoothing: number, Y: Mem, stream?: Str): void;
  /** Lg, Le, Lmi, Lgi, logp: (N)  out: 5 doubles (a Float64Array, or a device buffer of 10 4-byte elements) */
  lossSums(N: number, Lg: Mem, Le: Mem, Lmi: Mem, Lgi: Mem | null, logp: Mem | null, out: Float64Array | DeviceBuffer, stream?: Str): void;
  /** native/ops/coupling.h.  x, y: (N, C)  a: (N, 2 floor(C/2))  logdetIn, logdetOut: (N)  logdetConst: (1) */
  couplingForward(N: number, C: number, x: Mem, a: Mem, clamp: number, logdetIn: Mem | null, logdetConst: Mem, y: Mem,
    logdetOut: Mem, stream?: Str): void;
  couplingInverse(N: number, C: number, y: Mem, a: Mem, clamp: number, logdetIn: Mem | null, logdetConst: Mem, x: Mem,
    logdetOut: Mem, stream?: Str): void;
  /** dy, dx: (N, C)  da: (N, 2 floor(C/2))  dlogdet: (N) or null */
  couplingBackward(N: number, C: number, x: Mem, a: Mem, clamp: number, dy: Mem, dlogdet: Mem | null, dx: Mem, da: Mem,
    stream?: Str): void;
  /** native/ops/mixture_head.h.  z: (N, C)  logdet, labels, Lg..logp: (N)  Y: (N, K)  centres: (K, M, C)  lpi: (K)  lpa: (K, M) */
  mixtureHeadForward(N: number, C: number, K: number, M: number, z: Mem, logdet: Mem, labels: IntMem | null, Y: Mem | null,
    centres: Mem, logPriorInter: Mem, logPriorIntra: Mem, Lg: Mem | null, Le: Mem | null, Lmi: Mem | null, Lgi: Mem | null,
    logp: Mem | null, stream?: Str): void;
  /** dz: (N, C)  dlogdet: (N)  dcent: (K, M, C)  dlpi: (K)  dlpa: (K, M), assigned */
  mixtureHeadBackward(N: number, C: number, K: number, M: number, z: Mem, logdet: Mem, labels: IntMem | null, Y: Mem | null,
    centres: Mem, logPriorInter: Mem, logPriorIntra: Mem, wg: number, we: number, wmi: number, wgi: number, wz: number,
    dz: Mem, dlogdet: Mem, dcent: Mem, dlpi: Mem, dlpa: Mem, stream?: Str): void;
  /** native/ops/adam.h.  p, g, m, v: (n) */
  adamStep(n: number, p: Mem, g: Mem, m: Mem, v: Mem, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number,
    step: number, stream?: Str): void;
}

interface RawAddon {
  alignOffset(buffer: ArrayBuffer): number;
  addressModulo(array: ArrayBufferView, modulus: number): number;
}

/** The addon: every op (OpSurface), the host helpers, and the CUDA resources (callable only in a CUDA build with a usable device). */
export interface NativeAddon extends RawAddon, OpSurface, CudaResources {
  /** A zero-filled (or `fill`-filled) typed array whose data starts on a 64-byte boundary. */
  alloc(length: number, dtype: 'float32', fill?: number): Float32Array;
  alloc(length: number, dtype: 'float64', fill?: number): Float64Array;
  alloc(length: number, dtype: 'int32', fill?: number): Int32Array;
  alloc(length: number, dtype: 'float32' | 'float64', fill?: number): FloatArray;
  threadCount(): number;
  setThreadCount(n: number): void;
  buildInfo(): BuildInfo;
  /** Forces the CPU GEMM kernel for the whole process ("auto": the best this CPU runs). */
  setGemmKernel(name: string): void;
  /** The CPU GEMM kernels this machine can run, best first. */
  gemmKernels(): CpuKernel[];
  /** Packed CPU float products run so far in this process and their total wall time. */
  gemmProfile(): { calls: number; seconds: number };
  cudaDevices(): { devices: CudaDevice[]; error: string | null };
  /** The index of the first NaN or infinity of a host array, or -1 (a device tensor is downloaded first). */
  firstNonFinite(x: FloatArray): number;
}

/**
 * The CUDA resources of a CUDA build (native/napi/cuda_resources.cc): streams,
 * device buffers and the copies between them and the host. Every op only
 * enqueues work on its stream and returns; the copies to and from the host
 * return once the host array may be reused (upload) or is filled (download).
 * A buffer freed on one stream while another stream still uses it must be
 * ordered first (cudaStreamWait or a synchronize). Int32 data (labels,
 * indices) lives in DeviceBuffers too (4-byte elements). cudaFill and cudaCopy
 * are buffer functions, not ops: on the host, a typed array's fill() and set().
 */
export interface CudaResources {
  CudaStream: new () => CudaStream;
  /** Allocates `bytes` in the order of `stream` (freed on the same stream). */
  DeviceBuffer: new (bytes: number, stream?: Str) => DeviceBuffer;
  /** host -> device elements [offsetElements, offsetElements + host.length). */
  cudaUpload(device: DeviceBuffer, host: Float32Array | Int32Array, stream?: Str, offsetElements?: number): void;
  /** device elements [offsetElements, offsetElements + host.length) -> host. */
  cudaDownload(device: DeviceBuffer, host: Float32Array | Int32Array, stream?: Str, offsetElements?: number): void;
  /** Waits for all work on the device, every stream included. */
  cudaSynchronize(): void;
  /** Work queued on `waiter` from now on waits for the work queued on `signaler` so far (no host wait). */
  cudaStreamWait(waiter: Str, signaler: Str): void;
  /** buf[offsetElements, offsetElements + n) = value (a float; NaN and infinities allowed) */
  cudaFill(n: number, value: number, buf: DeviceBuffer, offsetElements?: number, stream?: Str): void;
  /** dst[dstOffset, dstOffset + n) = src[srcOffset, srcOffset + n): 4-byte elements; the ranges must not overlap */
  cudaCopy(n: number, src: DeviceBuffer, srcOffset: number, dst: DeviceBuffer, dstOffset: number, stream?: Str): void;
  /** Selects the device that this thread's CUDA calls use (streams and buffers belong to the device current at creation). */
  cudaSetDevice(index: number): void;
  /** Whether cuBLAS could be loaded (what gemm's backend 0 uses on a device). */
  cudaCublasAvailable(): boolean;
  cudaAllocatorStats(): { bytesInUse: number; bytesCached: number; driverAllocations: number; cacheHits: number };
}

/**
 * The part of the one surface the CUDA backend uses (the ops and the CUDA
 * resources): the addon itself, or a stand-in for it (the tests' emulated
 * surface) on a machine without a GPU.
 */
export type DeviceSurface = OpSurface & CudaResources;

const ALIGNMENT = 64;
const MAX_BYTES = 2 ** 40;

function makeAlloc(raw: RawAddon) {
  return (length: number, dtype: AllocDType, fill?: number) => {
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
      throw expectedRange('an integer >= 0', 'length', length);
    }
    const ctor = dtype === 'float32' ? Float32Array : dtype === 'float64' ? Float64Array : dtype === 'int32' ? Int32Array : null;
    if (!ctor) throw expectedType('"float32", "float64" or "int32"', 'dtype', dtype);
    const bytes = length * ctor.BYTES_PER_ELEMENT;
    if (bytes > MAX_BYTES) throw expectedRange('a length below 2^40 bytes', 'length', length);
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(bytes + ALIGNMENT);
    } catch {
      throw new Error(`alloc: out of host memory for ${bytes} bytes`);
    }
    const out = new ctor(buffer, raw.alignOffset(buffer), length);
    if (fill !== undefined && typeof fill !== 'number') throw expectedType('a number', 'fill', fill);
    if (fill !== undefined && fill !== 0) out.fill(fill);
    return out;
  };
}

function load(): NativeAddon {
  const file = path.join(__dirname, '..', '..', 'build', 'Release', 'hgad.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const raw = require(file) as Omit<NativeAddon, 'alloc'>;
    return Object.assign(Object.create(null), raw, { alloc: makeAlloc(raw) }) as NativeAddon;
  } catch (err) {
    const e = new Error(
      `hgad: the native addon could not be loaded from ${file}; run \`npm install\` (or \`npm run build:native\`) first. ` +
        `Cause: ${(err as Error).message}`,
    );
    throw e;
  }
}

export const native: NativeAddon = load();

/** Every CPU GEMM kernel a build may have, best first; `gemmKernels()` says which this CPU runs. */
export const CPU_KERNELS = ['avx512', 'avx2', 'portable'] as const;
export type CpuKernel = (typeof CPU_KERNELS)[number];

function forceKernel(name: unknown, what: string): void {
  const supported: readonly string[] = native.gemmKernels();
  const known: readonly string[] = ['auto', ...CPU_KERNELS];
  const quoted = (names: readonly string[]) => names.map((n) => JSON.stringify(n)).join(', ');
  if (typeof name !== 'string' || !known.includes(name)) {
    throw expectedRange(`one of ${quoted(known)}`, what, name);
  }
  if (name !== 'auto' && !supported.includes(name)) {
    throw expectedRange(`a CPU GEMM kernel this machine supports (${quoted(['auto', ...supported])})`, what, name);
  }
  native.setGemmKernel(name);
}

/**
 * Forces the CPU GEMM kernel of the whole process, e.g. 'avx2' on an AVX-512
 * machine to measure the AVX2 path; 'auto' restores the best one. The
 * environment variable HGAD_CPU_KERNEL does the same when the module loads.
 */
export function setCpuKernel(name: CpuKernel | 'auto'): void {
  forceKernel(name, 'kernel');
}

/** The CPU GEMM kernel in force ('avx512', 'avx2' or 'portable'). */
export function cpuKernel(): CpuKernel {
  return native.buildInfo().gemmKernel as CpuKernel;
}

// Worker threads share the main thread's (process-wide) choice, which a
// setCpuKernel() call may since have changed.
const envKernel = process.env.HGAD_CPU_KERNEL;
if (isMainThread && envKernel !== undefined && envKernel !== '') forceKernel(envKernel, 'HGAD_CPU_KERNEL');

/** Sets the number of CPU threads used by every heavy kernel (default: HGAD_NUM_THREADS or the core count). */
export function setThreads(n: number): void {
  native.setThreadCount(n);
}

export function threads(): number {
  return native.threadCount();
}
