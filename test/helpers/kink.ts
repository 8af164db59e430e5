// Distance of a flow's hidden ReLU pre-activations from the kink at 0: finite
// differences that straddle a kink are not derivatives, so numeric checks
// redraw inputs that come too close.
import { linear, packColumns } from '../../lib/autograd/ops';
import { noGrad } from '../../lib/autograd/tape';
import { CouplingBlock } from '../../lib/nn/coupling_block';
import { Tensor } from '../../lib/tensor';

/** Smallest |pre-activation| of the block's hidden ReLU layer for input x: (N, C), cond: (N, P) or null. */
export function kinkDistance(block: CouplingBlock, x: Tensor, cond: Tensor | null): number {
  return noGrad(() => {
    const pre = linear(packColumns(x, 0, block.C1, cond), block.w1, block.b1, false);
    let closest = Infinity;
    for (const v of pre.data) closest = Math.min(closest, Math.abs(v));
    return closest;
  });
}

/** The same over every block of a sequence, each fed the previous block's output. */
export function flowKinkDistance(blocks: CouplingBlock[], x: Tensor, cond: Tensor | null): number {
  let closest = Infinity;
  noGrad(() => {
    let h = x;
    for (const block of blocks) {
      closest = Math.min(closest, kinkDistance(block, h, cond));
      [h] = block.forward(h, cond, null);
    }
  });
  return closest;
}
