// Reverse-mode autograd: each op that has an input requiring a gradient
// records a GradNode; backward() walks the nodes in reverse topological order
// and calls each node's rule once.
//
// Gradient convention: parameter (leaf) gradients accumulate (+=) into
// tensor.grad; activation gradients are assigned by the rules and owned by the
// tape, so a rule may overwrite the gradients it receives.
import { Backend, FloatArray, Storage } from '../backend/types';
import { expectedRange, received } from '../errors';
import { Tensor } from '../tensor';

export type { GradNode } from '../tensor';
import type { GradNode } from '../tensor';

let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs fn without recording anything on the tape. */
export function noGrad<T>(fn: () => T): T {
  const previous = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = previous;
  }
}

function needsGrad(inputs: (Tensor | null)[]): boolean {
  return enabled && inputs.some((t) => t !== null && t.requiresGrad);
}

/** Attaches a node to its outputs when any input needs a gradient. */
export function record(node: GradNode): void {
  if (!needsGrad(node.inputs)) return;
  for (const out of node.outputs) {
    out.requiresGrad = true;
    out.node = node;
  }
}

function topologicalOrder(root: Tensor): GradNode[] {
  const order: GradNode[] = [];
  const seen = new Set<GradNode>();
  // Iterative post-order DFS: flows of many blocks would overflow recursion.
  const stack: [GradNode, number][] = [];
  if (root.node) stack.push([root.node, 0]);
  if (root.node) seen.add(root.node);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, next] = top;
    if (next < node.inputs.length) {
      top[1] += 1;
      const child = node.inputs[next]?.node;
      if (child && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

function accumulate(backend: Backend, target: Storage | null | undefined, g: Storage): Storage {
  if (!target) return g;
  backend.axpy(1, g, target);
  return target;
}

/**
 * Back-propagates from `root` (a scalar unless `seed` is given) and frees the
 * tape: afterwards no tensor of the graph references its node.
 */
export function backward(root: Tensor, seed?: FloatArray): void {
  if (!root.requiresGrad) throw new Error('backward: the root tensor does not require a gradient');
  if (!seed && root.size !== 1) {
    throw expectedRange('a scalar root', 'backward without a seed', received(`shape [${root.shape.join(', ')}]`));
  }
  if (seed && seed.length !== root.size) {
    throw expectedRange(`a seed of length ${root.size}`, 'backward', received(`length ${seed.length}`));
  }
  const be = root.backend;
  const rootGrad = seed ? be.fromHost(seed, root.dtype) : be.alloc(1, root.dtype, 1);
  if (!root.node) {
    root.grad = accumulate(be, root.gradStorage, rootGrad);
    return;
  }
  const grads = new Map<Tensor, Storage>();
  grads.set(root, rootGrad);
  for (const node of topologicalOrder(root)) {
    const gradOutputs = node.outputs.map((t) => grads.get(t) ?? null);
    for (const t of node.outputs) {
      grads.delete(t);
      t.node = null;
    }
    if (gradOutputs.every((g) => g === null)) continue;
    const gradInputs = node.backward(gradOutputs);
    node.inputs.forEach((input, i) => {
      const g = gradInputs[i];
      if (!input || !input.requiresGrad || !g) return;
      if (g.length !== input.size) {
        throw new Error(`${node.name}: gradient of input ${i} has ${g.length} elements, the input has ${input.size}`);
      }
      if (input.node) {
        grads.set(input, accumulate(input.backend, grads.get(input), g));
      } else {
        input.grad = accumulate(input.backend, input.gradStorage, g);
      }
    });
    node.inputs = [];
    node.outputs = [];
  }
}
