/**
 * The IdentityProvider on a real OpenID provider, through oauth4webapi:
 * discovery, the authorize URL, callback validation, code exchange and refresh.
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
import { endpointAllowed, issuerProblem, matchesDomain } from './issuer.js';
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

/** Characters no provider endpoint needs: controls, whitespace, quotes and shell syntax (`;`, `$`, `|`, backquote…). */
// eslint-disable-next-line no-control-regex
const UNSAFE_ENDPOINT_CHARS = /[\u0000-\u0020\u007f"'`$;|<>\\^{}()]/;

/** Endpoints a provider's discovery document must list for the code flow with ID tokens. */
const REQUIRED_ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const;

type RequestOptions = oauth.HttpRequestOptions<'GET' | 'POST', URLSearchParams | undefined>;

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
  const requestOptions = buildRequestOptions(config, issuerUrl, timeoutMs);
  const as = await discover(config.issuer, issuerUrl, requestOptions, timeoutMs);
  return new OidcProvider(config, as, requestOptions, timeoutMs);
}

function buildRequestOptions(
  config: ProviderConfig,
  issuerUrl: URL,
  timeoutMs: number,
): RequestOptions {
  const options: RequestOptions = { signal: () => AbortSignal.timeout(timeoutMs) };
  const transport = config.fetch;
  if (transport !== undefined)
    options[oauth.customFetch] = (url, init) => transport(url, init as RequestInit);
  // oauth4webapi refuses http:// unless told; issuerProblem() has already limited http to loopback.
  if (issuerUrl.protocol === 'http:') options[oauth.allowInsecureRequests] = true;
  return options;
}

function discoveryUrlOf(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

async function discover(
  issuer: string,
  issuerUrl: URL,
  options: RequestOptions,
  timeoutMs: number,
): Promise<oauth.AuthorizationServer> {
  const where = discoveryUrlOf(issuer);
  const response = await fetchDiscovery(issuer, issuerUrl, options, timeoutMs);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new BrokerError(
      'startup_failed',
      `The discovery document at ${where} answered HTTP ${response.status}; check the issuer URL`,
    );
  }

  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(issuerUrl, response);
  } catch (err) {
    throw discoveryError(err, issuer, where);
  }
  // oauth4webapi parses any content type; JSON served as something else is a misconfigured or hijacked endpoint.
  const type = contentType(response.headers);
  if (type !== 'application/json') {
    throw new BrokerError(
      'startup_failed',
      `The discovery document at ${where} is served as ${sanitize(type) || 'no content type'}, not application/json`,
    );
  }
  // oauth4webapi compares the issuers as parsed URLs; OIDC Discovery §4.3 wants the exact string.
  if (as.issuer !== issuer) {
    throw new BrokerError(
      'startup_failed',
      `The issuer ${issuer} answered with issuer ${sanitize(as.issuer)}; they must match exactly`,
    );
  }

  for (const name of REQUIRED_ENDPOINTS) {
    if (as[name] === undefined)
      throw new BrokerError('startup_failed', `The discovery document at ${where} has no ${name}`);
  }
  for (const [name, value] of Object.entries(as)) {
    if (!(name.endsWith('_endpoint') || name === 'jwks_uri')) continue;
    const url = typeof value === 'string' ? parseUrl(value) : undefined;
    if (url === undefined)
      throw new BrokerError(
        'startup_failed',
        `The discovery document at ${where} has a ${name} that is not a URL`,
      );
    // Harmless to a spawn without a shell, but no real endpoint has them and a shell-based opener elsewhere would run them.
    if (UNSAFE_ENDPOINT_CHARS.test(value as string)) {
      throw new BrokerError(
        'startup_failed',
        `The discovery document at ${where} lists a ${name} with whitespace, quotes or shell metacharacters; refused`,
      );
    }
    if (!endpointAllowed(url, issuerUrl)) {
      const rule = issuerUrl.protocol === 'http:' ? 'on loopback, like the issuer' : 'https';
      throw new BrokerError(
        'startup_failed',
        `The discovery document at ${where} lists ${name} ${url.href}, which is not ${rule}`,
      );
    }
  }
  const methods = as.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new BrokerError(
      'startup_failed',
      `The identity provider at ${issuer} does not support PKCE with S256 (code_challenge_methods_supported)`,
    );
  }
  return as;
}

