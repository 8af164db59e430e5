// ONNX Runtime held to AVX2 on a CPU that has AVX-512, so that hgad's forced
// AVX2 kernel can be compared with what ONNX Runtime does on an AVX2-only
// machine. MLAS (ONNX Runtime's GEMM library) picks its kernels from CPUID at
// load time and has no option or environment variable to refuse AVX-512, so
// this makes a temporary copy of onnxruntime-node whose libonnxruntime has
// MLAS's AVX-512F test turned into "absent": the one conditional jump after
// `test $0x10000, reg` (CPUID.7.EBX bit 16, AVX512F) that is followed by the
// XCR0 test of the AVX-512 state bits (0xE0). Found by its bytes, never by
// a fixed offset; any other number of matches leaves ONNX Runtime as it is
// and says why. (On ONNX Runtime 1.30, perf shows the patched copy running
// MLAS's FMA3 ymm SGEMM kernel where the original runs the AVX-512F zmm one.)
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * Offsets of the `je rel8` that skips MLAS's AVX-512F kernels when the CPUID
 * bit is clear: `f7 /0 imm32=0x00010000` (test r/m32, 0x10000; 6 or 7 bytes
 * with a REX prefix), then `74 rel8`, then within 16 bytes `a8 e0`
 * (test al, 0xE0) or `a9 e0 00 00 00` (test eax, 0xE0).
 */
export function findAvx512Checks(lib: Uint8Array): number[] {
  const found: number[] = [];
  for (let i = 0; i + 8 < lib.length; ++i) {
    // test r32, imm32: F7 with ModRM mod=11, reg=000
    if (lib[i] !== 0xf7 || (lib[i + 1] & 0xf8) !== 0xc0) continue;
    if (lib[i + 2] !== 0x00 || lib[i + 3] !== 0x00 || lib[i + 4] !== 0x01 || lib[i + 5] !== 0x00) continue;
    const je = i + 6;
    if (lib[je] !== 0x74) continue;
    const end = Math.min(lib.length - 5, je + 2 + 16);
    for (let j = je + 2; j < end; ++j) {
      const al = lib[j] === 0xa8 && lib[j + 1] === 0xe0;
      const eax = lib[j] === 0xa9 && lib[j + 1] === 0xe0 && lib[j + 2] === 0 && lib[j + 3] === 0 && lib[j + 4] === 0;
      if (al || eax) {
        found.push(je);
        break;
      }
    }
  }
  return found;
}

export interface Avx2Runtime {
  /** require() path of the patched onnxruntime-node copy */
  module: string;
  /** the patched library and the offset of the jump made unconditional */
  library: string;
  offset: number;
  /** removes the copy */
  dispose(): void;
}

/** A temporary onnxruntime-node whose MLAS never selects AVX-512 kernels, or why there is none. */
export function avx2OnlyRuntime(): Avx2Runtime | string {
  let pkgDir: string;
  let commonDir: string;
  try {
    pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
    // onnxruntime-common exports no package.json: its directory is above its entry point
    commonDir = require.resolve('onnxruntime-common', { paths: [pkgDir] });
    while (path.basename(commonDir) !== 'onnxruntime-common') {
      const up = path.dirname(commonDir);
      if (up === commonDir) throw new Error('onnxruntime-common has no package directory');
      commonDir = up;
    }
  } catch (e) {
    return `onnxruntime-node is not installed (${(e as Error).message.split('\n')[0]})`;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-ort-avx2-'));
  const dispose = () => fs.rmSync(root, { recursive: true, force: true });
  try {
    const modules = path.join(root, 'node_modules');
    fs.cpSync(pkgDir, path.join(modules, 'onnxruntime-node'), { recursive: true, dereference: true });
    fs.cpSync(commonDir, path.join(modules, 'onnxruntime-common'), { recursive: true, dereference: true });
    const libs: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/^libonnxruntime\.so(\.\d+)*$/.test(e.name) && p.includes(`${process.platform}${path.sep}${process.arch}`)) libs.push(p);
      }
    };
    walk(path.join(modules, 'onnxruntime-node'));
    if (libs.length !== 1) {
      dispose();
      return `expected one libonnxruntime.so for ${process.platform}/${process.arch} in onnxruntime-node but found ${libs.length}`;
    }
    const bytes = fs.readFileSync(libs[0]);
    const sites = findAvx512Checks(bytes);
    if (sites.length !== 1) {
      dispose();
      return `expected one AVX-512F check in ${path.basename(libs[0])} but found ${sites.length}: cannot hold this ONNX Runtime build to AVX2`;
    }
    bytes[sites[0]] = 0xeb; // je rel8 -> jmp rel8: the AVX-512F kernels are never installed
    fs.writeFileSync(libs[0], bytes);
    return { module: path.join(modules, 'onnxruntime-node'), library: libs[0], offset: sites[0], dispose };
  } catch (e) {
    dispose();
    return `could not copy onnxruntime-node (${(e as Error).message.split('\n')[0]})`;
  }
}

