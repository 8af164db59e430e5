// A normalizing flow: a sequence of AllInOneBlock couplings, FrEIA's
// contract forward(x, cond) -> (z, logdet) and inverse(z, cond) -> (x, -logdet).
import { expectedRange, expectedType, isPositiveInteger, received } from '../errors';
import { Random } from '../random';
import { checkFinite, checkMatrix, DType, Tensor } from '../tensor';
import { isGradEnabled } from '../autograd/tape';
import { CouplingBlock, Scratch } from './coupling_block';
import type { Backend } from '../backend/types';

export interface FlowConfig {
  /** C */
  channels: number;
  /** P (0 = unconditional) */
  condChannels: number;
  /** number of coupling blocks */
  couplings: number;
  /** soft clamp of the log-scale (the reference uses 1.9) */
  clamp: number;
  /** subnet hidden width; default 2*(ceil(C/2) + P) */
  hidden?: number;
}

export interface FlowOutput {
  z: Tensor;
  logdet: Tensor;
}

function validateFlowConfig(config: unknown): FlowConfig {
  if (typeof config !== 'object' || config === null) throw expectedType('a flow configuration object', 'config', config);
  const c = config as Record<string, unknown>;
  if (!isPositiveInteger(c.channels) || c.channels < 2) throw expectedRange('an integer >= 2', 'config.channels', c.channels);
  if (!Number.isInteger(c.condChannels) || (c.condChannels as number) < 0) {
    throw expectedRange('an integer >= 0', 'config.condChannels', c.condChannels);
  }
  if (!isPositiveInteger(c.couplings)) throw expectedRange('a positive integer', 'config.couplings', c.couplings);
  if (typeof c.clamp !== 'number' || !(c.clamp > 0) || !Number.isFinite(c.clamp)) {
    throw expectedRange('a positive finite number', 'config.clamp', c.clamp);
  }
  if (c.hidden !== undefined && !isPositiveInteger(c.hidden)) throw expectedRange('a positive integer', 'config.hidden', c.hidden);
  return {
    channels: c.channels,
    condChannels: c.condChannels as number,
    couplings: c.couplings,
    clamp: c.clamp,
    hidden: c.hidden as number | undefined,
  };
}

export class Flow {
  readonly config: FlowConfig;
  private readonly scratch = new Scratch();

  constructor(config: FlowConfig, readonly blocks: CouplingBlock[]) {
    this.config = validateFlowConfig(config);
    if (blocks.length !== config.couplings) {
      throw expectedRange(`${config.couplings} blocks`, 'blocks', blocks);
    }
  }

  static create(config: FlowConfig, rng: Random | number = 0, dtype: DType = 'float32'): Flow {
    const cfg = validateFlowConfig(config);
    const r = typeof rng === 'number' ? new Random(rng) : rng;
    const blocks: CouplingBlock[] = [];
    for (let i = 0; i < cfg.couplings; ++i) {
      blocks.push(CouplingBlock.create({ channels: cfg.channels, condChannels: cfg.condChannels, clamp: cfg.clamp, hidden: cfg.hidden }, r, dtype));
    }
    return new Flow(cfg, blocks);
  }

  get dtype(): DType {
    return this.blocks[0].w1.dtype;
  }

  parameters(): Tensor[] {
    return this.blocks.flatMap((b) => b.parameters());
  }

  /** Checks x: (N, C) and cond: (N, P) (null when P = 0): shapes, dtype, finiteness. */
  checkInputs(x: unknown, cond: unknown, xName = 'x', condName = 'cond'): [Tensor, Tensor | null] {
    const { channels: C, condChannels: P } = this.config;
    const xt = checkMatrix(x, xName, C);
    if (xt.dtype !== this.dtype) throw expectedType(`a ${this.dtype} tensor`, xName, received(`a ${xt.dtype} tensor`));
    if (xt.backend !== this.backend) throw expectedType(`a tensor on ${this.backend.label} (the flow's device)`, xName, received(`a tensor on ${xt.backend.label}`));
    checkFinite(xt, xName);
    if (P === 0) {
      if (cond !== null && cond !== undefined) throw expectedType('no condition (the flow is unconditional)', condName, cond);
      return [xt, null];
    }
    const ct = checkMatrix(cond, condName, P, xt.shape[0]);
    if (ct.dtype !== this.dtype) throw expectedType(`a ${this.dtype} tensor`, condName, received(`a ${ct.dtype} tensor`));
    if (ct.backend !== this.backend) throw expectedType(`a tensor on ${this.backend.label} (the flow's device)`, condName, received(`a tensor on ${ct.backend.label}`));
    checkFinite(ct, condName);
    return [xt, ct];
  }

  /**
   * x: (N, C)  cond: (N, P) or null  ->  z: (N, C), logdet: (N)
   * Outside the tape (noGrad) the blocks' intermediates reuse this flow's
   * scratch buffers instead of fresh ones: fresh memory costs page faults.
   */
  forward(x: Tensor, cond: Tensor | null = null): FlowOutput {
    const [xt, ct] = this.checkInputs(x, cond);
    return this.forwardChecked(xt, ct);
  }

  /** forward() for inputs the caller has already validated (shapes, device, finiteness). */
  forwardChecked(xt: Tensor, ct: Tensor | null): FlowOutput {
    const scratch = isGradEnabled() ? undefined : this.scratch;
    let z = xt;
    let logdet: Tensor | null = null;
    for (const block of this.blocks) [z, logdet] = block.forward(z, ct, logdet, scratch);
    return { z, logdet: logdet! };
  }

  /** z: (N, C)  ->  x: (N, C), logdet: minus the forward log-determinant (N) */
  inverse(z: Tensor, cond: Tensor | null = null): { x: Tensor; logdet: Tensor } {
    const [zt, ct] = this.checkInputs(z, cond, 'z');
    let x = zt;
    let logdet: Tensor | null = null;
    for (let i = this.blocks.length - 1; i >= 0; --i) [x, logdet] = this.blocks[i].inverse(x, ct, logdet, this.scratch);
    return { x, logdet: logdet! };
  }

  to(dtype: DType): Flow {
    return new Flow(this.config, this.blocks.map((b) => b.to(dtype)));
  }

  /** The backend holding this flow's parameters. */
  get backend(): Backend {
    return this.blocks[0].w1.backend;
  }

  /** A copy of this flow on another backend (parameters detached). */
  onBackend(backend: Backend): Flow {
    return new Flow(this.config, this.blocks.map((b) => b.onBackend(backend)));
  }

  /** Frees the flow's reusable buffers (device memory at once). */
  releaseScratch(): void {
    this.scratch.clear();
  }
}
