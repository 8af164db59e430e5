// Adam exactly as PyTorch 1.13's single-tensor implementation computes it, so
// that training reproduces the reference's parameter trajectories.
import { expectedRange, expectedType } from '../errors';
import { cpu } from '../backend/cpu';
import { Backend, isDeviceArray, Storage } from '../backend/types';
import { Tensor } from '../tensor';

export type FloatArray = Float32Array | Float64Array;

/** A parameter: a Tensor (any backend), or a plain host array with its gradient. */
export type Param = Tensor | { data: FloatArray; grad: FloatArray | null };

function paramStorage(p: Param): Storage {
  return p instanceof Tensor ? p.storage : p.data;
}

function paramGrad(p: Param): Storage | null {
  return p instanceof Tensor ? p.gradStorage : p.grad;
}

function paramBackend(p: Param): Backend {
  return p instanceof Tensor ? p.backend : cpu;
}

export interface AdamGroup {
  name: string;
  params: Param[];
  lr: number;
  betas: [number, number];
  weightDecay: number;
}

export interface AdamState {
  /** Number of `step()` calls so far. */
  step: number;
  /**
   * Steps taken by each parameter (flattened over groups in order). PyTorch
   * counts steps per parameter: one whose grad stayed null (the reference's
   * intra-class centres during stage 1) starts its bias correction later.
   * When absent on import every parameter is taken to have taken `step` steps.
   */
  paramSteps?: number[];
  m: FloatArray[];
  v: FloatArray[];
}

interface Slot {
  param: Param;
  backend: Backend;
  group: AdamGroup;
  steps: number;
  m: Storage;
  v: Storage;
}

function zerosLike(backend: Backend, a: Storage): Storage {
  return backend.persistent(() => backend.alloc(a.length, a instanceof Float64Array ? 'float64' : 'float32', 0));
}

function isFloatArray(a: unknown): a is FloatArray {
  return a instanceof Float32Array || a instanceof Float64Array;
}

function checkLearningRate(lr: unknown, name: string): number {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) throw expectedRange('a finite number > 0', name, lr);
  return lr;
}

export class Adam {
  readonly groups: readonly AdamGroup[];
  readonly eps: number;
  stepCount = 0;
  // Relative to the first group's initial lr, so a schedule driving one number
  // keeps e.g. the reference's 3x learning rate on the class centres.
  private readonly lrScales: number[];
  private readonly slots: Slot[] = [];

  constructor(groups: AdamGroup[], eps = 1e-8) {
    if (!Array.isArray(groups) || groups.length === 0) throw expectedType('a non-empty array of parameter groups', 'groups', groups);
    if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) throw expectedRange('a finite number > 0', 'eps', eps);
    groups.forEach((g, gi) => {
      const where = `groups[${gi}]`;
      if (g === null || typeof g !== 'object') throw expectedType('a parameter group object', where, g);
      checkLearningRate(g.lr, `${where}.lr`);
      if (!Array.isArray(g.betas) || g.betas.length !== 2) throw expectedType('a pair [beta1, beta2]', `${where}.betas`, g.betas);
      g.betas.forEach((b, bi) => {
        if (typeof b !== 'number' || !(b >= 0 && b < 1)) throw expectedRange('a number in [0, 1)', `${where}.betas[${bi}]`, b);
      });
      if (typeof g.weightDecay !== 'number' || !Number.isFinite(g.weightDecay) || g.weightDecay < 0) {
        throw expectedRange('a finite number >= 0', `${where}.weightDecay`, g.weightDecay);
      }
      if (!Array.isArray(g.params)) throw expectedType('an array of parameters', `${where}.params`, g.params);
      g.params.forEach((p, pi) => {
        if (p === null || typeof p !== 'object' || !(p instanceof Tensor || isFloatArray((p as { data: unknown }).data))) {
          throw expectedType('a Tensor or a parameter with a Float32Array or Float64Array data', `${where}.params[${pi}]`, p);
        }
        const backend = paramBackend(p);
        const storage = paramStorage(p);
        this.slots.push({ param: p, backend, group: g, steps: 0, m: zerosLike(backend, storage), v: zerosLike(backend, storage) });
      });
    });
    this.groups = groups;
    this.eps = eps;
    this.lrScales = groups.map((g) => g.lr / groups[0].lr);
  }

  setLearningRate(lr: number): void {
    checkLearningRate(lr, 'lr');
    this.groups.forEach((g, i) => {
      g.lr = lr * this.lrScales[i];
    });
  }

  step(): void {
    // Checked up front so a bad gradient cannot leave the parameters half-updated.
    this.slots.forEach(({ param, group, backend }, si) => {
      const grad = paramGrad(param);
      const len = paramStorage(param).length;
      const ok = grad === null || (grad.length === len && (isDeviceArray(grad) ? grad.backend === backend : isFloatArray(grad) && backend === cpu));
      if (!ok) {
        throw expectedType(`a gradient of length ${len} on ${backend.label}`, `the grad of parameter ${si} (group "${group.name}")`, grad);
      }
    });
    for (const slot of this.slots) {
      const { param, group, backend } = slot;
      const grad = paramGrad(param);
      if (grad === null) continue;
      slot.steps += 1;
      const [b1, b2] = group.betas;
      backend.adamStep(paramStorage(param), grad, slot.m, slot.v, group.lr, b1, b2, this.eps, group.weightDecay, slot.steps);
    }
    this.stepCount += 1;
  }

  /** Frees the moment buffers (device memory at once); the optimiser is unusable afterwards. */
  release(): void {
    for (const slot of this.slots) {
      slot.backend.release(slot.m);
      slot.backend.release(slot.v);
    }
    this.slots.length = 0;
  }

  exportState(): Required<AdamState> {
    return {
      step: this.stepCount,
      paramSteps: this.slots.map((s) => s.steps),
      m: this.slots.map((s) => s.backend.toHost(s.m).slice()),
      v: this.slots.map((s) => s.backend.toHost(s.v).slice()),
    };
  }

  importState(state: AdamState): void {
    if (state === null || typeof state !== 'object') throw expectedType('an Adam state object', 'state', state);
    if (!Number.isInteger(state.step) || state.step < 0) throw expectedRange('an integer >= 0', 'state.step', state.step);
    const n = this.slots.length;
    for (const key of ['m', 'v'] as const) {
      const arr = state[key];
      if (!Array.isArray(arr) || arr.length !== n) throw expectedType(`an array of ${n} moment arrays`, `state.${key}`, arr);
      arr.forEach((a, i) => {
        const len = paramStorage(this.slots[i].param).length;
        if (!isFloatArray(a) || a.length !== len) throw expectedType(`a Float32Array or Float64Array of length ${len}`, `state.${key}[${i}]`, a);
      });
    }
    const paramSteps = state.paramSteps ?? new Array<number>(n).fill(state.step);
    if (!Array.isArray(paramSteps) || paramSteps.length !== n) throw expectedType(`an array of ${n} step counts`, 'state.paramSteps', paramSteps);
    paramSteps.forEach((s, i) => {
      if (!Number.isInteger(s) || s < 0 || s > state.step) {
        throw expectedRange(`an integer in [0, ${state.step}]`, `state.paramSteps[${i}]`, s);
      }
    });
    this.stepCount = state.step;
    this.slots.forEach((slot, i) => {
      slot.steps = paramSteps[i];
      slot.backend.write(slot.m, state.m[i]);
      slot.backend.write(slot.v, state.v[i]);
    });
  }
}
