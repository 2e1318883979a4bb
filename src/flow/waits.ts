/**
 * The live waits of one flow service: every waiting POST /pkce/code ends on
 * its own outcome, its timeout, its client going away, or the service
 * stopping — and leaves nothing behind once it has ended.
 *
 * Hand-written rather than `AbortSignal.any([AbortSignal.timeout(…),
 * cancelled, stopping])`: on Node 20 such a composite signal with a listener
 * stays reachable from its sources until one of them aborts (nodejs/node#55351),
 * so every finished wait kept ~1.2 KB until its timeout fired and ~60 B for as
 * long as the service lived. Here the timer is cleared, the listener removed
 * and the wait forgotten in `finally`.
 */

export type WaitEnd = 'timeout' | 'cancelled' | 'stopping';

/** The abort reason a wait's signal carries: why it ended before its outcome. */
export class WaitEnded extends Error {
  readonly why: WaitEnd;

  constructor(why: WaitEnd) {
    super(`wait ended: ${why}`);
    this.name = 'WaitEnded';
    this.why = why;
  }
}

export class LiveWaits {
  readonly #ends = new Set<(why: WaitEnd) => void>();
  #stopped = false;

  /** Waits not yet ended. */
  get size(): number {
    return this.#ends.size;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Ends every live wait (WaitEnded 'stopping'), and every later one at once. */
  stop(): void {
    this.#stopped = true;
    for (const end of [...this.#ends]) end('stopping');
  }

  /**
   * Runs `wait` with a signal that aborts with a WaitEnded after `timeoutMs`,
   * when `cancelled` aborts, or on stop(); `wait` must reject with the
   * signal's reason then.
   */
  async run<T>(
    timeoutMs: number,
    cancelled: AbortSignal,
    wait: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.#stopped) throw new WaitEnded('stopping');
    const ended = new AbortController();
    const end = (why: WaitEnd): void => {
      if (!ended.signal.aborted) ended.abort(new WaitEnded(why));
    };
    const onCancel = (): void => end('cancelled');
    const timer = setTimeout(end, timeoutMs, 'timeout');
    timer.unref();
    this.#ends.add(end);
    cancelled.addEventListener('abort', onCancel, { once: true });
    try {
      if (cancelled.aborted) end('cancelled');
      return await wait(ended.signal);
    } finally {
      clearTimeout(timer);
      cancelled.removeEventListener('abort', onCancel);
      this.#ends.delete(end);
    }
  }
}

/** A clock for timers a test may drive itself (test/support/manual-clock.ts). */
export interface PollScheduler {
  now(): number;
  /** `callback` returns its work's promise (it never rejects): a test's clock may wait for it. */
  setTimeout(callback: () => unknown, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realScheduler: PollScheduler = {
  now: Date.now,
  // Unref'd: a pending timer never holds the process open by itself.
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
