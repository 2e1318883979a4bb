/**
 * The flow store: where a login in progress lives between GET /pkce/challenge,
 * the browser's callback and POST /pkce/token. Every implementation passes the
 * shared contract suite (test/store-contract.ts). The guarantees:
 *
 * - TTL: a flow is gone `ttlMs` after it was created, whatever phase it is in.
 * - Single use: `complete` succeeds once per flow; `redeemCode` returns a flow
 *   once per code. Concurrent callers see exactly one success.
 * - Cap: `create` refuses (too_many_flows) once `maxFlows` flows are live.
 * - Wake-up: `waitForOutcome` resolves as soon as `complete`, `delete` or
 *   `clear` happens on any broker sharing the store, or at once when the flow
 *   already has an outcome.
 * - Faults: a store that cannot reach its backend rejects at once with
 *   BrokerError store_unavailable (a 503), never hangs; a waiter already
 *   waiting keeps waiting and looks again when the backend is back.
 */

/** Where the flow's secrets came from. */
export type FlowOrigin =
  /** GET /pkce/challenge: the broker generated and holds the verifier. */
  | 'broker'
  /** POST /pkce/code with a state the broker never issued: the app holds the verifier. */
  | 'app';

/** The authorize request as sent, kept for the token exchange. */
export interface FlowRequest {
  client_id: string;
  redirect_uri: string;
  scope: string[];
  audience?: string;
  response_mode: string;
  /** The provider URL the browser is sent to; holds state and nonce, so it is as secret as they are. */
  authorizeUrl?: string;
}

export type FlowOutcome =
  | { kind: 'code'; code: string; iss?: string }
  | { kind: 'error'; reason: 'denied' | 'invalid'; error: string; description?: string };

export interface FlowRecord {
  state: string;
  nonce: string;
  challenge: string;
  /** Only for broker-origin flows. */
  verifier?: string;
  origin: FlowOrigin;
  createdAt: number;
  expiresAt: number;
  request?: FlowRequest;
  outcome?: FlowOutcome;
}

export type WaitResult =
  | { kind: 'outcome'; flow: FlowRecord & { outcome: FlowOutcome } }
  /** POST /pkce/clear, here or on another instance. */
  | { kind: 'cleared' }
  /** The flow expired or was deleted while waiting. */
  | { kind: 'gone' };

export interface StoreHealth {
  ok: boolean;
  detail?: string;
}

export interface FlowStore {
  /** Adds a new flow. Throws BrokerError too_many_flows at the cap, invalid_request if the state is live. */
  create(flow: FlowRecord): Promise<void>;
  get(state: string): Promise<FlowRecord | undefined>;
  /** Records the authorize request on a flow without an outcome; undefined when there is no such flow. */
  attachRequest(state: string, request: FlowRequest): Promise<FlowRecord | undefined>;
  /**
   * Gives a flow its outcome, once. Returns the completed flow, or undefined when
   * the state is unknown, expired or already completed (nothing changes then).
   */
  complete(state: string, outcome: FlowOutcome): Promise<FlowRecord | undefined>;
  /** Takes the flow whose callback delivered `code`, once; the flow is gone afterwards. */
  redeemCode(code: string): Promise<FlowRecord | undefined>;
  /** Resolves on the flow's outcome, on clear, or when it is gone. Rejects with the signal's reason on abort. */
  waitForOutcome(state: string, signal: AbortSignal): Promise<WaitResult>;
  /** Forgets one flow and wakes its waiters with `gone`. */
  delete(state: string): Promise<void>;
  /** Forgets every flow and wakes every waiter (on every instance) with `cleared`. */
  clear(): Promise<void>;
  /** Live flows (pending or completed, not yet redeemed or expired). */
  size(): Promise<number>;
  health(): Promise<StoreHealth>;
  /** Ends this broker's use of the store; a shared store's flows stay for the other brokers. */
  close(): Promise<void>;
}

export interface FlowStoreOptions {
  ttlMs: number;
  maxFlows: number;
  /** Injected for tests; Date.now by default. */
  now?: () => number;
}
