/**
 * The Redis flow store: several brokers share flows, and flows outlive a
 * restart of any of them. Atomicity comes from Lua scripts (redis-scripts.ts),
 * secrecy at rest from sealing.ts, connections and faults from
 * redis-connection.ts. This file maps FlowStore onto those and runs the
 * waiters.
 *
 * Waking a waiter on another broker: each waiter subscribes (on the store's one
 * subscriber connection) to its flow's channel and to the clear channel FIRST,
 * then re-reads the flow, so a completion that lands between the first read
 * and the subscription is still seen. A message only says "look again"; the
 * outcome itself is read from the store. A per-waiter timer at the flow's
 * expiry re-reads it too, since Redis does not announce expiries by default.
 * A flow found missing on a re-read was cleared if the clear epoch (bumped by
 * every clear, read together with the pending flow at the start) has moved
 * since, and gone otherwise (deleted or expired; flows lost with a Redis restart
 * read as either).
 *
 * Messages published while the subscriber is disconnected are lost; when both
 * connections are back, every waiter re-reads its flow (outcome → answered,
 * flow gone → gone, or cleared if a clear happened meanwhile), and the
 * subscriptions are trimmed to those of the waiters still waiting (node-redis
 * resubscribes what an unsubscribe during the outage could not undo). Waiters
 * stay waiting through an outage, bounded by the service's wait timeout.
 *
 * The one-waiter claim is a key of its own with the lease as its expiry, so a
 * crashed broker's claim ends by itself; refresh-token subjects are sealed
 * values under the sealer's index of the token.
 */
import { randomUUID } from 'node:crypto';
import { BrokerError } from '../errors.js';
import { constantTimeEqual } from '../protocol/pkce.js';
import type { Logger } from '../logging.js';
import { RedisConnection, type Reply } from './redis-connection.js';
import * as scripts from './redis-scripts.js';
import { createSealer, type Sealer } from './sealing.js';
import type {
  ClaimResult,
  FlowOutcome,
  FlowRecord,
  FlowRequest,
  FlowStore,
  StoreHealth,
  Subject,
  WaitResult,
} from './types.js';

export interface RedisFlowStoreOptions {
  url: string;
  /** 64 hex characters; keys the index HMAC and the AES-256-GCM sealing. */
  key: string;
  prefix: string;
  ttlMs: number;
  /** Life of a flow nobody started; default `ttlMs`. */
  challengeTtlMs?: number;
  maxFlows: number;
  logger: Logger;
  commandTimeoutMs?: number;
  /** The waiters' expiry timers; real ones unless a test makes time pass itself. */
  scheduler?: Scheduler;
}

