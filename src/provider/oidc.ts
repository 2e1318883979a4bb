/**
 * The IdentityProvider on a real OpenID provider, through oauth4webapi: the
 * authorize URL, callback validation, code exchange and refresh (discovery is
 * discovery.ts).
 * ID tokens from the token endpoint are then verified again, signature
 * included, by id-token.ts.
 *
 * Every failure leaves here as a BrokerError; messages name what went wrong
 * and never contain codes, verifiers or tokens.
 */
import * as oauth from 'oauth4webapi';
import type { FetchImplementation, JWTVerifyGetKey, RemoteJWKSetOptions } from 'jose';
import { BrokerError } from '../errors.js';
import { expectedAlgorithms, skipNonceCheck } from './id-token-policy.js';
import { limitBodies } from './body-limit.js';
import { buildRequestOptions, discover, type RequestOptions } from './discovery.js';
import {
  contentType,
  formatSeconds,
  isArgumentError,
  isRecord,
  isTimeout,
  networkReason,
  oauthErrorCode,
  oauthErrorOf,
  parseJson,
  sanitize,
} from './http-util.js';
import { issuerProblem, matchesDomain } from './issuer.js';
import type {
  AuthorizeParams,
  CallbackCheck,
  CodeExchange,
  IdentityProvider,
  IdTokenClaims,
  RefreshRequest,
  TokenSet,
} from './types.js';

export interface ProviderConfig {
  /** The exact issuer identifier; discovery at issuer (trailing slash stripped) + '/.well-known/openid-configuration'. */
  issuer: string;
  clientId: string;
  /** Absent: public client (`none`); present: `client_secret_post`. */
  clientSecret?: string;
  /** Timeout of every outbound request. Default 10 000 ms. */
  timeoutMs?: number;
  /** Minimum interval between JWKS refetches on an unknown `kid`. Default 5 000 ms. */
  jwksCooldownMs?: number;
  /** Tolerated clock skew on ID token times. Default 30 s. */
  clockToleranceSec?: number;
  /** Transport, for tests and proxies. Default: the global fetch. */
  fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_JWKS_COOLDOWN_MS = 5_000;
const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/**
 * Fetches and checks the provider's discovery document and returns the
 * provider client. Any problem is a BrokerError `startup_failed` with a one-line
 * message a person can act on.
 */
export async function discoverProvider(config: ProviderConfig): Promise<IdentityProvider> {
  const problem = issuerProblem(config.issuer);
  if (problem !== undefined) throw new BrokerError('startup_failed', problem);
  if (config.clientId === '')
    throw new BrokerError('startup_failed', 'The client id must not be empty');

  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const issuerUrl = new URL(config.issuer);
  // One capped transport for everything read from the provider: oauth4webapi's requests and jose's JWKS.
  const transport = limitBodies(config.fetch ?? ((input, init) => fetch(input, init)));
  const requestOptions = buildRequestOptions(transport, issuerUrl, timeoutMs);
  const as = await discover(config.issuer, issuerUrl, requestOptions, timeoutMs);
  return new OidcProvider(config, as, transport, requestOptions, timeoutMs);
}

class OidcProvider implements IdentityProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly authorizationOrigin: string;
  readonly requiresIssParameter: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;

  readonly #as: oauth.AuthorizationServer;
  readonly #client: oauth.Client;
  readonly #clientAuth: oauth.ClientAuth;
  readonly #clientSecret: string | undefined;
  readonly #options: RequestOptions;
  readonly #timeoutMs: number;
  readonly #jwksUri: URL;
  readonly #jwksCooldownMs: number;
  readonly #transport: typeof fetch;
  #keys: JWTVerifyGetKey | undefined;
  readonly #algorithms: string[];
  readonly #clockToleranceSec: number;
  readonly #authorizationEndpoint: string;

