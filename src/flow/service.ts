/**
 * The PKCE API's behaviour, independent of HTTP: what each endpoint does with
 * the flow store and the identity provider. Routes only translate.
 */
import { BrokerError, isBrokerError } from '../errors.js';
import {
  MODEL_SCHEMA,
  type ChallengedPKCE,
  type PKCE,
  type ResultedPKCE,
  type SeededPKCE,
  type SeededPKCEOut,
  type TokenizedPKCE,
} from '../protocol/models.js';
import { newChallenge, randomToken, verifierMatchesChallenge } from '../protocol/pkce.js';
import type { ProviderRegistry } from '../provider/registry.js';
import type { IdentityProvider, TokenSet } from '../provider/types.js';
import type {
  FlowOutcome,
  FlowRecord,
  FlowRequest,
  FlowStore,
  Subject,
  WaitResult,
} from '../store/types.js';
import { authorizeParams, checkSeed, given, resolveRequest, type SeedPolicy } from './seed.js';
import { claimsWithUserInfo, tokenAnswer } from './token-answer.js';
import type { UserInfoChoice } from '../provider/choices.js';
import { LiveWaits, WaitEnded, realScheduler, type PollScheduler } from './waits.js';
import { NO_METRICS, type BrokerMetrics, type FlowEnd } from '../metrics/metrics.js';

export interface FlowServiceOptions {
  store: FlowStore;
  /** Every configured provider; a flow uses the one it recorded, and only that one. */
  providers: ProviderRegistry;
  /** What a flow may ask of a provider (its client, scope, audience; the broker's callback). */
  policyFor(provider: IdentityProvider): SeedPolicy;
  waitTimeoutMs: number;
  /**
   * Hands the authorize URL to the user's browser; failures are the opener's
   * to report. `flow` names the sign-in: a pushed URL (PAR) does not.
   */
  openAuthorizeUrl(url: URL, flow: { state: string }): void | Promise<void>;
  /** What else POST /pkce/clear ends (the device flows, src/flow/device.ts). */
  onClear?: () => Promise<void>;
  /** --userinfo: when the answer's user is completed from user info. Default `auto`. */
  userInfo?: UserInfoChoice;
  /** Where a dropped user info is said. */
  warn?(details: Record<string, unknown>, message: string): void;
  /** Counts sign-ins started and ended (--metrics). */
  metrics?: FlowCounter;
  /** The clock of the metrics' expiry count (tests); real timers by default. */
  scheduler?: PollScheduler;
}

/** What the flow services tell the metrics (src/metrics/metrics.ts). */
export type FlowCounter = Pick<BrokerMetrics, 'enabled' | 'flowStarted' | 'flowEnded'>;

/** How the callback reached the broker: in a URL query (GET) or a form body (POST). */
export type CallbackDelivery = 'query' | 'form';

/** An S256 challenge is exactly 43 base64url characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** A claim outlives its wait by this much at most: past it, a crashed broker's claim frees itself. */
const CLAIM_MARGIN_MS = 30_000;
/**
 * How long the subject of a refresh token the broker handed out is kept,
 * from its last use: about the idle lifetime hosted providers give them.
 */
const SUBJECT_TTL_MS = 30 * 24 * 3600 * 1000;
/**
 * With metrics on, a flow started here that nothing ended is ended this long
 * before the store would drop it, so that its expiry is counted exactly once:
 * past its TTL it is gone, and gone looks the same as redeemed elsewhere.
 */
const EXPIRY_LEAD_MS = 1_000;
/** What a flow ended for its expiry holds for the instant before it is deleted. */
const EXPIRED: FlowOutcome = {
  kind: 'error',
  reason: 'invalid',
  error: 'invalid_request',
  description: 'The sign-in expired before it completed.',
};

function invalidRequest(message: string): BrokerError {
  return new BrokerError('invalid_request', message, { oauthError: 'invalid_request' });
}

function invalidGrant(message: string): BrokerError {
  return new BrokerError('invalid_grant', message, { oauthError: 'invalid_grant' });
}

