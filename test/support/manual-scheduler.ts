/**
 * A scheduler whose time passes only when the test says so, for the stores'
 * own timers (src/store/redis.ts `Scheduler`). node:test's `mock.timers`
 * replaces the global timers, which node-redis uses too (command timeouts,
 * reconnect delays); this one reaches only the code it is handed to.
 */
import type { Scheduler } from '../../src/store/redis.js';

export class ManualScheduler implements Scheduler {
  #now = 0;
  #ids = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  setTimeout(callback: () => void, ms: number): number {
    const id = ++this.#ids;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time on by `ms`, running every timer due on the way, earliest first, each at its time. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let due = this.#earliest(end); due; due = this.#earliest(end)) {
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].callback();
    }
    this.#now = end;
  }

  #earliest(end: number): [number, { at: number; callback: () => void }] | undefined {
    let due: [number, { at: number; callback: () => void }] | undefined;
    for (const entry of this.#timers)
      if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
    return due;
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.#timers.size;
  }
}
