// Builds a Flow from a golden case's parameters (PyTorch layouts).
import { Tensor, DType } from '../../lib/tensor';
import { CouplingBlock } from '../../lib/nn/coupling_block';
import { Flow } from '../../lib/nn/flow';
import type { GoldenTensor } from './golden';
import { testBackend } from './device';

/** A golden tensor on the test backend (HGAD_TEST_DEVICE). */
export function tensorOf(g: GoldenTensor, dtype: DType, shape: number[] = g.shape): Tensor {
  return Tensor.from(g.data, shape, dtype, false, testBackend());
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function flowFromGolden(golden: any, dtype: DType): Flow {
  const cfg = golden.config;
  const config = {
    channels: cfg.dim,
    condChannels: cfg.cond_dim,
    couplings: cfg.coupling_layers,
    clamp: cfg.clamp_alpha,
    hidden: cfg.subnet_hidden,
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const blocks = golden.params.flow.map((p: any) =>
    new CouplingBlock(config, {
      wPerm: tensorOf(p.w_perm, dtype),
      globalScale: tensorOf(p.global_scale, dtype, [cfg.dim]),
      globalOffset: tensorOf(p.global_offset, dtype, [cfg.dim]),
      w1: tensorOf(p.w1, dtype),
      b1: tensorOf(p.b1, dtype),
      w2: tensorOf(p.w2, dtype),
      b2: tensorOf(p.b2, dtype),
    }),
  );
  return new Flow(config, blocks);
}
