/**
 * The Device Authorization Grant (RFC 8628) for apps, independent of HTTP:
 * POST /device/code starts a device sign-in at the provider and hands the app
 * the user code and an opaque handle; POST /device/token waits, like
 * /pkce/code, while the broker polls the provider.
 *
 * One poller per handle, whatever the number of requests and brokers: the
 * poller lease in the store. The broker that starts a flow polls it; a broker
 * asked for a flow whose poller is gone (stopped, crashed) takes the lease
 * over. Polling stops when the flow has its outcome, expires, is cleared, or
 * the broker stops. The provider's device_code stays in the store.
 */
import { BrokerError, isBrokerError, type HttpErrorCode } from '../errors.js';
import type { DeviceStart, DeviceStartRequest, PKCE } from '../protocol/models.js';
import { randomToken } from '../protocol/pkce.js';
import type { DevicePoll, IdentityProvider } from '../provider/types.js';
import type { DeviceLookup, DeviceOutcome, DeviceStore } from '../store/device-types.js';
import type { SeedPolicy } from './seed.js';
import { tokenAnswer } from './token-answer.js';
import { LiveWaits, WaitEnded, realScheduler, type PollScheduler } from './waits.js';
import type { FlowCounter } from './service.js';
import { NO_METRICS, type FlowEnd } from '../metrics/metrics.js';

/** RFC 8628 §3.5: every slow_down adds 5 seconds to the interval, for this and all later polls. */
export const SLOW_DOWN_STEP_MS = 5_000;

/** Pure: the interval after a poll answered `authorization_pending` or `slow_down`. */
export function nextPollInterval(
  intervalMs: number,
  answer: 'authorization_pending' | 'slow_down',
): number {
  return answer === 'slow_down' ? intervalMs + SLOW_DOWN_STEP_MS : intervalMs;
}

/** A record outlives its device code by this much, so a late ask hears 410, not 404. */
const EXPIRED_MARGIN_MS = 5 * 60_000;
/** A waiter's claim outlives its wait by this much at most (a crashed broker's frees itself). */
const CLAIM_MARGIN_MS = 30_000;
/** The poller lease covers one interval and the poll itself; renewed before every poll. */
const POLL_LEASE_MARGIN_MS = 30_000;
/** Faults that pass: the next interval asks again (RFC 8628 §3.5 on connection timeouts). */
const TRANSIENT: ReadonlySet<string> = new Set([
  'provider_timeout',
  'provider_unavailable',
  'store_unavailable',
]);

/** The poller's clock; real timers unless a test makes time pass itself. */
export type { PollScheduler };

export interface DeviceServiceOptions {
  store: DeviceStore;
  /** The provider for a new flow (no domain: the default); throws 400 for an unknown domain. */
  pickProvider(domain?: string): IdentityProvider;
  /** The provider a stored flow recorded. */
  providerById(id: string): IdentityProvider | undefined;
  /** The provider's defaults (scope, audience) and the broker's callback, as for the browser flow. */
  policyFor(provider: IdentityProvider): SeedPolicy;
  waitTimeoutMs: number;
  scheduler?: PollScheduler;
  /** Counts device sign-ins started and ended (--metrics). */
  metrics?: FlowCounter;
}

export type { DeviceStart };

interface LocalPoller {
  timer: unknown;
  stopped: boolean;
}

export class DeviceService {
  readonly #store: DeviceStore;
  readonly #pick: DeviceServiceOptions['pickProvider'];
  readonly #byId: DeviceServiceOptions['providerById'];
  readonly #policyFor: DeviceServiceOptions['policyFor'];
  readonly #waitTimeoutMs: number;
  readonly #clock: PollScheduler;
  readonly #waits = new LiveWaits();
  readonly #pollers = new Map<string, LocalPoller>();
  /** This broker's name on poller leases. */
  readonly #owner = randomToken(16);
  readonly #metrics: FlowCounter;
  /**
   * With metrics on: the flows this broker counted started and has not seen
   * end, so that a clear counts each of them once. Outcomes are counted by
   * whichever broker stores them; an entry another broker ended goes once
   * its record would have expired.
   */
  readonly #counted = new Map<string, { provider: string; until: number }>();