/** Redis keeps time in the server; the one clock of the store's own is its waiters' expiry timers. */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Scheduler = {
  // Unref'd: a waiter's expiry timer never holds the process open by itself.
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What the sealed `r` field holds: the record minus what lives elsewhere. */
interface SealedBase {
  state: string;
  nonce: string;
  challenge: string;
  verifier?: string;
  origin: FlowRecord['origin'];
}

interface Inspection {
  flow: FlowRecord | undefined;
  pttl: number;
  epoch: string;
}

/** Margin past the flow's expiry before a waiter re-reads it, so Redis has expired the key by then. */
const EXPIRY_MARGIN_MS = 15;

export async function connectRedisFlowStore(
  options: RedisFlowStoreOptions,
): Promise<RedisFlowStore> {
  const sealer = createSealer(options.key);
  const connection = await RedisConnection.open({
    url: options.url,
    logger: options.logger,
    ...(options.commandTimeoutMs !== undefined && { commandTimeoutMs: options.commandTimeoutMs }),
  });
  const store = new RedisFlowStore(connection, sealer, options);
  try {
    await store.listen();
  } catch (error) {
    await connection.close();
    throw error;
  }
  return store;
}

export class RedisFlowStore implements FlowStore {
  readonly #redis: RedisConnection;
  readonly #sealer: Sealer;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #challengeTtlMs: number;
  readonly #maxFlows: number;
  readonly #logger: Logger;
  readonly #waiters = new Set<Waiter>();
  readonly #scheduler: Scheduler;
  #closed = false;

  constructor(connection: RedisConnection, sealer: Sealer, options: RedisFlowStoreOptions) {
    this.#redis = connection;
    this.#sealer = sealer;
    this.#prefix = options.prefix;
    this.#ttlMs = options.ttlMs;
    this.#challengeTtlMs = options.challengeTtlMs ?? options.ttlMs;
    this.#maxFlows = options.maxFlows;
    this.#logger = options.logger;
    this.#scheduler = options.scheduler ?? realTimers;
  }

  /** Keeps the clear channel subscribed for the store's lifetime (no churn per waiter), and looks again after outages. */
  async listen(): Promise<void> {
    await this.#redis.subscriber.subscribe(this.#clearChannel, ignore);
    this.#redis.onRestored(() => this.#afterOutage());
  }

  async create(flow: FlowRecord): Promise<void> {
    const id = this.#id(flow.state);
    const key = this.#flowKey(id);
    const base: SealedBase = {
      state: flow.state,
      nonce: flow.nonce,
      challenge: flow.challenge,
      origin: flow.origin,
      ...(flow.verifier !== undefined && { verifier: flow.verifier }),
    };
    const reply = await this.#redis.eval(
      scripts.CREATE,
      [key, this.#liveKey],
      [
        id,
        String(this.#challengeTtlMs),
        String(this.#maxFlows),
        this.#sealer.seal(JSON.stringify(base), `${key}#r`),
      ],
    );
    const [status, value] = asList(reply);
    if (status === 'ok') return;
    if (status === 'dup') {
      throw new BrokerError('invalid_request', 'A flow with this state is already in progress.', {
        oauthError: 'invalid_request',
      });
    }
    if (status === 'full') {
      throw new BrokerError(
        'too_many_flows',
        'Too many sign-ins are in progress; try again later.',
        {
          retryAfter: Math.max(1, Math.ceil(Number(value) / 1000)),
        },
      );
    }
    throw this.#redis.unavailable(new Error('unexpected reply from the create script'));
  }

  async get(state: string): Promise<FlowRecord | undefined> {
    return (await this.#inspect(state)).flow;
  }

  async start(state: string, request: FlowRequest): Promise<FlowRecord | undefined> {
    const id = this.#id(state);
    const key = this.#flowKey(id);
    const reply = await this.#redis.eval(
      scripts.START,
      [key, this.#liveKey],
      [this.#sealer.seal(JSON.stringify(request), `${key}#q`), String(this.#ttlMs), id],
    );
    return this.#record(key, reply);
  }

  async claim(state: string, leaseMs: number): Promise<ClaimResult> {
    const id = this.#id(state);
    const key = this.#flowKey(id);
    const claim = randomUUID();
    const [status, ...fields] = asList(
      await this.#redis.eval(
        scripts.CLAIM,
        [key, this.#claimKey(id)],
        [claim, String(Math.max(1, Math.ceil(leaseMs)))],
      ),
    );
    if (status === 'busy') return { kind: 'busy' };
    const flow = status === 'ok' ? this.#fromFields(key, fields) : undefined;
    return flow ? { kind: 'claimed', claim, flow } : { kind: 'gone' };
  }

  async release(state: string, claim: string): Promise<void> {
    await this.#redis.eval(scripts.RELEASE, [this.#claimKey(this.#id(state))], [claim]);
  }

  async complete(state: string, outcome: FlowOutcome): Promise<FlowRecord | undefined> {
    const id = this.#id(state);
    const key = this.#flowKey(id);
    const codeId = outcome.kind === 'code' ? this.#sealer.index('code', outcome.code) : '';
    const keys = codeId === '' ? [key] : [key, this.#codeKey(codeId)];
    const reply = await this.#redis.eval(scripts.COMPLETE, keys, [
      this.#sealer.seal(JSON.stringify(outcome), `${key}#o`),
      codeId,
      id,
      this.#channel(id),
    ]);
    return this.#record(key, reply);
  }

  async findByCode(code: string): Promise<FlowRecord | undefined> {
    const codeId = this.#sealer.index('code', code);
    const reply = await this.#redis.eval(
      scripts.FIND,
      [this.#codeKey(codeId)],
      [this.#flowKey(''), codeId],
    );
    return this.#codeFlow(reply, code);
  }

  async redeemCode(code: string): Promise<FlowRecord | undefined> {
    const codeId = this.#sealer.index('code', code);
    const reply = await this.#redis.eval(
      scripts.REDEEM,
      [this.#codeKey(codeId), this.#liveKey],
      [this.#flowKey(''), codeId, this.#claimKey('')],
    );
    return this.#codeFlow(reply, code);
  }

  async bindSubject(refreshToken: string, subject: Subject, ttlMs: number): Promise<void> {
    const key = this.#subjectKey(refreshToken);
    const sealed = this.#sealer.seal(JSON.stringify({ iss: subject.iss, sub: subject.sub }), key);
    await this.#redis.command(['SET', key, sealed, 'PX', String(Math.max(1, Math.ceil(ttlMs)))]);
  }

  async subjectOf(refreshToken: string): Promise<Subject | undefined> {
    const key = this.#subjectKey(refreshToken);
    const sealed = await this.#redis.command(['GET', key]);
    return typeof sealed === 'string'
      ? (JSON.parse(this.#sealer.open(sealed, key)) as Subject)
      : undefined;
  }

  async waitForOutcome(state: string, signal: AbortSignal): Promise<WaitResult> {
    signal.throwIfAborted();
    const id = this.#id(state);
    const first = await this.#inspect(state);
    signal.throwIfAborted();
    if (!first.flow) return { kind: 'gone' };
    if (first.flow.outcome)
      return { kind: 'outcome', flow: first.flow as FlowRecord & { outcome: FlowOutcome } };
    if (this.#closed || !this.#redis.subscriberReady)
      throw this.#redis.unavailable(new Error('subscriber not ready'));

    return new Promise<WaitResult>((resolve, reject) => {
      // The epoch read with the pending flow: a clear since then, missed by the listener, shows as a new epoch.
      const waiter = new Waiter(
        state,
        this.#channel(id),
        first.epoch,
        this.#scheduler,
        resolve,
        reject,
        () => this.#release(waiter),
      );
      waiter.onMessage = () => void this.#recheck(waiter, 'message');
      this.#waiters.add(waiter);
      const onAbort = (): void => waiter.fail(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      waiter.onSettle(() => signal.removeEventListener('abort', onAbort));
      waiter.expireIn(first.pttl + EXPIRY_MARGIN_MS, () => void this.#recheck(waiter, 'expiry'));
      void this.#arm(waiter);
    });
  }

  async delete(state: string): Promise<void> {
    const id = this.#id(state);
    await this.#redis.eval(
      scripts.DELETE,
      [this.#flowKey(id), this.#liveKey, this.#claimKey(id)],
      [this.#codeKey(''), id, this.#channel(id)],
    );
  }

  async clear(): Promise<void> {
    await this.#redis.eval(
      scripts.CLEAR,
      [this.#liveKey, this.#epochKey],
      [this.#flowKey(''), this.#codeKey(''), this.#clearChannel, this.#claimKey('')],
    );
  }

  async size(): Promise<number> {
    return Number(await this.#redis.eval(scripts.SIZE, [this.#liveKey], []));
  }

  async health(): Promise<StoreHealth> {
    return this.#redis.health();
  }

  /** Its connections, for the device store beside it (closed once both stores closed). */
  shareConnection(): RedisConnection {
    return this.#redis.share();
  }

  /** Leaves the shared data alone (other brokers use it); ends this broker's waiters and connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of [...this.#waiters])
      waiter.fail(new BrokerError('store_unavailable', 'The broker is shutting down.'));
    await this.#redis.close();
  }

  /** Subscribe first, then look again: whatever happened before the subscription is in the store. */
  async #arm(waiter: Waiter): Promise<void> {
    try {
      await this.#redis.subscriber.subscribe([waiter.channel, this.#clearChannel], waiter.listener);
    } catch (error) {
      waiter.fail(this.#redis.unavailable(error));
      return;
    }
    waiter.subscribed = true;
    if (waiter.settled) {
      this.#unsubscribe(waiter);
      return;
    }
    await this.#recheck(waiter, 'subscribed');
  }

  async #recheck(
    waiter: Waiter,
    why: 'subscribed' | 'message' | 'expiry' | 'reconnected',
  ): Promise<void> {
    if (waiter.settled) return;
    let seen: Inspection;
    try {
      seen = await this.#inspect(waiter.state);
    } catch {
      // Past its expiry the flow is gone whatever Redis says. Otherwise the waiter is
      // subscribed and keeps waiting: the end of the outage (or its expiry) looks again.
      if (why === 'expiry') waiter.finish({ kind: 'gone' });
      return;
    }
    if (!seen.flow) {
      waiter.finish(seen.epoch !== waiter.epoch ? { kind: 'cleared' } : { kind: 'gone' });
    } else if (seen.flow.outcome) {
      waiter.finish({ kind: 'outcome', flow: seen.flow as FlowRecord & { outcome: FlowOutcome } });
    } else if (seen.pttl > 0) {
      waiter.expireIn(seen.pttl + EXPIRY_MARGIN_MS, () => void this.#recheck(waiter, 'expiry'));
    } else {
      waiter.finish({ kind: 'gone' });
    }
  }

  #afterOutage(): void {
    void this.#reconcile();
    for (const waiter of this.#waiters)
      if (waiter.subscribed) void this.#recheck(waiter, 'reconnected');
  }

  /**
   * On reconnect node-redis resubscribes every channel it still holds a
   * listener for, and a waiter whose unsubscribe failed during the outage
   * left its listener there: drop every listener but those of the waiters
   * still waiting (and the store's own on the clear channel).
   */
  async #reconcile(): Promise<void> {
    const wanted = new Map<string, Set<unknown>>([[this.#clearChannel, new Set([ignore])]]);
    for (const waiter of this.#waiters) {
      for (const channel of [waiter.channel, this.#clearChannel]) {
        const listeners = wanted.get(channel) ?? new Set();
        listeners.add(waiter.listener);
        wanted.set(channel, listeners);
      }
    }
    const stale: Array<[string, (message: string, channel: string) => void]> = [];
    for (const [channel, sets] of this.#redis.subscriber.getPubSubListeners('CHANNELS')) {
      for (const listener of sets.strings)
        if (!wanted.get(channel)?.has(listener))
          stale.push([channel, listener as (message: string, channel: string) => void]);
    }
    const results = await Promise.allSettled(
      stale.map(([channel, listener]) => this.#redis.subscriber.unsubscribe(channel, listener)),
    );
    this.#logger.debug(
      {
        store: 'redis',
        dropped: stale.length,
        failed: results.filter((r) => r.status === 'rejected').length,
      },
      'Subscriptions reconciled with the live waiters after the outage',
    );
  }

  #release(waiter: Waiter): void {
    this.#waiters.delete(waiter);
    if (waiter.subscribed) this.#unsubscribe(waiter);
  }

  #unsubscribe(waiter: Waiter): void {
    if (this.#closed) return;
    this.#redis.subscriber
      .unsubscribe([waiter.channel, this.#clearChannel], waiter.listener)
      .catch((error: unknown) => {
        this.#logger.debug(
          { store: 'redis', reason: (error as Error).message },
          'Unsubscribing a finished waiter failed; it is dropped when Redis is back',
        );
      });
  }

  async #inspect(state: string): Promise<Inspection> {
    const key = this.#flowKey(this.#id(state));
    const fields = asList(await this.#redis.eval(scripts.INSPECT, [key, this.#epochKey], []));
    return {
      flow: this.#fromFields(key, fields),
      pttl: Number(fields[5] ?? -2),
      epoch: String(fields[6] ?? '0'),
    };
  }

  /** A FIND or REDEEM reply → the flow, when its sealed code is `code` too. */
  #codeFlow(reply: Reply, code: string): FlowRecord | undefined {
    if (reply === null) return undefined;
    const [id, ...fields] = asList(reply);
    const flow = this.#fromFields(this.#flowKey(String(id)), fields);
    // The index matched the code's HMAC; comparing the sealed code too costs nothing.
    if (flow?.outcome?.kind !== 'code' || !constantTimeEqual(flow.outcome.code, code))
      return undefined;
    return flow;
  }

  #record(key: string, reply: Reply): FlowRecord | undefined {
    return reply === null ? undefined : this.#fromFields(key, asList(reply));
  }

  /** Fields r, t, e, q, o (as the scripts return them) → the record, secrets opened. */
  #fromFields(key: string, fields: Reply[]): FlowRecord | undefined {
    const [r, t, e, q, o] = fields;
    if (typeof r !== 'string') return undefined;
    const base = JSON.parse(this.#sealer.open(r, `${key}#r`)) as SealedBase;
    return {
      ...base,
      createdAt: Number(t),
      expiresAt: Number(e),
      ...(typeof q === 'string' && {
        request: JSON.parse(this.#sealer.open(q, `${key}#q`)) as FlowRequest,
      }),
      ...(typeof o === 'string' && {
        outcome: JSON.parse(this.#sealer.open(o, `${key}#o`)) as FlowOutcome,
      }),
    };
  }

  #id(state: string): string {
    return this.#sealer.index('state', state);
  }

  #flowKey(id: string): string {
    return `${this.#prefix}f:${id}`;
  }

  #codeKey(codeId: string): string {
    return `${this.#prefix}c:${codeId}`;
  }

  #claimKey(id: string): string {
    return `${this.#prefix}w:${id}`;
  }

  #subjectKey(refreshToken: string): string {
    return `${this.#prefix}s:${this.#sealer.index('refresh', refreshToken)}`;
  }

  #channel(id: string): string {
    return `${this.#prefix}ch:${id}`;
  }

  get #liveKey(): string {
    return `${this.#prefix}live`;
  }

  get #epochKey(): string {
    return `${this.#prefix}epoch`;
  }

  get #clearChannel(): string {
    return `${this.#prefix}clear`;
  }
}

function ignore(): void {}

function asList(reply: Reply): Reply[] {
  return Array.isArray(reply) ? reply : [];
}

/** One waiting /pkce/code: settles once, then cleans up after itself. */
class Waiter {
  readonly state: string;
  readonly channel: string;
  readonly epoch: string;
  subscribed = false;
  settled = false;
  readonly listener: (message: string, channel: string) => void;
  readonly #scheduler: Scheduler;
  #timer: unknown;
  readonly #resolve: (result: WaitResult) => void;
  readonly #reject: (error: unknown) => void;
  readonly #cleanups: Array<() => void> = [];

  constructor(
    state: string,
    channel: string,
    epoch: string,
    scheduler: Scheduler,
    resolve: (result: WaitResult) => void,
    reject: (error: unknown) => void,
    release: () => void,
  ) {
    this.state = state;
    this.channel = channel;
    this.epoch = epoch;
    this.#scheduler = scheduler;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#cleanups.push(release);
    this.listener = (message, from) => {
      if (this.settled) return;
      if (from !== this.channel) this.finish({ kind: 'cleared' });
      else if (message === 'gone') this.finish({ kind: 'gone' });
      else this.onMessage?.();
    };
  }

  /** Set by the store: what to do when the flow's channel says "look again". */
  onMessage: (() => void) | undefined;

  onSettle(cleanup: () => void): void {
    this.#cleanups.push(cleanup);
  }

  expireIn(ms: number, then: () => void): void {
    if (this.#timer !== undefined) this.#scheduler.clearTimeout(this.#timer);
    this.#timer = this.#scheduler.setTimeout(then, ms);
  }

  finish(result: WaitResult): void {
    if (this.#settle()) this.#resolve(result);
  }

  fail(error: unknown): void {
    if (this.#settle()) this.#reject(error);
  }

  #settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    if (this.#timer !== undefined) this.#scheduler.clearTimeout(this.#timer);
    for (const cleanup of this.#cleanups) cleanup();
    return true;
  }
}