function invalidCallback(message: string): BrokerError {
  return new BrokerError('invalid_callback', message, { oauthError: 'invalid_request' });
}

const UNKNOWN_STATE = 'Unknown, expired or already used state.';
const NOT_OURS = 'This code was not received by the broker, was already used, or has expired.';

export class FlowService {
  readonly #store: FlowStore;
  readonly #providers: ProviderRegistry;
  readonly #policyFor: (provider: IdentityProvider) => SeedPolicy;
  readonly #waitTimeoutMs: number;
  readonly #open: FlowServiceOptions['openAuthorizeUrl'];
  readonly #waits = new LiveWaits();
  readonly #onClear: FlowServiceOptions['onClear'];
  readonly #userInfo: UserInfoChoice;
  readonly #warn: NonNullable<FlowServiceOptions['warn']>;
  readonly #metrics: FlowCounter;
  readonly #clock: PollScheduler;
  /**
   * With metrics on: the flows this broker counted started and has not seen
   * end, in start order (so in expiry order: one TTL for all). Ends are
   * counted where they happen, each on the store's once-only step (complete,
   * redeemCode, the owner's delete); these entries are how a clear here and
   * an expiry are counted too.
   */
  readonly #counted = new Map<string, { provider: string; expiresAt: number }>();
  #expiryTimer: unknown;

  constructor(options: FlowServiceOptions) {
    this.#metrics = options.metrics ?? NO_METRICS;
    this.#clock = options.scheduler ?? realScheduler;
    this.#onClear = options.onClear;
    this.#userInfo = options.userInfo ?? 'auto';
    this.#warn = options.warn ?? (() => {});
    this.#store = options.store;
    this.#providers = options.providers;
    this.#policyFor = options.policyFor;
    this.#waitTimeoutMs = options.waitTimeoutMs;
    this.#open = options.openAuthorizeUrl;
  }

  /** POST /pkce/code requests waiting right now (none once each has ended). */
  get liveWaits(): number {
    return this.#waits.size;
  }