  constructor(
    config: ProviderConfig,
    as: oauth.AuthorizationServer,
    transport: typeof fetch,
    options: RequestOptions,
    timeoutMs: number,
  ) {
    this.#as = as;
    this.issuer = as.issuer;
    this.clientId = config.clientId;
    this.#clientSecret = config.clientSecret;
    this.#clockToleranceSec = config.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
    this.#client = {
      client_id: config.clientId,
      token_endpoint_auth_method: config.clientSecret === undefined ? 'none' : 'client_secret_post',
      [oauth.clockTolerance]: this.#clockToleranceSec,
    };
    this.#clientAuth =
      config.clientSecret === undefined
        ? oauth.None()
        : oauth.ClientSecretPost(config.clientSecret);
    this.#options = options;
    this.#timeoutMs = timeoutMs;
    this.#authorizationEndpoint = as.authorization_endpoint as string;
    this.authorizationOrigin = new URL(this.#authorizationEndpoint).origin;
    this.requiresIssParameter = as.authorization_response_iss_parameter_supported === true;
    this.metadata = deepFreeze(structuredClone(as) as Record<string, unknown>);

    this.#jwksUri = new URL(as.jwks_uri as string);
    this.#jwksCooldownMs = config.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
    this.#transport = transport;
    this.#algorithms = expectedAlgorithms({ metadata: this.metadata });
  }

