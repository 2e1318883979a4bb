/**
 * The device flow store: a device sign-in (RFC 8628) between POST /device/code
 * and the POST /device/token that receives its tokens, shared by every broker
 * on the same store. The guarantees, in both implementations:
 *
 * - A record lives `ttlMs` from its creation (the device code's life plus a
 *   margin, so a late ask learns it expired rather than that it never was).
 * - One waiter: `claimWaiter` succeeds for one caller at a time per handle,
 *   until `releaseWaiter` or the end of its lease.
 * - One poller: `holdPoller` succeeds for one owner at a time per handle (it
 *   renews the owner's own lease), so however many brokers and requests, the
 *   provider sees one poller.
 * - First outcome wins: `complete` succeeds once; `waitForOutcome` resolves on
 *   it, on `clear`, or on `remove`, on any broker sharing the store.
 * - `clear` ends every device flow at once: each reads `cleared` from then on
 *   (until it expires), so its waiter and a later ask both learn why.
 * - Faults: an unreachable backend is BrokerError store_unavailable, at once.
 */
import type { HttpErrorCode } from '../errors.js';
import type { TokenSet } from '../provider/types.js';

export interface DeviceRecord {
  /** The broker's own id for the flow, handed to the app (≥ 128 random bits). */
  handle: string;
  /** The provider's id (registry contract): polling and the answer use this one only. */
  provider: string;
  /** The provider's credential: it never leaves the broker (sealed in Redis). */
  deviceCode: string;
  /** The current poll interval; grows by 5 s on every slow_down (RFC 8628 §3.5). */
  intervalMs: number;
  /** When the device code expires (epoch ms). */
  expiresAt: number;
  audience?: string;
}

export type DeviceOutcome =
  | { kind: 'tokens'; tokens: TokenSet }
  | { kind: 'denied'; error: string; description?: string }
  | { kind: 'expired' }
  /** Its waiter hung up (Ctrl-C in `login`): polling stops, and a later ask hears 409 until it expires. */
  | { kind: 'cancelled' }
  /** The provider failed the flow otherwise (invalid_grant, a bad ID token…): the BrokerError as it was. */
  | { kind: 'failed'; code: HttpErrorCode; message: string; oauthError?: string };

export type DeviceLookup =
  | { kind: 'live'; record: DeviceRecord; outcome?: DeviceOutcome }
  /** Ended by POST /pkce/clear (here or on another broker). */
  | { kind: 'cleared' }
  /** Unknown, expired, or already delivered. */
  | { kind: 'gone' };

export interface DeviceStore {
  /** Adds a new device flow for `ttlMs`. */
  create(record: DeviceRecord, ttlMs: number): Promise<void>;
  get(handle: string): Promise<DeviceLookup>;
  /** The poller's new interval after a slow_down, for whoever polls next. */
  setInterval(handle: string, intervalMs: number): Promise<void>;
  /** Gives the flow its outcome, once; false when it had one, or is cleared or gone. */
  complete(handle: string, outcome: DeviceOutcome): Promise<boolean>;
  /** Forgets a flow whose outcome was delivered, and wakes any waiter with `gone`. */
  remove(handle: string): Promise<void>;
  /** The one waiter place for `leaseMs` at most: a claim id, or undefined while another holds it. */
  claimWaiter(handle: string, leaseMs: number): Promise<string | undefined>;
  releaseWaiter(handle: string, claim: string): Promise<void>;
  /** Takes the poller lease for `owner`, or renews it when `owner` holds it; false while another does. */
  holdPoller(handle: string, owner: string, leaseMs: number): Promise<boolean>;
  releasePoller(handle: string, owner: string): Promise<void>;
  /** Resolves once the flow has an outcome, is cleared, or is gone; rejects with the signal's reason on abort. */
  waitForOutcome(handle: string, signal: AbortSignal): Promise<DeviceLookup>;
  clear(): Promise<void>;
  close(): Promise<void>;
}