/** The discovery GET, retried once on a transport failure or a 5xx (it is idempotent); never on a 4xx. */
async function fetchDiscovery(
  issuer: string,
  issuerUrl: URL,
  options: RequestOptions,
  timeoutMs: number,
): Promise<Response> {
  const attempts = 2;
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await oauth.discoveryRequest(issuerUrl, {
        ...options,
        algorithm: 'oidc',
      } as oauth.DiscoveryRequestOptions);
    } catch (err) {
      if (attempt < attempts) continue;
      if (isTimeout(err)) {
        throw new BrokerError(
          'startup_failed',
          `The identity provider at ${issuer} did not answer within ${formatSeconds(timeoutMs)}`,
          { cause: err },
        );
      }
      throw new BrokerError(
        'startup_failed',
        `Cannot reach the identity provider at ${issuer} (${networkReason(err)})`,
        { cause: err },
      );
    }
    if (response.status >= 500 && attempt < attempts) {
      await response.body?.cancel().catch(() => undefined);
      continue;
    }
    return response;
  }
}

function discoveryError(err: unknown, issuer: string, where: string): BrokerError {
  const code = err instanceof oauth.OperationProcessingError ? err.code : undefined;
  switch (code) {
    case oauth.PARSE_ERROR:
    case oauth.RESPONSE_IS_NOT_JSON:
      return new BrokerError(
        'startup_failed',
        `The discovery document at ${where} is not valid JSON`,
        { cause: err },
      );
    case oauth.JSON_ATTRIBUTE_COMPARISON: {
      const body = (err as { cause?: { body?: { issuer?: unknown } } }).cause?.body;
      const answered = typeof body?.issuer === 'string' ? body.issuer : 'another issuer';
      return new BrokerError(
        'startup_failed',
        `The issuer ${issuer} answered with issuer ${sanitize(answered)}; they must match exactly`,
        { cause: err },
      );
    }
    case oauth.INVALID_RESPONSE:
      return new BrokerError(
        'startup_failed',
        /issuer/.test((err as Error).message)
          ? `The discovery document at ${where} has no issuer`
          : `The discovery document at ${where} is not a JSON object`,
        { cause: err },
      );
    default:
      // new URL(body.issuer) threw: the document's issuer is not a URL.
      if (err instanceof TypeError)
        return new BrokerError(
          'startup_failed',
          `The discovery document at ${where} has an issuer that is not a URL`,
          { cause: err },
        );
      return new BrokerError(
        'startup_failed',
        `The discovery document at ${where} is not usable (${(err as Error).message})`,
        { cause: err },
      );
  }
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
    this.#transport = config.fetch ?? fetch;
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
      if (err instanceof oauth.AuthorizationResponseError) {
        return err.error_description === undefined
          ? { ok: false, kind: 'denied', error: err.error }
          : { ok: false, kind: 'denied', error: err.error, description: err.error_description };
      }
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
        {
          oauthError: err.error,
          cause: err,
        },
      );
    }
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      const error = err.cause.find((challenge) => challenge.parameters.error !== undefined)
        ?.parameters.error;
      return new BrokerError(
        'provider_error',
        `The identity provider answered ${status} to the ${label} with an authentication challenge${error === undefined ? '' : ` (${sanitize(error)})`}`,
        error === undefined ? { cause: err } : { oauthError: error, cause: err },
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

function isTimeout(err: unknown): boolean {
  for (
    let current = err, depth = 0;
    current instanceof Error && depth < 5;
    current = current.cause, depth++
  ) {
    if (current.name === 'TimeoutError') return true;
  }
  return false;
}

/** oauth4webapi's own argument checks (CodedTypeError), as opposed to fetch's TypeError. */
function isArgumentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_INVALID_ARG');
}

/** ECONNREFUSED, ENOTFOUND, … from undici's error chain, else the message. */
function networkReason(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('ERR_INVALID_ARG')) return code;
    if (current instanceof AggregateError) {
      const first: unknown = current.errors[0];
      const inner = (first as { code?: unknown } | undefined)?.code;
      if (typeof inner === 'string') return inner;
    }
    current = current.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function contentType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oauthErrorOf(body: unknown): string | undefined {
  return isRecord(body) && typeof body['error'] === 'string' && body['error'] !== ''
    ? sanitize(body['error'])
    : undefined;
}

/** Provider text goes into messages: keep it one short printable line. */
function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
