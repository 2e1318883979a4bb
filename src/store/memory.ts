/**
 * The in-memory flow store: one process, no persistence.
 *
 * Flows live in two Maps, each in insertion order = expiry order, since every
 * entry of one Map has the same lifetime: `#fresh` holds challenges nobody
 * started (created + challengeTtlMs), `#started` flows whose /pkce/code
 * started them (started + ttlMs). Starting moves a flow from one to the
 * other, so eviction pops from the heads and every operation is O(1)
 * amortised. Expiry is lazy on read, swept on a timer (so a waiter learns of
 * its flow's expiry without polling), and swept on create only at the cap:
 * a sweep per create would walk the Map's deleted head entries each time,
 * which V8 keeps until it rehashes — O(n) per challenge under steady expiry.
 * Refresh-token bindings are a third Map of the same kind (the service uses
 * one TTL; a binding behind a longer-lived one is still expired on read).
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { BrokerError } from '../errors.js';
import { constantTimeEqual } from '../protocol/pkce.js';
import { pack, packedExpiry, unpack } from './packed-flow.js';
import type {
  ClaimResult,
  FlowOutcome,
  FlowRecord,
  FlowRequest,
  FlowStore,
  FlowStoreOptions,
  StoreHealth,
  Subject,
  WaitResult,
} from './types.js';

type Waiter = (result: WaitResult) => void;

function expiryOf(stored: FlowRecord | string): number {
  return typeof stored === 'string' ? packedExpiry(stored) : stored.expiresAt;
}

const SWEEP_INTERVAL_MS = 1_000;

export class MemoryFlowStore implements FlowStore {
  /** state → flow nobody started; a fresh challenge stays packed (packed-flow.ts) until first read. */
  readonly #fresh = new Map<string, FlowRecord | string>();
  /** state → started flow. */
  readonly #started = new Map<string, FlowRecord>();
  /** code → state, for codes delivered by a callback and not yet redeemed. */
  readonly #codes = new Map<string, string>();
  /** state → the waiter holding it. */
  readonly #claims = new Map<string, { id: string; until: number }>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** keyed hash of a refresh token → its subject. */
  readonly #subjects = new Map<string, Subject & { expiresAt: number }>();
  /** Per process: the hashes name tokens only for as long as this store lives. */
  readonly #subjectKey = randomBytes(32);
  readonly #ttlMs: number;
  readonly #challengeTtlMs: number;
  readonly #maxFlows: number;
  readonly #now: () => number;
  readonly #sweepTimer: NodeJS.Timeout;

  constructor(options: FlowStoreOptions) {
    this.#ttlMs = options.ttlMs;
    this.#challengeTtlMs = options.challengeTtlMs ?? options.ttlMs;
    this.#maxFlows = options.maxFlows;
    this.#now = options.now ?? Date.now;
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  get #size(): number {
    return this.#fresh.size + this.#started.size;
  }

  async create(flow: FlowRecord): Promise<void> {
    if (this.#size >= this.#maxFlows) this.#sweep();
    if (this.#fresh.has(flow.state) || this.#started.has(flow.state)) {
      throw new BrokerError('invalid_request', 'A flow with this state is already in progress.', {
        oauthError: 'invalid_request',
      });
    }
    if (this.#size >= this.#maxFlows) {
      const heads = [this.#fresh.values().next().value, this.#started.values().next().value];
      const soonest = Math.min(
        ...heads.map((head) => (head === undefined ? Infinity : expiryOf(head))),
      );
      const retryAfter = Number.isFinite(soonest)
        ? Math.max(1, Math.ceil((soonest - this.#now()) / 1000))
        : 1;
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
    const expiresAt = now + this.#challengeTtlMs;
    this.#fresh.set(flow.state, pack(flow, expiresAt) ?? { ...flow, createdAt: now, expiresAt });
  }

  async get(state: string): Promise<FlowRecord | undefined> {
    return this.#live(state);
  }

  async start(state: string, request: FlowRequest): Promise<FlowRecord | undefined> {
    const flow = this.#live(state);
    if (!flow || flow.outcome || !this.#fresh.has(state)) return undefined;
    this.#fresh.delete(state);
    flow.request = request;
    flow.expiresAt = this.#now() + this.#ttlMs;
    this.#started.set(state, flow);
    return flow;
  }

  async claim(state: string, leaseMs: number): Promise<ClaimResult> {
    const flow = this.#live(state);
    if (!flow) return { kind: 'gone' };
    const now = this.#now();
    const held = this.#claims.get(state);
    if (held !== undefined && held.until > now) return { kind: 'busy' };
    const claim = randomUUID();
    this.#claims.set(state, { id: claim, until: now + leaseMs });
    return { kind: 'claimed', claim, flow };
  }

  async release(state: string, claim: string): Promise<void> {
    if (this.#claims.get(state)?.id === claim) this.#claims.delete(state);
  }

  async complete(state: string, outcome: FlowOutcome): Promise<FlowRecord | undefined> {
    const flow = this.#live(state);
    if (!flow || flow.outcome) return undefined;
    flow.outcome = outcome;
    if (outcome.kind === 'code') this.#codes.set(outcome.code, state);
    this.#wake(state, { kind: 'outcome', flow: flow as FlowRecord & { outcome: FlowOutcome } });
    return flow;
  }

  async findByCode(code: string): Promise<FlowRecord | undefined> {
    return this.#byCode(code);
  }

  async redeemCode(code: string): Promise<FlowRecord | undefined> {
    // Synchronous from the look to the take: no other call runs in between.
    const flow = this.#byCode(code);
    if (flow) this.#forget(flow.state, flow);
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
    const flow = this.#fresh.get(state) ?? this.#started.get(state);
    if (flow !== undefined) this.#forget(state, flow);
    this.#wake(state, { kind: 'gone' });
  }

  async clear(): Promise<void> {
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    this.#fresh.clear();
    this.#started.clear();
    this.#codes.clear();
    this.#claims.clear();
    for (const set of waiters) for (const waiter of set) waiter({ kind: 'cleared' });
  }

  async bindSubject(refreshToken: string, subject: Subject, ttlMs: number): Promise<void> {
    const now = this.#now();
    this.#sweepSubjects(now);
    const key = this.#subjectName(refreshToken);
    // Deleted first so that the entry moves to the tail: insertion order stays expiry order.
    this.#subjects.delete(key);
    // Bounded like the flows: the oldest binding goes first (its refresh is then accepted unbound).
    if (this.#subjects.size >= this.#maxFlows) {
      const oldest = this.#subjects.keys().next().value;
      if (oldest !== undefined) this.#subjects.delete(oldest);
    }
    this.#subjects.set(key, { iss: subject.iss, sub: subject.sub, expiresAt: now + ttlMs });
  }

  async subjectOf(refreshToken: string): Promise<Subject | undefined> {
    const now = this.#now();
    this.#sweepSubjects(now);
    const bound = this.#subjects.get(this.#subjectName(refreshToken));
    return bound === undefined || bound.expiresAt <= now
      ? undefined
      : { iss: bound.iss, sub: bound.sub };
  }

  async size(): Promise<number> {
    this.#sweep();
    return this.#size;
  }

  async health(): Promise<StoreHealth> {
    return { ok: true };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    await this.clear();
    this.#subjects.clear();
  }

  /** The live flow as an object (unpacked in place on first read), or undefined once expired. */
  #live(state: string): FlowRecord | undefined {
    const stored = this.#started.get(state) ?? this.#fresh.get(state);
    if (stored === undefined) return undefined;
    if (expiryOf(stored) <= this.#now()) {
      this.#forget(state, stored);
      this.#wake(state, { kind: 'gone' });
      return undefined;
    }
    if (typeof stored !== 'string') return stored;
    // Setting an existing key keeps its place in the Map, so expiry order holds.
    const flow = unpack(state, stored, this.#challengeTtlMs);
    this.#fresh.set(state, flow);
    return flow;
  }

  #sweep(): void {
    const now = this.#now();
    for (const flows of [this.#fresh, this.#started]) {
      for (const [state, stored] of flows) {
        if (expiryOf(stored) > now) break;
        this.#forget(state, stored);
        this.#wake(state, { kind: 'gone' });
      }
    }
    this.#sweepSubjects(now);
  }

  #sweepSubjects(now: number): void {
    for (const [key, bound] of this.#subjects) {
      if (bound.expiresAt > now) break;
      this.#subjects.delete(key);
    }
  }

  #forget(state: string, stored: FlowRecord | string): void {
    this.#fresh.delete(state);
    this.#started.delete(state);
    this.#claims.delete(state);
    if (typeof stored !== 'string' && stored.outcome?.kind === 'code') {
      this.#codes.delete(stored.outcome.code);
    }
  }

  #byCode(code: string): FlowRecord | undefined {
    const state = this.#codes.get(code);
    if (state === undefined) return undefined;
    const flow = this.#live(state);
    if (!flow || flow.outcome?.kind !== 'code' || !constantTimeEqual(flow.outcome.code, code)) {
      return undefined;
    }
    return flow;
  }

  #subjectName(refreshToken: string): string {
    return createHmac('sha256', this.#subjectKey).update(refreshToken).digest('base64url');
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