  authorizationUrl(params: AuthorizeParams): URL {
    const url = new URL(this.#authorizationEndpoint);
    const { extra, ...named } = params;
    const given = new Set<string>();
    for (const [name, value] of Object.entries(named)) {
      if (value === undefined) continue;
      url.searchParams.set(name, value);
      given.add(name);
    }
    // Extra parameters are appended verbatim but cannot replace a parameter given above (state, nonce, challenge…).
    for (const [name, value] of Object.entries(extra ?? {})) {
      if (!given.has(name)) url.searchParams.append(name, value);
    }
    return url;
  }

  checkCallback(params: URLSearchParams, expectedState: string): CallbackCheck {
    if (expectedState === '')
      return {
        ok: false,
        kind: 'invalid',
        error: 'invalid_request',
        description: 'no state is expected',
      };
    let validated: URLSearchParams;
    try {
      validated = oauth.validateAuthResponse(this.#as, this.#client, params, expectedState);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) return providerRefusal(err);
      return {
        ok: false,
        kind: 'invalid',
        error: 'invalid_request',
        description: callbackReason(err),
      };
    }
    const code = validated.get('code');
    if (code === null || code === '')
      return {
        ok: false,
        kind: 'invalid',
        error: 'invalid_request',
        description: 'the callback carries no code',
      };
    const iss = validated.get('iss');
    return iss === null ? { ok: true, code } : { ok: true, code, iss };
  }

  async exchangeCode(exchange: CodeExchange): Promise<TokenSet> {
    const params = new URLSearchParams({ code: exchange.code, state: exchange.state });
    if (exchange.iss !== undefined) params.set('iss', exchange.iss);
    let validated: URLSearchParams;
    try {
      // The branded parameters are what authorizationCodeGrantRequest demands: no exchange without validation.
      validated = oauth.validateAuthResponse(this.#as, this.#client, params, exchange.state);
    } catch (err) {
      throw new BrokerError(
        'invalid_request',
        `The authorization response is not valid: ${callbackReason(err)}`,
        {
          oauthError: 'invalid_request',
          cause: err,
        },
      );
    }
    if (exchange.code === '' || exchange.verifier === '' || exchange.redirectUri === '') {
      throw new BrokerError(
        'invalid_request',
        'code, code_verifier and redirect_uri must not be empty',
        { oauthError: 'invalid_request' },
      );
    }

    // Never retried: a code is single-use, a second attempt would only burn it (or revoke the grant).
    const { json, tokenType } = await this.#tokenCall(
      'token request',
      () =>
        oauth.authorizationCodeGrantRequest(
          this.#as,
          this.#client,
          this.#clientAuth,
          validated,
          exchange.redirectUri,
          exchange.verifier,
          this.#options,
        ),
      (response) =>
        oauth.processAuthorizationCodeResponse(this.#as, this.#client, response, {
          expectedNonce: exchange.nonce,
          requireIdToken: true,
        }),
    );
    const claims = await this.#validateIdToken(json.id_token as string, exchange.nonce);
    return tokenSet(json, tokenType, claims);
  }

  async refresh(request: RefreshRequest): Promise<TokenSet> {
    if (request.refreshToken === '') {
      throw new BrokerError('invalid_request', 'The refresh token must not be empty', {
        oauthError: 'invalid_request',
      });
    }
    const additionalParameters: Record<string, string> = {};
    if (request.scope !== undefined) additionalParameters['scope'] = request.scope;
    if (request.audience !== undefined) additionalParameters['audience'] = request.audience;
    const { json, tokenType } = await this.#tokenCall(
      'refresh request',
      () =>
        oauth.refreshTokenGrantRequest(
          this.#as,
          this.#client,
          this.#clientAuth,
          request.refreshToken,
          { ...this.#options, additionalParameters },
        ),
      (response) => oauth.processRefreshTokenResponse(this.#as, this.#client, response),
    );
    // OIDC Core §12.2: a refreshed ID token keeps iss/sub/aud; its nonce, if any, is the original one, which we do not keep.
    const claims =
      json.id_token === undefined
        ? undefined
        : await this.#validateIdToken(json.id_token, skipNonceCheck);
    return tokenSet(json, tokenType, claims);
  }

  matchesDomain(domain: string): boolean {
    return matchesDomain(domain, this.issuer, this.#authorizationEndpoint);
  }

  /**
   * jose (and the verification code) load on the first token exchange, not at
   * start-up: it is a third of the broker's import time and `serve` needs it
   * only once someone signs in.
   */
  async #validateIdToken(
    idToken: string,
    nonce: string | typeof skipNonceCheck,
  ): Promise<IdTokenClaims> {
    const [{ validateIdToken }, keys] = await Promise.all([import('./id-token.js'), this.#jwks()]);
    return validateIdToken(idToken, {
      issuer: this.issuer,
      clientId: this.clientId,
      nonce,
      keys,
      algorithms: this.#algorithms,
      clockToleranceSec: this.#clockToleranceSec,
      ...(this.#clientSecret === undefined ? {} : { clientSecret: this.#clientSecret }),
    });
  }

  async #jwks(): Promise<JWTVerifyGetKey> {
    if (this.#keys) return this.#keys;
    const jose = await import('jose');
    const options: RemoteJWKSetOptions = {
      cooldownDuration: this.#jwksCooldownMs,
      timeoutDuration: this.#timeoutMs,
    };
    options[jose.customFetch] = retryOnce(this.#transport);
    // A concurrent first call may have set it meanwhile; keep one cache of keys.
    return (this.#keys ??= jose.createRemoteJWKSet(this.#jwksUri, options));
  }

  /**
   * One token endpoint round trip: transport errors, HTTP status and content
   * type are judged here; oauth4webapi validates the body. Returns the parsed
   * body and the provider's own `token_type` (oauth4webapi lower-cases it).
   */
  async #tokenCall(
    label: string,
    send: () => Promise<Response>,
    process: (response: Response) => Promise<oauth.TokenEndpointResponse>,
  ): Promise<{ json: oauth.TokenEndpointResponse; tokenType: string }> {
    let status: number;
    let headers: Headers;
    let text: string;
    try {
      const response = await send();
      status = response.status;
      headers = response.headers;
      text = await response.text();
    } catch (err) {
      throw this.#transportError(err, label);
    }
    const body = parseJson(text);
    const providerError = oauthErrorOf(body);

    if (status >= 500 || status < 200 || (status >= 300 && status < 400)) {
      throw new BrokerError(
        'provider_error',
        `The identity provider answered ${status} to the ${label}`,
        providerError === undefined ? {} : { oauthError: providerError },
      );
    }
    if (status === 200 && contentType(headers) !== 'application/json') {
      throw new BrokerError(
        'provider_error',
        `The identity provider answered the ${label} with content type ${contentType(headers) || 'none'}, not application/json`,
      );
    }

    let json: oauth.TokenEndpointResponse;
    try {
      json = await process(new Response(text, { status, headers }));
    } catch (err) {
      throw this.#responseError(err, status, label);
    }
    const tokenType =
      isRecord(body) && typeof body['token_type'] === 'string'
        ? body['token_type']
        : json.token_type;
    return { json, tokenType };
  }

  #transportError(err: unknown, label: string): BrokerError {
    if (err instanceof BrokerError) return err;
    if (isTimeout(err)) {
      return new BrokerError(
        'provider_timeout',
        `The identity provider did not answer the ${label} within ${formatSeconds(this.#timeoutMs)}`,
        { cause: err },
      );
    }
    if (isArgumentError(err)) {
      return new BrokerError(
        'invalid_request',
        `The ${label} cannot be made: ${(err as Error).message}`,
        { oauthError: 'invalid_request', cause: err },
      );
    }
    return new BrokerError(
      'provider_unavailable',
      `Cannot reach the identity provider for the ${label} (${networkReason(err)})`,
      { cause: err },
    );
  }

  #responseError(err: unknown, status: number, label: string): BrokerError {
    if (err instanceof oauth.ResponseBodyError) {
      const description =
        err.error_description === undefined ? '' : `: ${sanitize(err.error_description)}`;
      if (err.error === 'invalid_grant') {
        return new BrokerError(
          'invalid_grant',
          `The identity provider refused the grant (invalid_grant)${description}`,
          { oauthError: 'invalid_grant', cause: err },
        );
      }
      return new BrokerError(
        'provider_error',
        `The identity provider answered ${status} to the ${label}: ${sanitize(err.error)}${description}`,
        { oauthError: oauthErrorCode(err.error), cause: err },
      );
    }
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      const error = err.cause.find((challenge) => challenge.parameters.error !== undefined)
        ?.parameters.error;
      return new BrokerError(
        'provider_error',
        `The identity provider answered ${status} to the ${label} with an authentication challenge${error === undefined ? '' : ` (${sanitize(error)})`}`,
        error === undefined ? { cause: err } : { oauthError: oauthErrorCode(error), cause: err },
      );
    }
    const message = err instanceof Error ? err.message : String(err);
    if (
      /JWT|ID Token|id_token/.test(message) ||
      (err instanceof oauth.OperationProcessingError &&
        (err.code === oauth.JWT_CLAIM_COMPARISON || err.code === oauth.JWT_TIMESTAMP_CHECK))
    ) {
      return new BrokerError('provider_error', `The ID token failed validation: ${message}`, {
        oauthError: 'invalid_id_token',
        cause: err,
      });
    }
    if (status >= 400) {
      return new BrokerError(
        'provider_error',
        `The identity provider answered ${status} to the ${label} without an OAuth error`,
        { cause: err },
      );
    }
    return new BrokerError(
      'provider_error',
      `The identity provider's answer to the ${label} is not valid: ${message}`,
      { cause: err },
    );
  }
}

/**
 * The JWKS GET, retried once on a transport error or a 5xx: it is idempotent,
 * and both attempts share jose's one timeout signal, so the bound holds.
 */
function retryOnce(transport: typeof fetch): FetchImplementation {
  return async (url, init) => {
    try {
      const response = await transport(url, init);
      if (response.status < 500) return response;
      await response.body?.cancel().catch(() => undefined);
    } catch (err) {
      if (init.signal.aborted) throw err;
    }
    return transport(url, init);
  };
}

function tokenSet(
  json: oauth.TokenEndpointResponse,
  tokenType: string,
  claims: IdTokenClaims | undefined,
): TokenSet {
  const set: TokenSet = {
    access_token: json.access_token,
    token_type: tokenType,
    expires_in: typeof json.expires_in === 'number' ? json.expires_in : 0,
  };
  if (json.scope !== undefined) set.scope = json.scope;
  if (json.refresh_token !== undefined) set.refresh_token = json.refresh_token;
  if (json.id_token !== undefined) set.id_token = json.id_token;
  if (claims !== undefined) set.claims = claims;
  return set;
}

/**
 * The callback's `error=`: anyone holding the state can send one, and its text
 * reaches the app, the callback page and the log, so the code is checked and
 * the description made one short printable line here, before the flow stores them.
 */
function providerRefusal(err: oauth.AuthorizationResponseError): CallbackCheck {
  const error = oauthErrorCode(err.error);
  const description = sanitize(err.error_description ?? '');
  return description === ''
    ? { ok: false, kind: 'denied', error }
    : { ok: false, kind: 'denied', error, description };
}

/** A short, human reason for a failed authorization response validation (no parameter values). */
function callbackReason(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  if (message.includes('"iss" (issuer) missing'))
    return 'the callback has no iss parameter, which this provider requires (RFC 9207)';
  if (message.includes('unexpected "iss"'))
    return "the callback's iss is not the provider's issuer";
  if (message.includes('"state" missing')) return 'the callback has no state';
  if (message.includes('unexpected "state"'))
    return "the callback's state does not match the flow's";
  if (message.includes('provided only once')) return 'the callback repeats a parameter';
  if (message.includes('JARM')) return 'JARM responses are not supported';
  if (message.includes('implicit and hybrid'))
    return 'implicit and hybrid responses are not supported';
  return 'the callback is not a valid authorization response';
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