interface OnnxInfoLike {
  onnxruntime: string;
  isa: 'auto' | 'avx2';
  torch: string;
  opset: number;
  intra_op_threads: number;
  inter_op_threads: number;
}

type Reply = { ok: true; info?: OnnxInfoLike; t?: number } | { ok: false; error: string };

/**
 * The AVX2-held ONNX Runtime in a child process: a second libonnxruntime.so.1
 * loaded into this process would be taken for the one already loaded (the
 * dynamic loader matches dependencies by soname), so the copy runs alone.
 */
export class OnnxAvx2Process {
  private constructor(private readonly child: ChildProcess, readonly info: OnnxInfoLike) {}

  private static request(child: ChildProcess, msg: object): Promise<Reply> {
    return new Promise((resolve) => {
      const onMessage = (r: Reply) => {
        child.off('exit', onExit);
        resolve(r);
      };
      const onExit = (code: number | null) => {
        child.off('message', onMessage);
        resolve({ ok: false, error: `the ONNX Runtime (AVX2) process exited (${code})` });
      };
      child.once('message', onMessage);
      child.once('exit', onExit);
      child.send(msg);
    });
  }

  /** The scorer, or the reason it cannot run here. */
  static async start(python: string | null, threads: number): Promise<OnnxAvx2Process | string> {
    const child = fork(__filename, ['--onnx-avx2-child'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const r = await OnnxAvx2Process.request(child, { op: 'start', python, threads });
    if (!r.ok || !r.info) {
      child.kill();
      return r.ok ? 'the ONNX Runtime (AVX2) process gave no description' : r.error;
    }
    return new OnnxAvx2Process(child, r.info);
  }

  async setup(n: number): Promise<void> {
    const r = await OnnxAvx2Process.request(this.child, { op: 'setup', n });
    if (!r.ok) throw new Error(r.error);
  }

  /** Seconds of one scoring call, timed in the child. */
  async run(): Promise<number> {
    const r = await OnnxAvx2Process.request(this.child, { op: 'run' });
    if (!r.ok || r.t === undefined) throw new Error(r.ok ? 'no time from the ONNX Runtime (AVX2) process' : r.error);
    return r.t;
  }

  async close(): Promise<void> {
    await OnnxAvx2Process.request(this.child, { op: 'close' });
  }
}

/** Child side: one OnnxScorer on the AVX2-held copy, driven by messages. */
async function serve(): Promise<void> {
  // Loaded here, not at the top: onnx_compare imports this file.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { OnnxScorer } = require('./onnx_compare') as typeof import('./onnx_compare');
  let scorer: Awaited<ReturnType<typeof OnnxScorer.start>> | null = null;
  const reply = (r: Reply) => process.send!(r);
  process.on('message', async (m: { op: string; python?: string | null; threads?: number; n?: number }) => {
    try {
      if (m.op === 'start') {
        const s = await OnnxScorer.start(m.python ?? null, m.threads ?? 1, true);
        if (typeof s === 'string') return reply({ ok: false, error: s });
        scorer = s;
        return reply({ ok: true, info: s.info });
      }
      if (!scorer || typeof scorer === 'string') return reply({ ok: false, error: 'not started' });
      if (m.op === 'setup') {
        scorer.setup(m.n ?? 1);
        return reply({ ok: true });
      }
      if (m.op === 'run') return reply({ ok: true, t: await scorer.run() });
      if (m.op === 'close') {
        await scorer.close();
        reply({ ok: true });
        process.disconnect();
        return;
      }
      reply({ ok: false, error: `unknown request ${m.op}` });
    } catch (e) {
      reply({ ok: false, error: (e as Error).message.split('\n')[0] });
    }
  });
}

if (require.main === module && process.argv.includes('--onnx-avx2-child')) void serve();
