/**
 * The flow store: where a login in progress lives between GET /pkce/challenge,
 * the browser's callback and POST /pkce/token. Every implementation passes the
 * shared contract suite (test/store-contract.ts). The guarantees:
 *
 * - TTL: a flow nobody started is gone `challengeTtlMs` after it was
 *   created; `start` gives it `ttlMs` from then on, whatever phase it is in.
 * - Single use: `start` and `complete` succeed once per flow; `redeemCode`
 *   returns a flow once per code, while `findByCode` only looks. Concurrent
 *   callers see exactly one success.
 * - One waiter: `claim` succeeds for one caller at a time per flow, until
 *   `release` or the end of its lease (a crashed broker's claim frees itself).
 * - Cap: `create` refuses (too_many_flows) once `maxFlows` flows are live,
 *   started or not.
 * - Wake-up: `waitForOutcome` resolves as soon as `complete`, `delete` or
 *   `clear` happens on any broker sharing the store, or at once when the flow
 *   already has an outcome.
 * - Faults: a store that cannot reach its backend rejects at once with
 *   BrokerError store_unavailable (a 503), never hangs; a waiter already
 *   waiting keeps waiting and looks again when the backend is back.
 */

/** Where the flow's secrets came from, and so who may exchange its code. */
export type FlowOrigin =
  /** GET /pkce/challenge: the broker generated the verifier and handed it to the app. */
  | 'broker'
  /** POST /pkce/code with the app's own code_challenge: only the app holds the verifier. */
  | 'app'
  /**
   * POST /pkce/code with neither state nor code_challenge: the broker runs the
   * flow alone and never shows the verifier, so the code is the credential.
   */
  | 'solo';

/** Authorize parameters a seed may add to the request, passed to the provider as given. */
export interface AuthorizeExtras {
  screen_hint?: string;
  prompt?: string;
  organization?: string;
  invitation?: string;
  /** From ADDITIONAL_PARAMETERS. */
  extra?: Record<string, string>;
}

/**
 * The authorize request as sent, kept for the token exchange and to build the
 * provider URL again (GET /pkce/authorize-url). The URL itself is not kept:
 * with PAR its request_uri is single-use and expires within a minute, and
 * without PAR it is a live secret (state and nonce).
 */
export interface FlowRequest {
  /**
   * The id of the provider the flow was sent to (src/provider/registry.ts):
   * every later step uses that one only. Absent in a record stored before
   * there were several: the default provider's.
   */
  provider?: string;
  client_id: string;
  redirect_uri: string;
  scope: string[];
  audience?: string;
  response_mode: string;
  /** What the seed added; absent when it added nothing. */
  extras?: AuthorizeExtras;
}

export type FlowOutcome =
  | { kind: 'code'; code: string; iss?: string }
  | { kind: 'error'; reason: 'denied' | 'invalid'; error: string; description?: string };

export interface FlowRecord {
  state: string;
  nonce: string;
  challenge: string;
  /** Only for flows whose verifier the broker generated (`broker`, `solo`). */
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

/** The hold of one waiting POST /pkce/code on its flow. */
export type ClaimResult =
  | { kind: 'claimed'; claim: string; flow: FlowRecord }
  /** Another waiter (on any broker sharing the store) holds the flow. */
  | { kind: 'busy' }
  | { kind: 'gone' };

/** Who an ID token names: what a refresh must not change (OIDC Core §12.2). */
export interface Subject {
  iss: string;
  sub: string;
}

export interface StoreHealth {
  ok: boolean;
  detail?: string;
}

export interface FlowStore {
  /** Adds a new flow. Throws BrokerError too_many_flows at the cap, invalid_request if the state is live. */
  create(flow: FlowRecord): Promise<void>;
  get(state: string): Promise<FlowRecord | undefined>;
  /**
   * Starts a flow, once: records the authorize request and gives the flow
   * `ttlMs` from now. Undefined when there is no such flow, or it was already
   * started or has its outcome (nothing changes then).
   */
  start(state: string, request: FlowRequest): Promise<FlowRecord | undefined>;
  /** Takes the flow's one waiter place for `leaseMs` at most; `busy` while another holds it. */
  claim(state: string, leaseMs: number): Promise<ClaimResult>;
  /** Gives the place back; a claim that is no longer the flow's (expired, taken over) changes nothing. */
  release(state: string, claim: string): Promise<void>;
  /**
   * Gives a flow its outcome, once. Returns the completed flow, or undefined when
   * the state is unknown, expired or already completed (nothing changes then).
   */
  complete(state: string, outcome: FlowOutcome): Promise<FlowRecord | undefined>;
  /** The flow whose callback delivered `code`, left as it is (checks before `redeemCode`). */
  findByCode(code: string): Promise<FlowRecord | undefined>;
  /** Takes the flow whose callback delivered `code`, once; the flow is gone afterwards. */
  redeemCode(code: string): Promise<FlowRecord | undefined>;
  /** Resolves on the flow's outcome, on clear, or when it is gone. Rejects with the signal's reason on abort. */
  waitForOutcome(state: string, signal: AbortSignal): Promise<WaitResult>;
  /** Forgets one flow and wakes its waiters with `gone`. */
  delete(state: string): Promise<void>;
  /** Forgets every flow and wakes every waiter (on every instance) with `cleared`. */
  clear(): Promise<void>;
  /**
   * Remembers who a refresh token the broker handed out belongs to, for
   * `ttlMs`, under a keyed hash of the token (the token itself is not kept).
   * Survives `clear`: forgetting would let a refresh rebind to someone else.
   */
  bindSubject(refreshToken: string, subject: Subject, ttlMs: number): Promise<void>;
  subjectOf(refreshToken: string): Promise<Subject | undefined>;
  /** Live flows (pending or completed, not yet redeemed or expired). */
  size(): Promise<number>;
  health(): Promise<StoreHealth>;
  /** Ends this broker's use of the store; a shared store's flows stay for the other brokers. */
  close(): Promise<void>;
}

export interface FlowStoreOptions {
  /** Life of a started flow, from its start. */
  ttlMs: number;
  /** Life of a flow nobody started (a challenge no /pkce/code took up); default `ttlMs`. */
  challengeTtlMs?: number;
  maxFlows: number;
  /** Injected for tests; Date.now by default. */
  now?: () => number;
}
