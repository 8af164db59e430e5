// ONNX Runtime beside hgad for score_paper: what a Node user would reach for
// to serve a trained flow. bench/torch_compare.py --export-onnx writes the
// PyTorch reference's scoring path (flow + logp + negative entropy, paper
// configuration) with torch.onnx.export at opset 13; onnxruntime-node runs it
// with as many intra-op threads as hgad has, one inter-op thread, all graph
// optimisations. Without PyTorch (nothing to export) or without
// onnxruntime-node the comparison says so and leaves ONNX Runtime out. A
// second scorer may run a copy held to AVX2 (bench/onnx_avx2.ts).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Random } from '../lib/random';
import { avx2OnlyRuntime } from './onnx_avx2';
import { PAPER } from './scenarios';

const SCRIPT = path.join(__dirname, '..', '..', 'bench', 'torch_compare.py');

// The slice of onnxruntime-node's API used here (it is loaded at run time, so
// that the benchmark still runs where the package is absent).
interface OrtTensor { dims: readonly number[]; data: Float32Array }
interface OrtSession { run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>; release?(): Promise<void> }
interface Ort {
  InferenceSession: { create(file: string, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
}

export interface OnnxInfo {
  onnxruntime: string;
  /** 'auto': MLAS picks its kernels; 'avx2': a copy held to AVX2 (bench/onnx_avx2.ts) */
  isa: 'auto' | 'avx2';
  torch: string;
  opset: number;
  intra_op_threads: number;
  inter_op_threads: number;
}

/** An ONNX Runtime session of the exported score_paper model, with inputs of N vectors. */
export class OnnxScorer {
  private feeds: Record<string, OrtTensor> | null = null;
  private n = 0;

  private constructor(private readonly ort: Ort, private readonly session: OrtSession, readonly info: OnnxInfo) {}

  /**
   * The scorer, or the reason it cannot run here. With avx2Only, ONNX Runtime
   * is a temporary copy whose MLAS never selects AVX-512 kernels.
   */
  static async start(python: string | null, threads: number, avx2Only = false): Promise<OnnxScorer | string> {
    let ort: Ort;
    let version = 'unknown';
    let moduleDir = 'onnxruntime-node';
    if (avx2Only) {
      const rt = avx2OnlyRuntime();
      if (typeof rt === 'string') return rt;
      moduleDir = rt.module;
      process.once('exit', () => rt.dispose());
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      ort = require(moduleDir) as Ort;
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      version = (require(`${moduleDir}/package.json`) as { version: string }).version;
    } catch (e) {
      return `onnxruntime-node is not installed (${(e as Error).message.split('\n')[0]})`;
    }
    if (!python) return 'PyTorch is not available, so there is no exported model to run';
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-onnx-')), 'score_paper.onnx');
    try {
      const r = spawnSync(python, [SCRIPT, '--export-onnx', file], { encoding: 'utf8', timeout: 600_000 });
      const last = (r.stdout || '').trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !fs.existsSync(file)) {
        return `torch.onnx.export failed: ${(r.stderr || last || `exit ${r.status}`).trim().split('\n').pop()}`;
      }
      const exported = JSON.parse(last) as { torch: string; opset: number };
      const session = await ort.InferenceSession.create(file, {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      });
      return new OnnxScorer(ort, session, { onnxruntime: version, isa: avx2Only ? 'avx2' : 'auto', torch: exported.torch, opset: exported.opset, intra_op_threads: threads,
        inter_op_threads: 1 });
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  }

  /** Inputs of n vectors drawn like bench/scenarios.ts draws hgad's (x normal, cond uniform in [-1, 1]). */
  setup(n: number): void {
    const rng = new Random(2);
    const x = new Float32Array(n * PAPER.C);
    for (let i = 0; i < x.length; ++i) x[i] = rng.normal();
    const cond = new Float32Array(n * PAPER.P);
    for (let i = 0; i < cond.length; ++i) cond[i] = 2 * rng.uniform() - 1;
    this.feeds = { x: new this.ort.Tensor('float32', x, [n, PAPER.C]), cond: new this.ort.Tensor('float32', cond, [n, PAPER.P]) };
    this.n = n;
  }

  /** Seconds of one scoring call (inputs in, logp and negative entropy out). */
  async run(): Promise<number> {
    if (!this.feeds) throw new Error('OnnxScorer.run before setup');
    const t0 = process.hrtime.bigint();
    const out = await this.session.run(this.feeds);
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    if (out.logp.dims[0] !== this.n || out.neg_entropy.dims[0] !== this.n) throw new Error('ONNX Runtime returned scores of the wrong length');
    return t;
  }

  async close(): Promise<void> {
    await this.session.release?.();
  }
}
