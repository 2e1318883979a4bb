/**
 * A PollScheduler (src/flow/device.ts) whose time passes only when the test
 * says: `next()` resolves with the next pending timer once one is set (an
 * event, never a sleep), and `fire()` moves the clock to it and runs it.
 */
import type { PollScheduler } from '../../src/flow/device.js';

interface Timer {
  id: number;
  at: number;
  delay: number;
  callback: () => unknown;
}

export class ManualClock implements PollScheduler {
  #now: number;
  #ids = 0;
  readonly #timers = new Map<number, Timer>();
  readonly #waiting: Array<() => void> = [];
  /** The delay of every timer ever set, in order: the poll spacing asked for. */
  readonly delays: number[] = [];

  constructor(start = Date.now()) {
    this.#now = start;
  }

  get pending(): number {
    return this.#timers.size;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => unknown, ms: number): unknown {
    const timer = { id: ++this.#ids, at: this.#now + ms, delay: ms, callback };
    this.#timers.set(timer.id, timer);
    this.delays.push(ms);
    for (const wake of this.#waiting.splice(0)) wake();
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Resolves once a timer is pending. */
  async next(): Promise<void> {
    while (this.#timers.size === 0)
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Waits for the earliest pending timer, moves the clock to it and runs it; its delay. */
  async fire(): Promise<number> {
    return (await this.#fire()).delay;
  }

  /** fire(), then waits for what the timer started (a whole poll) to finish. */
  async run(): Promise<number> {
    const { delay, result } = await this.#fire();
    await result;
    return delay;
  }

  async #fire(): Promise<{ delay: number; result: unknown }> {
    await this.next();
    const timer = [...this.#timers.values()].sort((a, b) => a.at - b.at)[0]!;
    this.#timers.delete(timer.id);
    this.#now = Math.max(this.#now, timer.at);
    return { delay: timer.delay, result: timer.callback() };
  }
}
