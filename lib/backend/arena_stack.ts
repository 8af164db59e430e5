// The arenas of a backend (Backend.arena / Backend.persistent): a stack of
// open scopes, each collecting what is allocated while it is the innermost
// one, and persistent() sections whose allocations belong to no arena. The
// backend says what freeing an arena's items means (back to the CPU pool,
// device buffers disposed).
import type { Arena } from './types';

export class ArenaStack<E> {
  private open: Set<E>[] = [];
  private persistentDepth = 0;

  constructor(private readonly free: (items: Set<E>) => void) {}

  /** Whether an allocation made now belongs to an arena. */
  get collecting(): boolean {
    return this.open.length > 0 && this.persistentDepth === 0;
  }

  /** Adds an allocation to the innermost arena, if one is collecting. */
  add(item: E): E {
    if (this.collecting) this.open[this.open.length - 1].add(item);
    return item;
  }

  /** Takes an item out of every open arena (it was freed on its own). */
  forget(item: E): void {
    for (const items of this.open) items.delete(item);
  }

  /** Runs fn in a new arena; when fn throws, what it allocated is freed at once. */
  run<T>(fn: () => T): { result: T; arena: Arena } {
    const items = new Set<E>();
    this.open.push(items);
    const dispose = () => {
      this.free(items);
      items.clear();
    };
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.close(items);
      dispose();
      throw err;
    }
    this.close(items);
    return { result, arena: { dispose } };
  }

  /** Runs fn with allocations that outlive every open arena. */
  persistent<T>(fn: () => T): T {
    this.persistentDepth += 1;
    try {
      return fn();
    } finally {
      this.persistentDepth -= 1;
    }
  }

  private close(items: Set<E>): void {
    this.open.splice(this.open.lastIndexOf(items), 1);
  }
}
