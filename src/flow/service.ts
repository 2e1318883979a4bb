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
  type TokenizedPKCE,
} from '../protocol/models.js';
import { newChallenge, randomToken, verifierMatchesChallenge } from '../protocol/pkce.js';
import type { IdentityProvider } from '../provider/types.js';
import type { FlowRecord, FlowStore } from '../store/types.js';
import { authorizeParams, checkSeed, given, resolveRequest, type SeedPolicy } from './seed.js';
import { tokenAnswer } from './token-answer.js';

export interface FlowServiceOptions {
  store: FlowStore;
  provider: IdentityProvider;
  policy: SeedPolicy;
  waitTimeoutMs: number;
  /** Hands the authorize URL to the user's browser; failures are the opener's to report. */
  openAuthorizeUrl(url: URL): void | Promise<void>;
}

/** A state an app may choose for a flow of its own: printable ASCII, bounded. */
const APP_STATE = /^[\x21-\x7e]{8,512}$/;
/** An S256 challenge is exactly 43 base64url characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

function invalidRequest(message: string): BrokerError {
  return new BrokerError('invalid_request', message, { oauthError: 'invalid_request' });
}

function invalidGrant(message: string): BrokerError {
  return new BrokerError('invalid_grant', message, { oauthError: 'invalid_grant' });
}

const UNKNOWN_STATE = 'Unknown, expired or already used state.';

export class FlowService {
  readonly #store: FlowStore;
  readonly #provider: IdentityProvider;
  readonly #policy: SeedPolicy;
  readonly #waitTimeoutMs: number;
  readonly #open: (url: URL) => void | Promise<void>;
  readonly #stopping = new AbortController();

  constructor(options: FlowServiceOptions) {
    this.#store = options.store;
    this.#provider = options.provider;
    this.#policy = options.policy;
    this.#waitTimeoutMs = options.waitTimeoutMs;
    this.#open = options.openAuthorizeUrl;
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
   * for its callback. `cancelled` aborts when the app goes away; the flow is
   * then forgotten.
   */
  async authorize(seed: SeededPKCE, cancelled: AbortSignal): Promise<PKCE> {
    checkSeed(seed, this.#policy);
    const flow = await this.#flowFor(seed);
    const request = resolveRequest(seed, this.#policy);
    const echoed: SeededPKCE = {
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
    if (!flow.outcome) {
      const url = this.#provider.authorizationUrl(authorizeParams(seed, request, flow));
      // Kept on the flow so a terminal client holding the state can show it (GET /pkce/authorize-url).
      if (!(await this.#store.attachRequest(flow.state, { ...request, authorizeUrl: url.href }))) {
        throw invalidRequest(UNKNOWN_STATE);
      }
      await this.#open(url);
    }
    const result = await this.#wait(flow.state, cancelled);
    return { schema: MODEL_SCHEMA, seed: echoed, result };
  }

  /** POST|GET /pkce/response/code */
  async callback(params: URLSearchParams): Promise<ResultedPKCE> {
    const state = params.get('state');
    if (!state)
      throw new BrokerError('invalid_callback', 'The callback carries no state.', {
        oauthError: 'invalid_request',
      });
    const flow = await this.#store.get(state);
    if (!flow || flow.outcome) {
      throw new BrokerError('invalid_callback', UNKNOWN_STATE, { oauthError: 'invalid_request' });
    }
    const check = this.#provider.checkCallback(params, flow.state);
    if (!check.ok) {
      const outcome = {
        kind: 'error' as const,
        reason: check.kind,
        error: check.error,
        ...(check.description !== undefined && { description: check.description }),
      };
      await this.#store.complete(state, outcome);
      throw outcomeError(outcome);
    }
    const completed = await this.#store.complete(state, {
      kind: 'code',
      code: check.code,
      ...(check.iss !== undefined && { iss: check.iss }),
    });
    if (!completed) {
      throw new BrokerError('invalid_callback', UNKNOWN_STATE, { oauthError: 'invalid_request' });
    }
    return { schema: MODEL_SCHEMA, code: check.code, state };
  }

  /** POST /pkce/token */
  async token(body: TokenizedPKCE): Promise<PKCE> {
    const grantType = given(body.grant_type);
    const code = given(body.code);
    if (grantType === 'refresh_token') {
      if (!code) throw invalidRequest('A refresh_token grant carries the refresh token in "code".');
      const audience = given(body.audience) ?? this.#policy.audience;
      const tokens = await this.#provider.refresh({
        refreshToken: code,
        ...(audience !== undefined && { audience }),
      });
      return tokenAnswer(this.#provider, this.#policy, 'refresh_token', tokens, {
        redirectUri: given(body.redirect_uri) ?? this.#policy.redirectUri,
        audience,
      });
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
    const clientId = given(body.client_id);
    if (clientId !== undefined && clientId !== this.#policy.clientId) {
      throw invalidRequest('client_id does not match the configured client.');
    }
    const flow = await this.#store.redeemCode(code);
    if (!flow || flow.outcome?.kind !== 'code') {
      throw invalidGrant(
        'This code was not received by the broker, was already used, or has expired.',
      );
    }
    const request = flow.request ?? resolveRequest({}, this.#policy);
    const redirectUri = given(body.redirect_uri);
    if (redirectUri !== undefined && redirectUri !== request.redirect_uri) {
      throw invalidGrant('redirect_uri differs from the one the code was issued for.');
    }
    const verifier = this.#verifierFor(flow, given(body.code_verifier));
    const tokens = await this.#provider.exchangeCode({
      code,
      ...(flow.outcome.iss !== undefined && { iss: flow.outcome.iss }),
      state: flow.state,
      redirectUri: request.redirect_uri,
      verifier,
      nonce: flow.nonce,
    });
    return tokenAnswer(this.#provider, this.#policy, 'authorization_code', tokens, {
      redirectUri: request.redirect_uri,
      audience: request.audience,
    });
  }

  /** POST /pkce/clear */
  async clear(): Promise<void> {
    await this.#store.clear();
  }

  async #flowFor(seed: SeededPKCE): Promise<FlowRecord> {
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
      return existing;
    }
    const challenge = given(seed.code_challenge);
    if (challenge === undefined) {
      if (state !== undefined) throw invalidRequest(UNKNOWN_STATE);
      // An empty seed: the broker runs the whole flow from its configuration.
      const values = newChallenge();
      return this.#create({ ...values, origin: 'broker' });
    }
    // The app prepared this flow itself and holds the verifier.
    if (!S256_CHALLENGE.test(challenge))
      throw invalidRequest('code_challenge is not an S256 challenge.');
    if (state !== undefined && !APP_STATE.test(state)) {
      throw invalidRequest('state must be 8 to 512 printable ASCII characters.');
    }
    return this.#create({
      state: state ?? randomToken(),
      nonce: given(seed.nonce) ?? randomToken(),
      challenge,
      origin: 'app',
    });
  }

  async #create(values: Omit<FlowRecord, 'createdAt' | 'expiresAt'>): Promise<FlowRecord> {
    const flow: FlowRecord = { ...values, createdAt: 0, expiresAt: 0 };
    await this.#store.create(flow);
    return flow;
  }

  #verifierFor(flow: FlowRecord, offered: string | undefined): string {
    if (offered !== undefined && !verifierMatchesChallenge(offered, flow.challenge)) {
      throw invalidGrant('code_verifier does not match the code_challenge of this flow.');
    }
    const verifier = offered ?? flow.verifier;
    if (verifier === undefined) {
      throw invalidGrant('This flow was prepared by the app: code_verifier is required.');
    }
    return verifier;
  }

  /**
   * Ends every waiting POST /pkce/code with 503 and leaves their flows in the
   * store: a broker going down must not hold its shutdown for the browser, nor
   * forget sign-ins that another broker (or this one, restarted) can finish.
   */
  stop(): void {
    this.#stopping.abort(new Error('broker stopping'));
  }

  async #wait(state: string, cancelled: AbortSignal): Promise<ResultedPKCE> {
    const timeout = AbortSignal.timeout(this.#waitTimeoutMs);
    const signal = AbortSignal.any([timeout, cancelled, this.#stopping.signal]);
    let outcome;
    try {
      outcome = await this.#store.waitForOutcome(state, signal);
    } catch (error) {
      if (this.#stopping.signal.aborted) {
        throw new BrokerError(
          'shutting_down',
          'The broker is stopping; ask again for this state to resume the sign-in.',
          { cause: error, retryAfter: 1 },
        );
      }
      if (cancelled.aborted) {
        await this.#store.delete(state);
        throw new BrokerError('flow_cleared', 'The app went away; the sign-in was cancelled.', {
          cause: error,
        });
      }
      if (timeout.aborted) {
        throw new BrokerError(
          'wait_timeout',
          'No answer from the browser in time; the sign-in was not completed.',
        );
      }
      throw isBrokerError(error)
        ? error
        : new BrokerError('internal', 'Waiting for the sign-in failed.', { cause: error });
    }
    switch (outcome.kind) {
      case 'cleared':
        throw new BrokerError('flow_cleared', 'The sign-in was cleared before it completed.');
      case 'gone':
        throw new BrokerError(
          'flow_cleared',
          'The sign-in was cancelled or expired before it completed.',
        );
      case 'outcome': {
        const result = outcome.flow.outcome;
        if (result.kind === 'error') throw outcomeError(result);
        return { schema: MODEL_SCHEMA, code: result.code, state };
      }
    }
  }
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
