/**
 * The in-memory flow store: one process, no persistence.
 *
 * Every flow lives exactly `ttlMs`, so a Map in insertion order is also in
 * expiry order: eviction pops from the head and every operation is O(1)
 * amortised. Expiry is lazy on read, swept on a timer (so a waiter learns of
 * its flow's expiry without polling), and swept on create only at the cap:
 * a sweep per create would walk the Map's deleted head entries each time,
 * which V8 keeps until it rehashes — O(n) per challenge under steady expiry.
 */
import { BrokerError } from '../errors.js';
import { constantTimeEqual } from '../protocol/pkce.js';
import { pack, packedExpiry, unpack } from './packed-flow.js';
import type {
  FlowOutcome,
  FlowRecord,
  FlowRequest,
  FlowStore,
  FlowStoreOptions,
  StoreHealth,
  WaitResult,
} from './types.js';

type Waiter = (result: WaitResult) => void;

function expiryOf(stored: FlowRecord | string): number {
  return typeof stored === 'string' ? packedExpiry(stored) : stored.expiresAt;
}

const SWEEP_INTERVAL_MS = 1_000;

export class MemoryFlowStore implements FlowStore {
  /** state → flow; a fresh challenge stays packed (packed-flow.ts) until first read. */
  readonly #flows = new Map<string, FlowRecord | string>();
  /** code → state, for codes delivered by a callback and not yet redeemed. */
  readonly #codes = new Map<string, string>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #ttlMs: number;
  readonly #maxFlows: number;
  readonly #now: () => number;
  readonly #sweepTimer: NodeJS.Timeout;

  constructor(options: FlowStoreOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxFlows = options.maxFlows;
    this.#now = options.now ?? Date.now;
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  async create(flow: FlowRecord): Promise<void> {
    if (this.#flows.size >= this.#maxFlows) this.#sweep();
    if (this.#flows.has(flow.state)) {
      throw new BrokerError('invalid_request', 'A flow with this state is already in progress.', {
        oauthError: 'invalid_request',
      });
    }
    if (this.#flows.size >= this.#maxFlows) {
      const oldest = this.#flows.values().next().value;
      const retryAfter =
        oldest === undefined ? 1 : Math.max(1, Math.ceil((expiryOf(oldest) - this.#now()) / 1000));
      throw new BrokerError(
        'too_many_flows',
        'Too many sign-ins are in progress; try again later.',
        {
          retryAfter,
        },
      );
    }
    // Expiry order must match insertion order, so the store owns the clock and the deadline.
    const now = this.#now();
    const expiresAt = now + this.#ttlMs;
    this.#flows.set(flow.state, pack(flow, expiresAt) ?? { ...flow, createdAt: now, expiresAt });
  }

  async get(state: string): Promise<FlowRecord | undefined> {
    return this.#live(state);
  }

  async attachRequest(state: string, request: FlowRequest): Promise<FlowRecord | undefined> {
    const flow = this.#live(state);
    if (!flow || flow.outcome) return undefined;
    flow.request = request;
    return flow;
  }

  async complete(state: string, outcome: FlowOutcome): Promise<FlowRecord | undefined> {
    const flow = this.#live(state);
    if (!flow || flow.outcome) return undefined;
    flow.outcome = outcome;
    if (outcome.kind === 'code') this.#codes.set(outcome.code, state);
    this.#wake(state, { kind: 'outcome', flow: flow as FlowRecord & { outcome: FlowOutcome } });
    return flow;
  }

  async redeemCode(code: string): Promise<FlowRecord | undefined> {
    const state = this.#codes.get(code);
    if (state === undefined) return undefined;
    this.#codes.delete(code);
    const flow = this.#live(state);
    if (!flow || flow.outcome?.kind !== 'code' || !constantTimeEqual(flow.outcome.code, code)) {
      return undefined;
    }
    this.#flows.delete(state);
    return flow;
  }

  async waitForOutcome(state: string, signal: AbortSignal): Promise<WaitResult> {
    signal.throwIfAborted();
    const flow = this.#live(state);
    if (!flow) return { kind: 'gone' };
    if (flow.outcome)
      return { kind: 'outcome', flow: flow as FlowRecord & { outcome: FlowOutcome } };
    return new Promise<WaitResult>((resolve, reject) => {
      let waiters = this.#waiters.get(state);
      if (!waiters) this.#waiters.set(state, (waiters = new Set()));
      const onAbort = (): void => {
        this.#removeWaiter(state, waiter);
        reject(signal.reason);
      };
      const waiter: Waiter = (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async delete(state: string): Promise<void> {
    const flow = this.#flows.get(state);
    if (flow !== undefined) this.#forget(state, flow);
    this.#wake(state, { kind: 'gone' });
  }

  async clear(): Promise<void> {
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    this.#flows.clear();
    this.#codes.clear();
    for (const set of waiters) for (const waiter of set) waiter({ kind: 'cleared' });
  }

  async size(): Promise<number> {
    this.#sweep();
    return this.#flows.size;
  }

  async health(): Promise<StoreHealth> {
    return { ok: true };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    await this.clear();
  }

  /** The live flow as an object (unpacked in place on first read), or undefined once expired. */
  #live(state: string): FlowRecord | undefined {
    const stored = this.#flows.get(state);
    if (stored === undefined) return undefined;
    if (expiryOf(stored) <= this.#now()) {
      this.#forget(state, stored);
      this.#wake(state, { kind: 'gone' });
      return undefined;
    }
    if (typeof stored !== 'string') return stored;
    // Setting an existing key keeps its place in the Map, so expiry order holds.
    const flow = unpack(state, stored, this.#ttlMs);
    this.#flows.set(state, flow);
    return flow;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [state, stored] of this.#flows) {
      if (expiryOf(stored) > now) break;
      this.#forget(state, stored);
      this.#wake(state, { kind: 'gone' });
    }
  }

  #forget(state: string, stored: FlowRecord | string): void {
    this.#flows.delete(state);
    if (typeof stored !== 'string' && stored.outcome?.kind === 'code') {
      this.#codes.delete(stored.outcome.code);
    }
  }

  #wake(state: string, result: WaitResult): void {
    const waiters = this.#waiters.get(state);
    if (!waiters) return;
    this.#waiters.delete(state);
    for (const waiter of waiters) waiter(result);
  }

  #removeWaiter(state: string, waiter: Waiter): void {
    const waiters = this.#waiters.get(state);
    if (!waiters) return;
    waiters.delete(waiter);
    if (waiters.size === 0) this.#waiters.delete(state);
  }
}