  constructor(options: DeviceServiceOptions) {
    this.#store = options.store;
    this.#pick = options.pickProvider;
    this.#byId = options.providerById;
    this.#policyFor = options.policyFor;
    this.#waitTimeoutMs = options.waitTimeoutMs;
    this.#clock = options.scheduler ?? realScheduler;
    this.#metrics = options.metrics ?? NO_METRICS;
  }

  /** Device flows this broker is polling right now. */
  get polling(): number {
    return this.#pollers.size;
  }

  /** POST /device/token requests waiting right now. */
  get liveWaits(): number {
    return this.#waits.size;
  }

  /** POST /device/code */
  async start(request: DeviceStartRequest): Promise<DeviceStart> {
    if (this.#waits.stopped) throw shuttingDown();
    const provider = this.#pick(request.domain === '' ? undefined : request.domain);
    const policy = this.#policyFor(provider);
    const audience = request.audience ?? policy.audience;
    const scope = request.scope ?? policy.scope.join(' ');
    // device_flow_unsupported (400) where the provider has no device endpoint.
    const answer = await provider.startDeviceAuthorization({
      scope,
      ...(audience !== undefined && { audience }),
    });
    const handle = randomToken();
    const lifeMs = answer.expires_in * 1000;
    await this.#store.create(
      {
        handle,
        provider: provider.id,
        deviceCode: answer.device_code,
        intervalMs: answer.interval * 1000,
        expiresAt: this.#clock.now() + lifeMs,
        ...(audience !== undefined && { audience }),
      },
      lifeMs + EXPIRED_MARGIN_MS,
    );
    this.#metrics.flowStarted(provider.id, 'device');
    if (this.#metrics.enabled) {
      this.#forgetStale();
      this.#counted.set(handle, {
        provider: provider.id,
        until: this.#clock.now() + lifeMs + EXPIRED_MARGIN_MS,
      });
    }
    await this.#ensurePoller(handle, answer.interval * 1000);
    return {
      user_code: answer.user_code,
      verification_uri: answer.verification_uri,
      ...(answer.verification_uri_complete !== undefined && {
        verification_uri_complete: answer.verification_uri_complete,
      }),
      // Whole seconds on the wire; rounded the safe way (expire sooner, poll later).
      expires_in: Math.floor(answer.expires_in),
      interval: Math.ceil(answer.interval),
      handle,
    };
  }

  /**
   * POST /device/token: the tokens, once the person finished, in the answer
   * shape of POST /pkce/token. One waiter per handle; a wait that times out
   * leaves the flow going, and asking again resumes it.
   */
  async waitForToken(handle: string, cancelled: AbortSignal): Promise<PKCE> {
    if (this.#waits.stopped) throw shuttingDown();
    const first = ended(await this.#store.get(handle));
    const claim = await this.#store.claimWaiter(handle, this.#waitTimeoutMs + CLAIM_MARGIN_MS);
    if (claim === undefined) {
      ended(await this.#store.get(handle));
      throw new BrokerError(
        'flow_busy',
        'Another request is already waiting for this device sign-in.',
      );
    }
    try {
      let lookup: DeviceLookup = first;
      if (first.kind === 'live' && first.outcome === undefined) {
        await this.#ensurePoller(handle, first.record.intervalMs);
        lookup = await this.#wait(handle, first.record.expiresAt, cancelled);
      }
      return await this.#answer(handle, lookup);
    } finally {
      await this.#store.releaseWaiter(handle, claim).catch(() => undefined);
    }
  }

  /**
   * POST /device/cancel: the app ends its own device sign-in (`login` on
   * Ctrl-C, also before its first POST /device/token, when no waiter's hang-up
   * can say it). The handle is the capability, as for /device/token. Polling
   * stops here at once and on the broker polling it at its next turn, which
   * reads the outcome before it polls. Tokens that came first are dropped with
   * the flow: the app said it does not want them. Any other outcome stays, so
   * a later ask hears why the flow ended.
   */
  async cancel(handle: string): Promise<void> {
    const lookup = ended(await this.#store.get(handle));
    if (lookup.kind !== 'live') return;
    this.#stopPoller(handle);
    const outcome =
      lookup.outcome ??
      ((await this.#complete(handle, { kind: 'cancelled' }, lookup.record.provider))
        ? undefined
        : // Another broker stored an outcome since the read.
          liveOutcome(await this.#store.get(handle)));
    if (outcome?.kind === 'tokens') await this.#store.remove(handle);
    await this.#store.releasePoller(handle, this.#owner).catch(() => undefined);
  }

  /** Part of POST /pkce/clear: every device flow ends, and this broker's polling with it. */
  async clear(): Promise<void> {
    for (const handle of [...this.#pollers.keys()]) this.#stopPoller(handle);
    await this.#countCleared();
    await this.#store.clear();
  }

  /** The broker is stopping: no more polls from here, waiting requests answer 503. */
  stop(): void {
    this.#waits.stop();
    for (const handle of [...this.#pollers.keys()]) {
      this.#stopPoller(handle);
      void this.#store.releasePoller(handle, this.#owner).catch(() => undefined);
    }
  }

  async #wait(handle: string, expiresAt: number, cancelled: AbortSignal): Promise<DeviceLookup> {
    const untilExpiry = Math.max(0, expiresAt - this.#clock.now());
    const expiresFirst = untilExpiry < this.#waitTimeoutMs;
    try {
      return await this.#waits.run(
        expiresFirst ? untilExpiry : this.#waitTimeoutMs,
        cancelled,
        (signal) => this.#store.waitForOutcome(handle, signal),
      );
    } catch (error) {
      if (!(error instanceof WaitEnded)) throw asBrokerError(error);
      switch (error.why) {
        case 'stopping':
          throw shuttingDown(error);
        case 'cancelled':
          // The app went away (Ctrl-C): the flow ends, here and on every broker polling it.
          await this.#cancel(handle);
          throw cancelledFlow(error);
        case 'timeout':
          if (expiresFirst) {
            await this.#complete(handle, { kind: 'expired' });
            return this.#store.get(handle);
          }
          throw new BrokerError(
            'wait_timeout',
            'The device sign-in is not finished yet; ask again with the same handle to keep waiting.',
          );
      }
    }
  }

  async #answer(handle: string, lookup: DeviceLookup): Promise<PKCE> {
    const live = ended(lookup);
    if (live.kind !== 'live' || live.outcome === undefined) {
      throw new BrokerError('internal', 'A device sign-in ended without an outcome.');
    }
    const { record, outcome } = live;
    // Both stay what they are until the record expires: asking again hears the same.
    if (outcome.kind === 'expired') throw expiredToken();
    if (outcome.kind === 'cancelled') throw cancelledFlow();
    // Delivered once: the handle means nothing afterwards.
    await this.#store.remove(handle);
    switch (outcome.kind) {
      case 'denied':
        throw new BrokerError(
          'access_denied',
          outcome.description ?? 'The person declined the device sign-in.',
          { oauthError: outcome.error },
        );
      case 'failed':
        throw new BrokerError(outcome.code, outcome.message, {
          ...(outcome.oauthError !== undefined && { oauthError: outcome.oauthError }),
        });
      case 'tokens': {
        const provider = this.#byId(record.provider);
        if (!provider) throw providerGone(record.provider);
        const policy = this.#policyFor(provider);
        return tokenAnswer(
          provider,
          policy,
          'urn:ietf:params:oauth:grant-type:device_code',
          outcome.tokens,
          { redirectUri: policy.redirectUri, audience: record.audience },
        );
      }
    }
  }

  /**
   * Ends a flow whose waiter hung up. The outcome in the store is what stops
   * the polling: this broker's poller at once, another broker's at its next
   * turn, which reads the outcome before it polls. An outcome that came first
   * (the tokens, just now) stays for the app to ask again.
   */
  async #cancel(handle: string): Promise<void> {
    this.#stopPoller(handle);
    try {
      await this.#complete(handle, { kind: 'cancelled' });
      await this.#store.releasePoller(handle, this.#owner);
    } catch {
      // Store away: this broker polls no more, and the flow runs out at its expiry.
    }
  }

  /** Starts polling here unless this broker polls already or another holds the lease. */
  async #ensurePoller(handle: string, intervalMs: number): Promise<void> {
    if (this.#pollers.has(handle) || this.#waits.stopped) return;
    const poller: LocalPoller = { timer: undefined, stopped: false };
    this.#pollers.set(handle, poller);
    let held = false;
    try {
      held = await this.#store.holdPoller(handle, this.#owner, intervalMs + POLL_LEASE_MARGIN_MS);
    } finally {
      if (!held) this.#pollers.delete(handle);
    }
    if (held) this.#schedule(handle, poller, intervalMs);
  }

  #schedule(handle: string, poller: LocalPoller, ms: number): void {
    if (poller.stopped) return;
    poller.timer = this.#clock.setTimeout(() => this.#poll(handle, poller), ms);
  }

  #stopPoller(handle: string): void {
    const poller = this.#pollers.get(handle);
    if (!poller) return;
    poller.stopped = true;
    this.#clock.clearTimeout(poller.timer);
    this.#pollers.delete(handle);
  }

  /** One poll; schedules the next, or ends the flow. Never throws (it runs on a timer). */
  async #poll(handle: string, poller: LocalPoller): Promise<void> {
    if (poller.stopped) return;
    let intervalMs: number | undefined;
    try {
      const lookup = await this.#store.get(handle);
      if (lookup.kind !== 'live' || lookup.outcome !== undefined || poller.stopped) {
        // Cleared on another broker: a flow started here is counted here.
        if (lookup.kind === 'cleared') this.#countedEnd(handle, 'cleared');
        return this.#stopPoller(handle);
      }
      const { record } = lookup;
      intervalMs = record.intervalMs;
      if (this.#clock.now() >= record.expiresAt) {
        await this.#complete(handle, { kind: 'expired' }, record.provider);
        return this.#stopPoller(handle);
      }
      const lease = record.intervalMs + POLL_LEASE_MARGIN_MS;
      if (!(await this.#store.holdPoller(handle, this.#owner, lease)) || poller.stopped) {
        return this.#stopPoller(handle);
      }
      const provider = this.#byId(record.provider);
      if (!provider) {
        await this.#complete(handle, failed(providerGone(record.provider)), record.provider);
        return this.#stopPoller(handle);
      }
      const poll = await provider.pollDeviceToken(record.deviceCode);
      if (poller.stopped) return;
      const outcome = outcomeOf(poll);
      if (outcome === undefined) {
        if (poll.kind === 'slow_down') {
          intervalMs = nextPollInterval(record.intervalMs, 'slow_down');
          await this.#store.setInterval(handle, intervalMs);
        }
        return this.#schedule(handle, poller, intervalMs);
      }
      await this.#complete(handle, outcome, record.provider);
      this.#stopPoller(handle);
    } catch (error) {
      const broker = asBrokerError(error);
      if (intervalMs !== undefined && TRANSIENT.has(broker.code)) {
        return this.#schedule(handle, poller, intervalMs);
      }
      this.#stopPoller(handle);
      await this.#complete(handle, failed(broker)).catch(() => undefined);
    }
  }

  /**
   * Stores a flow's outcome; the first one stored, on any broker, is the one
   * counted. `provider`: the record's, where the caller has read it.
   */
  async #complete(handle: string, outcome: DeviceOutcome, provider?: string): Promise<boolean> {
    if (!(await this.#store.complete(handle, outcome))) return false;
    if (!this.#metrics.enabled) return true;
    this.#counted.delete(handle);
    let id = provider;
    if (id === undefined) {
      const lookup = await this.#store.get(handle).catch(() => undefined);
      id = lookup?.kind === 'live' ? lookup.record.provider : undefined;
    }
    if (id !== undefined) this.#metrics.flowEnded(id, 'device', deviceOutcomeLabel(outcome));
    return true;
  }

  /** Counts the end of a flow started here that ended without an outcome (a clear). */
  #countedEnd(handle: string, how: FlowEnd): void {
    const entry = this.#counted.get(handle);
    if (entry === undefined) return;
    this.#counted.delete(handle);
    this.#metrics.flowEnded(entry.provider, 'device', how);
  }

  /** Before a clear here: each flow started here still without an outcome ends `cleared`. */
  async #countCleared(): Promise<void> {
    const handles = [...this.#counted.keys()];
    const lookups = await Promise.all(
      handles.map((handle) => this.#store.get(handle).catch(() => undefined)),
    );
    handles.forEach((handle, i) => {
      const lookup = lookups[i];
      if (lookup?.kind === 'live' && lookup.outcome === undefined)
        this.#countedEnd(handle, 'cleared');
      // Ended elsewhere (counted there), or cleared there already (counted by the poller).
      else this.#counted.delete(handle);
    });
  }

  /** Entries whose record is past its life: their end was counted on another broker. */
  #forgetStale(): void {
    const now = this.#clock.now();
    for (const [handle, entry] of this.#counted) {
      if (entry.until > now) break;
      this.#counted.delete(handle);
    }
  }
}

/** The protocol's answers that end a flow; undefined for those that keep polling. */
function outcomeOf(poll: DevicePoll): DeviceOutcome | undefined {
  switch (poll.kind) {
    case 'pending':
    case 'slow_down':
      return undefined;
    case 'tokens':
      return { kind: 'tokens', tokens: poll.tokens };
    case 'expired':
      return { kind: 'expired' };
    case 'denied':
      return {
        kind: 'denied',
        error: poll.error,
        ...(poll.description !== undefined && { description: poll.description }),
      };
  }
}

/** An outcome as the metrics' label (FlowEnd). */
function deviceOutcomeLabel(outcome: DeviceOutcome): FlowEnd {
  switch (outcome.kind) {
    case 'tokens':
      return 'completed';
    case 'expired':
      return 'expired';
    case 'denied':
      return 'access_denied';
    case 'failed':
      return outcome.code;
    case 'cancelled':
      // The waiter hung up (Ctrl-C), or POST /device/cancel; asking again answers 409 flow_cleared.
      return 'cancelled';
  }
}

/** Throws for a lookup that says the flow is not there to wait on. */
function ended(lookup: DeviceLookup): DeviceLookup {
  if (lookup.kind === 'gone') {
    throw new BrokerError(
      'not_found',
      'No device sign-in with this handle (unknown, expired or already delivered).',
    );
  }
  if (lookup.kind === 'cleared') {
    throw new BrokerError('flow_cleared', 'The device sign-in was cleared before it completed.');
  }
  return lookup;
}

function liveOutcome(lookup: DeviceLookup): DeviceOutcome | undefined {
  return lookup.kind === 'live' ? lookup.outcome : undefined;
}

function failed(error: BrokerError): DeviceOutcome {
  const code: HttpErrorCode =
    error.code === 'startup_failed' || error.code === 'config_invalid' ? 'internal' : error.code;
  return {
    kind: 'failed',
    code,
    message: error.expose ? error.message : 'The device sign-in failed.',
    ...(error.oauthError !== undefined && { oauthError: error.oauthError }),
  };
}

function asBrokerError(error: unknown): BrokerError {
  return isBrokerError(error)
    ? error
    : new BrokerError('internal', 'The device sign-in failed.', { cause: error });
}

function expiredToken(): BrokerError {
  return new BrokerError(
    'expired_token',
    'The device code expired before the sign-in was finished; start a new one.',
    { oauthError: 'expired_token' },
  );
}

function cancelledFlow(cause?: unknown): BrokerError {
  return new BrokerError(
    'flow_cleared',
    'The device sign-in was cancelled: its waiting request went away. Start a new one.',
    { cause },
  );
}

function providerGone(id: string): BrokerError {
  return new BrokerError(
    'provider_unavailable',
    `The identity provider "${id}" this device sign-in began with is no longer configured.`,
  );
}

function shuttingDown(cause?: unknown): BrokerError {
  return new BrokerError(
    'shutting_down',
    'The broker is stopping; ask again with the same handle to resume the device sign-in.',
    { cause, retryAfter: 1 },
  );
}
