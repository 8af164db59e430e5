// Micro-batching: items submitted concurrently are run together, up to
// maxBatch items of one key (the class) or once the oldest has waited
// maxWaitMs, one batch at a time. Admission is bounded: an item counts from
// the moment it is submitted (while its input is still being prepared, e.g.
// an image decoded) until its batch has run, and a submit beyond maxPending
// is refused at once with a QueueFullError, so memory stays bounded however
// many callers arrive.
import { expectedRange, isPositiveInteger } from '../errors';

export interface BatcherOptions {
  /** the most items run together (default 16) */
  maxBatch?: number;
  /** how long the oldest waiting item waits for others before its batch runs (default 10 ms) */
  maxWaitMs?: number;
  /** the most items admitted at once, preparing, waiting or running (default 256; at least maxBatch) */
  maxPending?: number;
  /** told after every batch: its size and how long it ran */
  onBatch?: (size: number, ms: number) => void;
}

/** A submit refused because maxPending items are already admitted. */
export class QueueFullError extends Error {
  constructor(readonly pending: number) {
    super(`the scoring queue is full (${pending} images pending); retry later`);
    this.name = 'QueueFullError';
  }
}

/** A submit abandoned by its caller (its signal aborted) before its batch ran. */
export class AbortedError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'AbortedError';
  }
}

interface Waiting<K, I, O> {
  key: K;
  item: I;
  since: number;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
}

export class MicroBatcher<K, I, O> {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly maxPending: number;
  private readonly waiting: Waiting<K, I, O>[] = [];
  private admitted = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private idle: (() => void)[] = [];

  /** `run` gets the items of one key in submission order and returns one output per item, in the same order. */
  constructor(private readonly run: (key: K, items: I[]) => Promise<O[]>, private readonly options: BatcherOptions = {}) {
    this.maxBatch = options.maxBatch ?? 16;
    this.maxWaitMs = options.maxWaitMs ?? 10;
    this.maxPending = options.maxPending ?? 256;
    if (!isPositiveInteger(this.maxBatch)) throw expectedRange('a positive integer', 'maxBatch', this.maxBatch);
    if (typeof this.maxWaitMs !== 'number' || !(this.maxWaitMs >= 0) || !Number.isFinite(this.maxWaitMs)) throw expectedRange('a number of milliseconds >= 0', 'maxWaitMs', this.maxWaitMs);
    if (!isPositiveInteger(this.maxPending) || this.maxPending < this.maxBatch) throw expectedRange(`an integer >= maxBatch (${this.maxBatch})`, 'maxPending', this.maxPending);
  }

  /** Items admitted and not yet answered (preparing, waiting or in the running batch). */
  get pending(): number {
    return this.admitted;
  }

  /** Items waiting for a batch. */
  get depth(): number {
    return this.waiting.length;
  }

  /** How many more items may be admitted now. */
  get room(): number {
    return this.maxPending - this.admitted;
  }

  /**
   * Admits one item: `prepare` makes it (outside the batch, concurrently with
   * others), then it waits for its batch. Throws QueueFullError at once when
   * maxPending items are admitted; rejects with AbortedError when `signal`
   * aborts before its batch starts.
   */
  async submit(key: K, prepare: () => Promise<I> | I, signal?: AbortSignal): Promise<O> {
    if (this.admitted >= this.maxPending) throw new QueueFullError(this.admitted);
    this.admitted++;
    try {
      const item = await prepare();
      if (signal?.aborted) throw new AbortedError(String(signal.reason ?? 'aborted'));
      return await new Promise<O>((resolve, reject) => {
        const w: Waiting<K, I, O> = { key, item, since: Date.now(), resolve, reject, signal };
        this.waiting.push(w);
        signal?.addEventListener('abort', () => this.abandon(w), { once: true });
        this.schedule();
      });
    } finally {
      this.admitted--;
      if (this.admitted === 0 && !this.running) this.wakeIdle();
    }
  }

  /** Resolves once nothing is admitted (every admitted item answered). */
  drain(): Promise<void> {
    if (this.admitted === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private wakeIdle(): void {
    const idle = this.idle;
    this.idle = [];
    for (const f of idle) f();
  }

  private abandon(w: Waiting<K, I, O>): void {
    const i = this.waiting.indexOf(w);
    if (i < 0) return; // already in a batch: its answer is ignored by the caller
    this.waiting.splice(i, 1);
    w.reject(new AbortedError(String(w.signal?.reason ?? 'aborted')));
  }

  private schedule(): void {
    if (this.running || this.waiting.length === 0) return;
    const head = this.waiting[0];
    let same = 0;
    for (const w of this.waiting) if (w.key === head.key && ++same >= this.maxBatch) break;
    const wait = head.since + this.maxWaitMs - Date.now();
    if (same >= this.maxBatch || wait <= 0) {
      this.flush();
      return;
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
    }
  }

  private flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const key = this.waiting[0].key;
    const batch: Waiting<K, I, O>[] = [];
    for (let i = 0; i < this.waiting.length && batch.length < this.maxBatch; ) {
      if (this.waiting[i].key === key) batch.push(...this.waiting.splice(i, 1));
      else ++i;
    }
    this.running = true;
    const start = performance.now();
    void this.runBatch(key, batch).finally(() => {
      this.running = false;
      this.options.onBatch?.(batch.length, performance.now() - start);
      if (this.admitted === 0) this.wakeIdle();
      this.schedule();
    });
  }

  private async runBatch(key: K, batch: Waiting<K, I, O>[]): Promise<void> {
    try {
      const out = await this.run(key, batch.map((w) => w.item));
      if (!Array.isArray(out) || out.length !== batch.length) throw new Error(`a batch of ${batch.length} items returned ${Array.isArray(out) ? out.length : 'no'} outputs`);
      batch.forEach((w, i) => w.resolve(out[i]));
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  }
}
