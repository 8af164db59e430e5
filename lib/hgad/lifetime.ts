// What the asynchronous model promises about concurrent calls and about its
// threads' lifetime.
//
// Call order: on one model, fit() (and fitSource) is exclusive and score()
// and save() are shared: every call sees the weights left by the fits called
// before it and none called after it. A score() issued while a fit runs waits
// for it and scores with the new weights (the old ones when the fit fails);
// a second fit() waits for the first and continues from its weights; a fit()
// waits for the scores called before it. Nothing is rejected for overlapping.
//
// Lifetime: a model's scoring worker thread ends on close(), and also when
// the model object is garbage-collected without close() (a
// FinalizationRegistry), so dropped models do not keep threads and weights.

const settle = (): void => undefined;

/** A readers-writer queue in call order: writers wait for everything before them, readers for the writers before them. */
export class CallOrder {
  private lastWrite: Promise<void> = Promise.resolve();
  private readers = new Set<Promise<void>>();

  /** Runs fn after every write called before it (reads may overlap each other). */
  read<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.lastWrite.then(fn);
    const done = result.then(settle, settle);
    this.readers.add(done);
    void done.then(() => this.readers.delete(done));
    return result;
  }

  /** Runs fn after every read and write called before it; later calls wait for it. */
  write<T>(fn: () => Promise<T>): Promise<T> {
    const before = Promise.all([this.lastWrite, ...this.readers]);
    this.readers.clear();
    const result = before.then(fn);
    this.lastWrite = result.then(settle, settle);
    return result;
  }
}

/** Something that ends a thread; must not refer to the model it belongs to, or the model could never be collected. */
export interface Terminable {
  terminate(): void;
}

const registry = new FinalizationRegistry<Terminable>((worker) => worker.terminate());

/** Ends `worker` when `owner` is garbage-collected; `token` unregisters it (close() or a replaced worker). */
export function endWithOwner(owner: object, worker: Terminable, token: object): void {
  registry.register(owner, worker, token);
}

export function forgetOwner(token: object): void {
  registry.unregister(token);
}

/**
 * An array to post to a worker: a view smaller than its buffer is copied
 * (only its own bytes) into a fresh buffer, which is then transferred rather
 * than cloned; an array that spans its buffer is posted as is (the caller
 * keeps it). Posting a subarray as is would clone its whole underlying
 * buffer: one vector of a 320 MB array cost 320 MB and 0.7 s per call.
 */
export function forPosting<T extends ArrayBufferView>(a: T, transfer: ArrayBuffer[]): T {
  if (!ArrayBuffer.isView(a) || !(a.buffer instanceof ArrayBuffer)) return a;
  if (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a;
  const own = (a as unknown as { slice(): T }).slice();
  transfer.push(own.buffer as ArrayBuffer);
  return own;
}

/**
 * An array for fit()'s worker: one backed by a SharedArrayBuffer is shared
 * as it is; another is copied once (only its own bytes) into shared memory,
 * which the worker then reads in place. Cloning or transferring instead would
 * hold the data twice across the threads, or take the caller's array away.
 */
export function inSharedMemory<T extends ArrayBufferView>(a: T): T {
  if (!(a instanceof Float32Array || a instanceof Int32Array)) return a;
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
  const shared = new Ctor(new SharedArrayBuffer(a.byteLength) as unknown as ArrayBuffer);
  shared.set(a);
  return shared as unknown as T;
}
