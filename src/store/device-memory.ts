/**
 * The in-memory device flow store: one process. Entries expire lazily on read
 * and on a timer, which also wakes a waiter whose flow expired. `clear` bumps
 * an epoch: an entry of an older epoch reads `cleared` until it expires.
 */
import { randomUUID } from 'node:crypto';
import type { DeviceLookup, DeviceOutcome, DeviceRecord, DeviceStore } from './device-types.js';

interface Entry {
  record: DeviceRecord;
  outcome?: DeviceOutcome;
  epoch: number;
  until: number;
}

interface Lease {
  id: string;
  until: number;
}

const SWEEP_INTERVAL_MS = 1_000;

export class MemoryDeviceStore implements DeviceStore {
  readonly #entries = new Map<string, Entry>();
  readonly #waiterClaims = new Map<string, Lease>();
  readonly #pollers = new Map<string, Lease>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;
  #epoch = 0;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweep = setInterval(() => this.#expire(), SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  async create(record: DeviceRecord, ttlMs: number): Promise<void> {
    this.#entries.set(record.handle, {
      record: { ...record },
      epoch: this.#epoch,
      until: this.#now() + ttlMs,
    });
  }

  async get(handle: string): Promise<DeviceLookup> {
    return this.#lookup(handle);
  }

  async setInterval(handle: string, intervalMs: number): Promise<void> {
    const entry = this.#live(handle);
    if (entry) entry.record.intervalMs = intervalMs;
  }

  async complete(handle: string, outcome: DeviceOutcome): Promise<boolean> {
    const entry = this.#live(handle);
    if (!entry || entry.outcome) return false;
    entry.outcome = outcome;
    this.#wake(handle);
    return true;
  }

  async remove(handle: string): Promise<void> {
    this.#forget(handle);
    this.#wake(handle);
  }

  async claimWaiter(handle: string, leaseMs: number): Promise<string | undefined> {
    const id = randomUUID();
    return this.#take(this.#waiterClaims, handle, id, leaseMs) ? id : undefined;
  }

  async releaseWaiter(handle: string, claim: string): Promise<void> {
    if (this.#waiterClaims.get(handle)?.id === claim) this.#waiterClaims.delete(handle);
  }

  async holdPoller(handle: string, owner: string, leaseMs: number): Promise<boolean> {
    return this.#take(this.#pollers, handle, owner, leaseMs);
  }

  async releasePoller(handle: string, owner: string): Promise<void> {
    if (this.#pollers.get(handle)?.id === owner) this.#pollers.delete(handle);
  }

  waitForOutcome(handle: string, signal: AbortSignal): Promise<DeviceLookup> {
    return new Promise((resolve, reject) => {
      const settled = (lookup: DeviceLookup): boolean =>
        lookup.kind !== 'live' || lookup.outcome !== undefined;
      const first = this.#lookup(handle);
      if (settled(first)) return resolve(first);
      if (signal.aborted) return reject(signal.reason);
      const waiters = this.#waiters.get(handle) ?? new Set();
      this.#waiters.set(handle, waiters);
      const done = (): void => {
        waiters.delete(wake);
        if (waiters.size === 0) this.#waiters.delete(handle);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        const lookup = this.#lookup(handle);
        if (!settled(lookup)) return;
        done();
        resolve(lookup);
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async clear(): Promise<void> {
    this.#epoch += 1;
    this.#waiterClaims.clear();
    for (const handle of [...this.#waiters.keys()]) this.#wake(handle);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
  }

  #take(leases: Map<string, Lease>, handle: string, id: string, leaseMs: number): boolean {
    if (!this.#live(handle)) return false;
    const now = this.#now();
    const held = leases.get(handle);
    if (held && held.id !== id && held.until > now) return false;
    leases.set(handle, { id, until: now + leaseMs });
    return true;
  }

  #live(handle: string): Entry | undefined {
    const entry = this.#entries.get(handle);
    if (!entry) return undefined;
    if (entry.until <= this.#now()) {
      this.#forget(handle);
      return undefined;
    }
    return entry.epoch === this.#epoch ? entry : undefined;
  }

  #lookup(handle: string): DeviceLookup {
    const entry = this.#entries.get(handle);
    if (entry && entry.until > this.#now() && entry.epoch !== this.#epoch)
      return { kind: 'cleared' };
    const live = this.#live(handle);
    if (!live) return { kind: 'gone' };
    return live.outcome === undefined
      ? { kind: 'live', record: { ...live.record } }
      : { kind: 'live', record: { ...live.record }, outcome: live.outcome };
  }

  #forget(handle: string): void {
    this.#entries.delete(handle);
    this.#waiterClaims.delete(handle);
    this.#pollers.delete(handle);
  }

  #wake(handle: string): void {
    for (const wake of [...(this.#waiters.get(handle) ?? [])]) wake();
  }

  #expire(): void {
    const now = this.#now();
    for (const [handle, entry] of this.#entries) {
      if (entry.until <= now) {
        this.#forget(handle);
        this.#wake(handle);
      }
    }
  }
}