  /** GET /pkce/challenge */
  async challenge(): Promise<ChallengedPKCE> {
    const values = newChallenge();
    await this.#store.create({
      state: values.state,
      nonce: values.nonce,
      challenge: values.challenge,
      verifier: values.verifier,
      origin: 'broker',
      createdAt: 0,
      expiresAt: 0,
    });
    return {
      schema: MODEL_SCHEMA,
      state: values.state,
      nonce: values.nonce,
      challenge: values.challenge,
      method: 'S256',
      verifier: values.verifier,
    };
  }

  /**
   * POST /pkce/code: starts (or resumes) the flow, opens the browser and waits
   * for its callback. One waiter per flow: whoever knows only the state (it is
   * in the authorize URL) gets 409 while the app waits, and nothing from a flow
   * the broker runs alone. `cancelled` aborts when the app goes away; the
   * flow is then forgotten if this request started it.
   */
  async authorize(seed: SeededPKCE, cancelled: AbortSignal): Promise<PKCE> {
    const domain = given(seed.domain);
    // A domain must name a configured provider (400 naming them), and one that is up (503).
    const named = this.#providers.forDomain(domain);
    // Checked before any flow is made: a refused seed leaves nothing behind.
    checkSeed(seed, this.#policyFor(named));
    if (this.#waits.stopped) throw shuttingDown();
    const { flow, created } = await this.#flowFor(seed);
    // A flow already started goes on with its own provider; a domain naming another is a mistake.
    const provider = flow.request ? this.#providerOf(flow.request, invalidRequest) : named;
    if (provider.id !== named.id) {
      if (domain !== undefined)
        throw invalidRequest(
          'domain names another identity provider than the one of this sign-in.',
        );
      checkSeed(seed, this.#policyFor(provider));
    }
    const policy = this.#policyFor(provider);
    if (flow.origin === 'solo' && !created) {
      // Its code is the credential (the broker fills in the verifier): it goes to its one waiter only.
      throw new BrokerError('flow_busy', 'This sign-in belongs to the request that started it.');
    }
    // The app holds the verifier, so the code is worthless to anyone else: a resume may have it again.
    if (flow.outcome) return this.#answer(seed, flow, flow.outcome, policy);
    const held = await this.#store.claim(flow.state, this.#waitTimeoutMs + CLAIM_MARGIN_MS);
    if (held.kind === 'busy') {
      throw new BrokerError('flow_busy', 'Another request is already waiting for this sign-in.');
    }
    if (held.kind === 'gone') throw invalidRequest(UNKNOWN_STATE);
    try {
      let current = held.flow;
      let owner = false;
      if (!current.outcome && !current.request) {
        const request = resolveRequest(seed, policy);
        // Pushed first where the provider takes PAR: a failed push fails this request, and the flow stays unstarted.
        const url = await this.#authorizeUrlOf(current, request, provider);
        const started = await this.#store.start(current.state, request);
        if (!started) throw invalidRequest(UNKNOWN_STATE);
        current = started;
        owner = true;
        this.#metrics.flowStarted(provider.id, 'pkce');
        this.#track(started.state, provider.id, started.expiresAt);
        await this.#open(url, { state: current.state });
      }
      const outcome = current.outcome ?? (await this.#wait(current, owner, cancelled));
      return this.#answer(
        seed,
        current,
        outcome,
        this.#policyFor(this.#providerOf(current.request, invalidRequest)),
      );
    } finally {
      // A release that fails (store down) leaves the claim to its lease.
      await this.#store.release(flow.state, held.claim).catch(() => undefined);
    }
  }

  /**
   * GET /pkce/authorize-url: the provider URL of a started flow still waiting
   * for the browser, built afresh (with PAR, a new push and request_uri), so a
   * person opening it late or after a restart still gets a live one.
   * `spend` is called once the flow is found, before the provider is asked:
   * the route's per-flow budget, which a 404 does not use up.
   */
  async authorizeUrl(state: string, spend: (state: string) => void = () => {}): Promise<URL> {
    const flow = await this.#store.get(state);
    if (!flow || flow.outcome || !flow.request) {
      // Also the answer while POST /pkce/code has not yet started the flow: the client retries.
      throw new BrokerError('not_found', 'No sign-in with this state is waiting for the browser.');
    }
    spend(flow.state);
    return this.#authorizeUrlOf(flow, flow.request, this.#providerOf(flow.request, invalidRequest));
  }

  /** POST|GET /pkce/response/code */
  async callback(params: URLSearchParams, delivery: CallbackDelivery): Promise<ResultedPKCE> {
    const state = params.get('state');
    if (!state) throw invalidCallback('The callback carries no state.');
    const flow = await this.#store.get(state);
    // A flow nobody started was never sent to the provider: whatever comes for it is forged.
    if (!flow || flow.outcome || !flow.request) throw invalidCallback(UNKNOWN_STATE);
    if (delivery === 'query' && flow.request.response_mode === 'form_post') {
      // The provider posts a form_post flow's answer; a URL carrying one is a stranger's. The flow stays.
      throw invalidCallback(
        'This sign-in expects the provider to post its answer (response_mode=form_post), not a URL query.',
      );
    }
    // The flow's own provider judges its callback: with RFC 9207's iss, a code another provider issued is refused here.
    const check = this.#providerOf(flow.request, invalidCallback).checkCallback(params, flow.state);
    if (!check.ok) {
      const outcome = {
        kind: 'error' as const,
        reason: check.kind,
        error: check.error,
        ...(check.description !== undefined && { description: check.description }),
      };
      const error = outcomeError(outcome);
      if (await this.#store.complete(state, outcome))
        this.#ended(state, flow.request.provider ?? this.#providers.defaultId, error.code);
      throw error;
    }
    const completed = await this.#store.complete(state, {
      kind: 'code',
      code: check.code,
      ...(check.iss !== undefined && { iss: check.iss }),
    });
    if (!completed) throw invalidCallback(UNKNOWN_STATE);
    return { schema: MODEL_SCHEMA, code: check.code, state };
  }

  /** POST /pkce/token */
  async token(body: TokenizedPKCE): Promise<PKCE> {
    const grantType = given(body.grant_type);
    const code = given(body.code);
    if (grantType === 'refresh_token') {
      if (!code) throw invalidRequest('A refresh_token grant carries the refresh token in "code".');
      return this.#refresh(code, body);
    }
    if (grantType !== 'authorization_code') {
      throw new BrokerError(
        'invalid_request',
        'grant_type must be "authorization_code" or "refresh_token".',
        {
          oauthError: 'unsupported_grant_type',
        },
      );
    }
    if (!code) throw invalidRequest('An authorization_code grant needs "code".');
    // Everything is checked before the code is taken: a wrong verifier does not burn it for its owner.
    const flow = await this.#store.findByCode(code);
    if (!flow || flow.outcome?.kind !== 'code') throw invalidGrant(NOT_OURS);
    const { iss } = flow.outcome;
    // The code goes to the provider it came from, the flow's; never to the default, never by the app's choice.
    const provider = this.#providerOf(flow.request, invalidGrant);
    const policy = this.#policyFor(provider);
    const clientId = given(body.client_id);
    if (clientId !== undefined && clientId !== policy.clientId) {
      throw invalidRequest(
        "client_id does not match the client of this sign-in's identity provider.",
      );
    }
    const request = flow.request ?? resolveRequest({}, policy);
    const redirectUri = given(body.redirect_uri);
    if (redirectUri !== undefined && redirectUri !== request.redirect_uri) {
      throw invalidGrant('redirect_uri differs from the one the code was issued for.');
    }
    const verifier = this.#verifierFor(flow, given(body.code_verifier));
    // Single use: of concurrent exchanges that all passed the checks, one takes the code.
    if (!(await this.#store.redeemCode(code))) throw invalidGrant(NOT_OURS);
    // The code is spent: whatever happens next ends the sign-in.
    let answer: PKCE;
    try {
      // The exchange takes the callback as the broker validated and stored it, not the app's copy.
      const exchanged = await provider.exchangeCode({
        code: flow.outcome.code,
        ...(iss !== undefined && { iss }),
        state: flow.state,
        redirectUri: request.redirect_uri,
        verifier,
        nonce: flow.nonce,
      });
      const tokens = await this.#withUserInfo(provider, exchanged, request.scope);
      const subject = subjectOf(tokens);
      if (subject && tokens.refresh_token !== undefined) {
        await this.#store.bindSubject(tokens.refresh_token, subject, SUBJECT_TTL_MS);
      }
      answer = tokenAnswer(provider, policy, 'authorization_code', tokens, {
        redirectUri: request.redirect_uri,
        audience: request.audience,
      });
    } catch (error) {
      this.#ended(flow.state, provider.id, isBrokerError(error) ? error.code : 'internal');
      throw error;
    }
    this.#ended(flow.state, provider.id, 'completed');
    return answer;
  }

  /** POST /pkce/clear */
  async clear(): Promise<void> {
    await this.#countCleared();
    await Promise.all([this.#store.clear(), this.#onClear?.()]);
  }

  /**
   * Ends every waiting POST /pkce/code with 503 and leaves their flows in the
   * store: a broker going down must not hold its shutdown for the browser, nor
   * forget sign-ins that another broker (or this one, restarted) can finish.
   */
  stop(): void {
    this.#waits.stop();
    this.#clock.clearTimeout(this.#expiryTimer);
    this.#counted.clear();
  }

  /** Counts a flow's end, once on this broker: it leaves the entries of flows still to end. */
  #ended(state: string, provider: string, how: FlowEnd): void {
    this.#counted.delete(state);
    this.#metrics.flowEnded(provider, 'pkce', how);
  }

  /** With metrics on, a flow counted started: remembered until its end is counted. */
  #track(state: string, provider: string, expiresAt: number): void {
    if (!this.#metrics.enabled) return;
    this.#counted.set(state, { provider, expiresAt });
    if (this.#counted.size === 1) this.#armExpiry();
  }

  #armExpiry(): void {
    this.#clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const first = this.#counted.values().next();
    if (first.done) return;
    const due = Math.max(0, first.value.expiresAt - EXPIRY_LEAD_MS - this.#clock.now());
    this.#expiryTimer = this.#clock.setTimeout(() => this.#expireDue(), due);
  }

  /** Ends, and counts `expired`, every flow due that nothing else ended. Never throws (a timer runs it). */
  async #expireDue(): Promise<void> {
    const now = this.#clock.now();
    for (const [state, entry] of [...this.#counted]) {
      if (entry.expiresAt - EXPIRY_LEAD_MS > now) break;
      if (this.#counted.get(state) !== entry) continue;
      this.#counted.delete(state);
      if (await this.#endExpired(state).catch(() => false))
        this.#metrics.flowEnded(entry.provider, 'pkce', 'expired');
    }
    this.#armExpiry();
  }

  /**
   * Takes a flow about to expire with the store's once-only steps, so that an
   * end counted elsewhere (its callback's error, its exchange) is not counted
   * again. False when another step ended it first.
   */
  async #endExpired(state: string): Promise<boolean> {
    for (let look = 0; look < 2; look++) {
      const flow = await this.#store.get(state);
      if (!flow || flow.outcome?.kind === 'error') return false;
      if (flow.outcome?.kind === 'code')
        return (await this.#store.redeemCode(flow.outcome.code)) !== undefined;
      if (await this.#store.complete(state, EXPIRED)) {
        await this.#store.delete(state);
        return true;
      }
      // Its callback came just now: look again.
    }
    return false;
  }

  /** Before a clear here: each flow started here that has not ended ends `cleared`. */
  async #countCleared(): Promise<void> {
    if (this.#counted.size === 0) return;
    const entries = [...this.#counted];
    const flows = await Promise.all(
      entries.map(([state]) => this.#store.get(state).catch(() => undefined)),
    );
    entries.forEach(([state, entry], i) => {
      const flow = flows[i];
      // Gone or failed: its end was counted where it happened.
      if (flow && flow.outcome?.kind !== 'error') this.#ended(state, entry.provider, 'cleared');
      else this.#counted.delete(state);
    });
    this.#armExpiry();
  }

  /**
   * A refresh keeps the user (OIDC Core §12.2): a refresh token the broker
   * handed out is bound to the iss and sub of its sign-in, and an answer
   * naming anyone else is refused. One it never handed out is bound now.
   */
  async #refresh(refreshToken: string, body: TokenizedPKCE): Promise<PKCE> {
    // No flow to say which provider: the client id (then the audience) does.
    const provider = this.#providers.forClient(given(body.client_id), given(body.audience));
    const policy = this.#policyFor(provider);
    const audience = given(body.audience) ?? policy.audience;
    const bound = await this.#store.subjectOf(refreshToken);
    const refreshed = await provider.refresh({
      refreshToken,
      ...(audience !== undefined && { audience }),
    });
    const tokens = await this.#withUserInfo(
      provider,
      refreshed,
      refreshed.scope?.split(' ') ?? policy.scope,
    );
    const named = subjectOf(tokens);
    if (bound && named && (named.iss !== bound.iss || named.sub !== bound.sub)) {
      throw invalidGrant(
        'The refreshed ID token names another user than the sign-in this refresh token came from; its tokens were not handed out.',
      );
    }
    const subject = bound ?? named;
    if (subject) {
      // A rotated refresh token gets the binding of the one it replaces.
      await this.#store.bindSubject(tokens.refresh_token ?? refreshToken, subject, SUBJECT_TTL_MS);
    }
    return tokenAnswer(provider, policy, 'refresh_token', tokens, {
      redirectUri: given(body.redirect_uri) ?? policy.redirectUri,
      audience,
    });
  }

  /** The token set whose claims the answer's user is made of (token-answer.ts). */
  async #withUserInfo(
    provider: IdentityProvider,
    tokens: TokenSet,
    scopes: readonly string[],
  ): Promise<TokenSet> {
    const claims = await claimsWithUserInfo(provider, tokens, {
      mode: this.#userInfo,
      scopes,
      warn: this.#warn,
    });
    return claims === tokens.claims || claims === undefined ? tokens : { ...tokens, claims };
  }

  /** The one way a flow's provider URL is made, for the browser and for GET /pkce/authorize-url alike. */
  #authorizeUrlOf(
    flow: FlowRecord,
    request: FlowRequest,
    provider: IdentityProvider,
  ): Promise<URL> {
    return provider.authorizationUrl(authorizeParams(request, flow));
  }

  /**
   * The provider a flow recorded (a record from before there were several:
   * the default). One this broker does not have configured is `refuse`d:
   * another broker sharing the store with another configuration started it.
   */
  #providerOf(
    request: FlowRequest | undefined,
    refuse: (message: string) => BrokerError,
  ): IdentityProvider {
    const id = request?.provider ?? this.#providers.defaultId;
    const provider = this.#providers.byId(id);
    if (provider === undefined)
      throw refuse(
        `This sign-in belongs to the identity provider "${id}", which this broker does not have.`,
      );
    return provider;
  }

  async #flowFor(seed: SeededPKCE): Promise<{ flow: FlowRecord; created: boolean }> {
    const state = given(seed.state);
    const existing = state === undefined ? undefined : await this.#store.get(state);
    if (existing) {
      const nonce = given(seed.nonce);
      const challenge = given(seed.code_challenge);
      if (
        (nonce !== undefined && nonce !== existing.nonce) ||
        (challenge !== undefined && challenge !== existing.challenge)
      ) {
        throw invalidRequest('nonce and code_challenge must be those of the flow with this state.');
      }
      return { flow: existing, created: false };
    }
    const challenge = given(seed.code_challenge);
    if (challenge === undefined) {
      if (state !== undefined) throw invalidRequest(UNKNOWN_STATE);
      // No state and no challenge: the broker runs the whole flow from its configuration.
      const values = newChallenge();
      const nonce = given(seed.nonce) ?? values.nonce;
      return { flow: await this.#create({ ...values, nonce, origin: 'solo' }), created: true };
    }
    // The app prepared this flow itself and holds the verifier.
    if (!S256_CHALLENGE.test(challenge))
      throw invalidRequest('code_challenge is not an S256 challenge.');
    const flow = await this.#create({
      state: state ?? randomToken(),
      nonce: given(seed.nonce) ?? randomToken(),
      challenge,
      origin: 'app',
    });
    return { flow, created: true };
  }

  async #create(values: Omit<FlowRecord, 'createdAt' | 'expiresAt'>): Promise<FlowRecord> {
    const flow: FlowRecord = { ...values, createdAt: 0, expiresAt: 0 };
    await this.#store.create(flow);
    return flow;
  }

  /**
   * The verifier for the exchange. Where the app holds it (`broker`, `app`) it
   * is required: the code alone, seen in a URL or handed to a resume, is worth
   * nothing. Only a flow the broker ran alone has its verifier filled in.
   */
  #verifierFor(flow: FlowRecord, offered: string | undefined): string {
    if (offered !== undefined) {
      if (!verifierMatchesChallenge(offered, flow.challenge)) {
        throw invalidGrant('code_verifier does not match the code_challenge of this flow.');
      }
      return offered;
    }
    if (flow.origin === 'solo' && flow.verifier !== undefined) return flow.verifier;
    throw invalidGrant(
      'code_verifier is required: send the verifier of this flow (from GET /pkce/challenge, or your own).',
    );
  }

  #answer(seed: SeededPKCE, flow: FlowRecord, outcome: FlowOutcome, policy: SeedPolicy): PKCE {
    if (outcome.kind === 'error') throw outcomeError(outcome);
    const request = flow.request ?? resolveRequest(seed, policy);
    const echoed: SeededPKCEOut = {
      schema: MODEL_SCHEMA,
      response_type: 'code',
      state: flow.state,
      nonce: flow.nonce,
      redirect_uri: request.redirect_uri,
      code_challenge: flow.challenge,
      code_challenge_method: 'S256',
      scope: request.scope,
      client_id: request.client_id,
      response_mode: request.response_mode,
      ...(request.audience !== undefined && { audience: request.audience }),
      ...(given(seed.domain) !== undefined && { domain: seed.domain }),
    };
    return {
      schema: MODEL_SCHEMA,
      seed: echoed,
      result: { schema: MODEL_SCHEMA, code: outcome.code, state: flow.state },
    };
  }

  /**
   * Waits for the flow's outcome. The claim is released by the caller
   * whatever happens here; the flow itself is forgotten when its owner went
   * away, or when it is one the broker runs alone (nobody may resume it).
   */
  async #wait(flow: FlowRecord, owner: boolean, cancelled: AbortSignal): Promise<FlowOutcome> {
    let result: WaitResult;
    try {
      result = await this.#waits.run(this.#waitTimeoutMs, cancelled, (signal) =>
        this.#store.waitForOutcome(flow.state, signal),
      );
    } catch (error) {
      if (!(error instanceof WaitEnded)) {
        throw isBrokerError(error)
          ? error
          : new BrokerError('internal', 'Waiting for the sign-in failed.', { cause: error });
      }
      const forgotten = flow.origin === 'solo' || (owner && error.why === 'cancelled');
      if (forgotten) {
        await this.#store.delete(flow.state).catch(() => undefined);
        this.#ended(
          flow.state,
          flow.request?.provider ?? this.#providers.defaultId,
          WAIT_END_CODES[error.why],
        );
      }
      switch (error.why) {
        case 'stopping':
          throw shuttingDown(error);
        case 'cancelled':
          throw new BrokerError(
            'flow_cleared',
            owner || flow.origin === 'solo'
              ? 'The app went away; the sign-in was cancelled.'
              : 'The request went away; the sign-in stays with the app that started it.',
            { cause: error },
          );
        case 'timeout':
          throw new BrokerError(
            'wait_timeout',
            'No answer from the browser in time; the sign-in was not completed.',
          );
      }
    }
    switch (result.kind) {
      case 'cleared':
        throw new BrokerError('flow_cleared', 'The sign-in was cleared before it completed.');
      case 'gone':
        throw new BrokerError(
          'flow_cleared',
          'The sign-in was cancelled or expired before it completed.',
        );
      case 'outcome':
        return result.flow.outcome;
    }
  }
}

/** How a flow that a wait's end forgets is counted: its answer's code, or `cancelled` for a hang-up. */
const WAIT_END_CODES = {
  stopping: 'shutting_down',
  cancelled: 'cancelled',
  timeout: 'wait_timeout',
} as const satisfies Record<WaitEnded['why'], FlowEnd>;

function shuttingDown(cause?: unknown): BrokerError {
  return new BrokerError(
    'shutting_down',
    'The broker is stopping; ask again for this state to resume the sign-in.',
    { cause, retryAfter: 1 },
  );
}

/** Who a validated ID token names, where one came. */
function subjectOf(tokens: TokenSet): Subject | undefined {
  return tokens.claims && { iss: tokens.claims.iss, sub: tokens.claims.sub };
}

function outcomeError(outcome: {
  reason: 'denied' | 'invalid';
  error: string;
  description?: string;
}): BrokerError {
  if (outcome.reason === 'denied') {
    return new BrokerError(
      'access_denied',
      outcome.description ?? `The identity provider refused the sign-in (${outcome.error}).`,
      { oauthError: outcome.error },
    );
  }
  return new BrokerError(
    'invalid_callback',
    outcome.description ?? 'The callback failed validation.',
    {
      oauthError: outcome.error,
    },
  );
}
