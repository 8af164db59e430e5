// A stand-in for the CUDA surface (lib/cuda.ts CudaAddon) that keeps "device"
// memory in host arrays and runs every op with the CPU kernels. It lets the
// tests drive the CUDA backend of lib/backend/cuda.ts (device residency,
// arenas, streams, transfers) on machines without a GPU. It is strict where
// the real binding is: a disposed or too-small buffer is an Error, and fresh
// buffers hold NaN so that code relying on zeroed memory fails loudly.
import { native } from '../../lib/binding';
import { cpu } from '../../lib/backend/cpu';
import type { CudaAddon, CudaStream, DeviceBuffer } from '../../lib/cuda';

class EmuStream implements CudaStream {
  disposed = false;
  synchronize(): void {
    if (this.disposed) throw new Error('synchronize: the stream was disposed');
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class EmuBuffer implements DeviceBuffer {
  static live = 0;
  static allocations = 0;
  private f32: Float32Array | null;
  private i32: Int32Array | null;
  readonly byteLength: number;

  constructor(bytes: number, stream?: CudaStream | null) {
    if (!Number.isInteger(bytes) || bytes < 1) throw new RangeError(`Expected an integer >= 1 for bytes but received ${bytes}`);
    if (stream && stream.disposed) throw new Error('DeviceBuffer: the stream was disposed');
    const words = Math.ceil(bytes / 4);
    this.f32 = native.alloc(words, 'float32', NaN);
    this.i32 = new Int32Array(this.f32.buffer, this.f32.byteOffset, words);
    this.byteLength = bytes;
    EmuBuffer.live += 1;
    EmuBuffer.allocations += 1;
  }
  get disposed(): boolean {
    return this.f32 === null;
  }
  dispose(): void {
    if (this.f32) EmuBuffer.live -= 1;
    this.f32 = null;
    this.i32 = null;
  }
  floats(name: string, elements: number): Float32Array {
    if (!this.f32) throw new Error(`${name}: the device buffer was disposed`);
    if (elements * 4 > this.byteLength) throw new RangeError(`Expected a device buffer of at least ${elements * 4} bytes for ${name} but received ${this.byteLength} bytes`);
    return this.f32.subarray(0, elements);
  }
  ints(name: string, elements: number): Int32Array {
    this.floats(name, elements);
    return this.i32!.subarray(0, elements);
  }
}

function f(b: DeviceBuffer | null, name: string, n: number): Float32Array {
  if (b === null) throw new TypeError(`Expected a DeviceBuffer for ${name} but received null`);
  if (!(b instanceof EmuBuffer)) throw new TypeError(`Expected a DeviceBuffer for ${name}`);
  return b.floats(name, n);
}
function fo(b: DeviceBuffer | null, name: string, n: number): Float32Array | null {
  return b === null ? null : f(b, name, n);
}
function iv(b: DeviceBuffer | null, name: string, n: number): Int32Array {
  if (!(b instanceof EmuBuffer)) throw new TypeError(`Expected a DeviceBuffer for ${name}`);
  return b.ints(name, n);
}
function checkStream(s: CudaStream | null | undefined, name: string): void {
  if (s && s.disposed) throw new Error(`${name}: the stream was disposed`);
}

/** Counts of the calls made, by function name (what the tests inspect). */
export const calls = new Map<string, number>();

function counted<T extends Record<string, unknown>>(o: T): T {
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'function' && k.startsWith('cuda')) {
      (o as Record<string, unknown>)[k] = (...args: unknown[]) => {
        calls.set(k, (calls.get(k) ?? 0) + 1);
        const s = args[args.length - 1];
        if (s instanceof EmuStream) checkStream(s, k);
        return (v as (...a: unknown[]) => unknown)(...args);
      };
    }
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

// cudaGemm backend codes whose inputs go through TF32 (lib/cuda.ts)
const TF32_BACKENDS = new Set([2, 4]);

export function emulatedCuda(): CudaAddon {
  const addon: CudaAddon = {
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
    cudaGemm(tA, tB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu, backend) {
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
    cudaCouplingForward(N, C, x, a, clamp, ldIn, ldConst, y, ldOut) {
      const C2 = Math.floor(C / 2);
      native.couplingForward(N, C, f(x, 'x', N * C), f(a, 'a', N * 2 * C2), clamp, fo(ldIn, 'logdetIn', N), ldConst, f(y, 'y', N * C), f(ldOut, 'logdetOut', N));
    },
    cudaCouplingInverse(N, C, y, a, clamp, ldIn, ldConst, x, ldOut) {
      const C2 = Math.floor(C / 2);
      native.couplingInverse(N, C, f(y, 'y', N * C), f(a, 'a', N * 2 * C2), clamp, fo(ldIn, 'logdetIn', N), ldConst, f(x, 'x', N * C), f(ldOut, 'logdetOut', N));
    },
    cudaCouplingBackward(N, C, x, a, clamp, dy, dld, dx, da) {
      const C2 = Math.floor(C / 2);
      native.couplingBackward(N, C, f(x, 'x', N * C), f(a, 'a', N * 2 * C2), clamp, f(dy, 'dy', N * C), fo(dld, 'dlogdet', N), f(dx, 'dx', N * C), f(da, 'da', N * 2 * C2));
    },
    cudaMixtureHeadForward(N, C, K, M, z, ld, labels, Y, cent, lpi, lpa, Lg, Le, Lmi, Lgi, logp) {
      native.mixtureHeadForward(N, C, K, M, f(z, 'z', N * C), f(ld, 'logdet', N), labels ? iv(labels, 'labels', N) : null, fo(Y, 'Y', N * K),
        f(cent, 'centres', K * M * C), f(lpi, 'lpi', K), f(lpa, 'lpa', K * M), fo(Lg, 'Lg', N), fo(Le, 'Le', N), fo(Lmi, 'Lmi', N), fo(Lgi, 'Lgi', N), fo(logp, 'logp', N));
    },
    cudaMixtureHeadBackward(N, C, K, M, z, ld, labels, Y, cent, lpi, lpa, wg, we, wmi, wgi, wz, dz, dld, dcent, dlpi, dlpa) {
      native.mixtureHeadBackward(N, C, K, M, f(z, 'z', N * C), f(ld, 'logdet', N), labels ? iv(labels, 'labels', N) : null, fo(Y, 'Y', N * K),
        f(cent, 'centres', K * M * C), f(lpi, 'lpi', K), f(lpa, 'lpa', K * M), wg, we, wmi, wgi, wz, f(dz, 'dz', N * C), f(dld, 'dlogdet', N),
        f(dcent, 'dcent', K * M * C), f(dlpi, 'dlpi', K), f(dlpa, 'dlpa', K * M));
    },
    cudaAdamStep(n, p, g, m, v, lr, b1, b2, eps, wd, step) {
      cpu.adamStep(f(p, 'p', n), f(g, 'g', n), f(m, 'm', n), f(v, 'v', n), lr, b1, b2, eps, wd, step);
    },
    cudaAxpy(n, alpha, x, y) {
      native.axpy(alpha, f(x, 'x', n), f(y, 'y', n));
    },
    cudaAdd(n, a, b, out) {
      native.add(f(a, 'a', n), f(b, 'b', n), f(out, 'out', n));
    },
    cudaScale(n, alpha, x, out) {
      native.scale(alpha, f(x, 'x', n), f(out, 'out', n));
    },
    cudaReluBackward(n, h, dh) {
      native.reluBackward(f(h, 'h', n), f(dh, 'dh', n));
    },
    cudaColumnSum(N, M, X, beta, v) {
      native.columnSum(N, M, f(X, 'X', N * M), beta, f(v, 'v', M));
    },
    cudaRowSum(N, M, X, r) {
      native.rowSum(N, M, f(X, 'X', N * M), f(r, 'r', N));
    },
    cudaLogSumExpRows(N, M, X, r) {
      native.logSumExpRows(N, M, f(X, 'X', N * M), f(r, 'r', N));
    },
    cudaLogSoftmaxRows(N, M, X, Y) {
      native.logSoftmaxRows(N, M, f(X, 'X', N * M), f(Y, 'Y', N * M));
    },
    cudaLogSoftmaxRowsBackward(N, M, Y, dY, dX) {
      native.logSoftmaxRowsBackward(N, M, f(Y, 'Y', N * M), f(dY, 'dY', N * M), f(dX, 'dX', N * M));
    },
    cudaPackColumns(N, X, ldx, c0, W0, Z, P, out) {
      native.packColumns(N, f(X, 'X', N * ldx), ldx, c0, W0, fo(Z, 'Z', N * P), P, f(out, 'out', N * (W0 + P)));
    },
    cudaUnpackColumnsBackward(N, dOut, W0, P, dX, ldx, c0, dZ) {
      native.unpackColumnsBackward(N, f(dOut, 'dOut', N * (W0 + P)), W0, P, f(dX, 'dX', N * ldx), ldx, c0, fo(dZ, 'dZ', N * P));
    },
    cudaFill(n, value, buf, offset = 0) {
      f(buf, 'buf', offset + n).fill(value, offset, offset + n);
    },
    cudaCopy(n, src, so, dst, dO) {
      f(dst, 'dst', dO + n).set(f(src, 'src', so + n).subarray(so, so + n), dO);
    },
    cudaAffineFold(C, R, g, offset, W, b, c, inverse) {
      cpu.affineFold(C, f(R, 'R', C * C), f(g, 'g', C), f(offset, 'offset', C), f(W, 'W', C * C), f(b, 'b', C), f(c, 'logdetConst', 1), inverse);
    },
    cudaAffineFoldBackward(C, R, g, dW, db, dConst, dg, dOffset) {
      cpu.affineFoldBackward(C, f(R, 'R', C * C), f(g, 'g', C), f(dW, 'dW', C * C), f(db, 'db', C), fo(dConst, 'dConst', 1), f(dg, 'dg', C), f(dOffset, 'dOffset', C));
    },
    cudaCentresCompose(K, M, C, mu, muDelta, cent) {
      cpu.centresCompose(K, M, C, f(mu, 'mu', K * C), muDelta ? f(muDelta, 'muDelta', K * (M - 1) * C) : new Float32Array(0), f(cent, 'cent', K * M * C));
    },
    cudaCentresComposeBackward(K, M, C, dcent, dmu, dDelta) {
      cpu.centresComposeBackward(K, M, C, f(dcent, 'dcent', K * M * C), f(dmu, 'dmu', K * C), fo(dDelta, 'dDelta', K * (M - 1) * C));
    },
    cudaGatherRows(n, C, src, srcRows, idx, dst) {
      const s = iv(src, 'src', srcRows * C);
      const ix = iv(idx, 'idx', n);
      const d = iv(dst, 'dst', n * C);
      for (let i = 0; i < n; ++i) {
        if (ix[i] < 0 || ix[i] >= srcRows) d.fill(0, i * C, (i + 1) * C);
        else d.set(s.subarray(ix[i] * C, (ix[i] + 1) * C), i * C);
      }
    },
    cudaOneHot(N, K, labels, smoothing, Y) {
      cpu.oneHot(N, K, iv(labels, 'labels', N), smoothing, f(Y, 'Y', N * K));
    },
    cudaLossSums(N, Lg, Le, Lmi, Lgi, logp, out) {
      const sums = cpu.lossSums(N, f(Lg, 'Lg', N), f(Le, 'Le', N), f(Lmi, 'Lmi', N), fo(Lgi, 'Lgi', N), fo(logp, 'logp', N));
      f(out, 'out', 5).set(sums);
    },
    cudaSetDevice() {},
    cudaCublasAvailable() {
      return false;
    },
    cudaAllocatorStats() {
      return { bytesInUse: 0, bytesCached: 0, driverAllocations: EmuBuffer.allocations, cacheHits: 0 };
    },
  };
  return counted(addon as unknown as Record<string, unknown>) as unknown as CudaAddon;
}
