/**
 * The IdentityProvider on a real OpenID provider, through oauth4webapi: the
 * authorize URL, callback validation, code exchange and refresh (discovery is
 * discovery.ts). oauth4webapi checks ID token claims; id-token.ts then
 * verifies the signature.
 *
 * Every failure leaves here as a BrokerError made by upstream-errors.ts;
 * messages name what went wrong and never contain codes, verifiers or tokens.
 */
import { performance } from 'node:perf_hooks';
import * as oauth from 'oauth4webapi';
import type { FetchImplementation, JWTVerifyGetKey, RemoteJWKSetOptions } from 'jose';
import { BrokerError } from '../errors.js';
import { limitBodies } from './body-limit.js';
import {
  deviceFlowUnsupported,
  offersDeviceFlow,
  pollAnswer,
  requestDeviceAuthorization,
  type DeviceEndpoint,
} from './device.js';
import {
  acceptKeptMetadata,
  buildRequestOptions,
  discover,
  type RequestOptions,
} from './discovery.js';
import { issuerForTenant, tenantIssuerTemplate } from './entra.js';
import { inferKind, issuerProblem, matchesDomain } from './issuer.js';
import type {
  AuthorizeParams,
  CallbackCheck,
  CodeExchange,
  DeviceAuthorization,
  DeviceAuthorizationRequest,
  DevicePoll,
  IdentityProvider,
  IdTokenClaims,
  LogoutRequest,
  ProviderKind,
  RefreshRequest,
  TokenSet,
  TokenTypeHint,
  UserInfoOutcome,
  ValidatedCallback,
} from './types.js';
import type { ParChoice, ResponseModeChoice } from './choices.js';
import { responseModesOf, type ResponseModes } from './response-mode.js';
import { outcomeOf, roundTrip } from './round-trip.js';
import {
  buildLogoutUrl,
  fetchUserInfo,
  revokeToken,
  sessionCapabilities,
  type SessionClient,
} from './session.js';
import {
  callbackProblem,
  idTokenError,
  invalidAnswer,
  unexpectedStatus,
  type CallObserver,
  type ProviderEndpoint,
  type UpstreamCall,
} from './upstream-errors.js';

export interface ProviderConfig {
  /** Default `default`: the id flows record (registry.ts). */
  id?: string;
  /** Default: inferred from the issuer's host (inferKind). */
  kind?: ProviderKind;
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
  /** --response-mode. Default `auto`: form_post where discovery lists it, else query. */
  responseMode?: ResponseModeChoice;
  /** --par. Default `auto`: push where the provider advertises pushed_authorization_request_endpoint. */
  par?: ParChoice;
  /** Told of every request to this provider, discovery included (--metrics). */
  observe?: CallObserver;
  /** Ends the discovery request early (a background revalidation when the broker closes). */
  signal?: AbortSignal;
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
  refuseConfig(config);
  const { transport, requestOptions, timeoutMs } = transportOf(config);
  const { signal } = config;
  const discoveryOptions: RequestOptions =
    signal === undefined
      ? requestOptions
      : {
          ...requestOptions,
          signal: () => AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]),
        };
  const as = await observed(config.observe, 'discovery', () =>
    discover(config.issuer, new URL(config.issuer), discoveryOptions, timeoutMs),
  );
  return new OidcProvider(config, as, transport, requestOptions, timeoutMs);
}

/**
 * The provider client on a discovery document kept from an earlier run
 * (discovery-cache.ts), with no request at all: the document must pass what
 * a fresh one does (acceptKeptMetadata), and the client is built as
 * discoverProvider builds it. Nothing here touches fetch, Response or
 * Headers, so Node's bundled undici stays unloaded until the first request.
 */
export function providerFromKeptMetadata(
  config: ProviderConfig,
  metadata: unknown,
): IdentityProvider {
  refuseConfig(config);
  const as = acceptKeptMetadata(metadata, config.issuer, new URL(config.issuer));
  const { transport, requestOptions, timeoutMs } = transportOf(config);
  return new OidcProvider(config, as, transport, requestOptions, timeoutMs);
}

function refuseConfig(config: ProviderConfig): void {
  const problem = issuerProblem(config.issuer);
  if (problem !== undefined) throw new BrokerError('startup_failed', problem);
  if (config.clientId === '')
    throw new BrokerError('startup_failed', 'The client id must not be empty');
}

/**
 * The provider client on metadata fetched already, and not necessarily
 * accepted by discover(): `pkce-broker doctor` reports every rule the document
 * breaks and still sends the authorize request the broker would (to endpoints
 * it has checked itself).
 */
export function providerOnMetadata(
  config: ProviderConfig,
  as: oauth.AuthorizationServer,
): IdentityProvider {
  const { transport, requestOptions, timeoutMs } = transportOf(config);
  return new OidcProvider(config, as, transport, requestOptions, timeoutMs);
}

/** Calls that do not go through roundTrip (discovery, the JWKS inside jose), timed the same way. */
async function observed<T>(
  observe: CallObserver | undefined,
  endpoint: ProviderEndpoint,
  run: () => Promise<T>,
  call?: UpstreamCall,
): Promise<T> {
  if (observe === undefined) return run();
  const began = performance.now();
  try {
    const answer = await run();
    observe(endpoint, 'ok', (performance.now() - began) / 1000);
    return answer;
  } catch (err) {
    observe(endpoint, outcomeOf(err, call), (performance.now() - began) / 1000);
    throw err;
  }
}

function transportOf(config: ProviderConfig): {
  transport: typeof fetch;
  requestOptions: RequestOptions;
  timeoutMs: number;
} {
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // One capped transport for everything read from the provider: oauth4webapi's requests and jose's JWKS.
  const transport = limitBodies(config.fetch ?? ((input, init) => fetch(input, init)));
  const requestOptions = buildRequestOptions(transport, new URL(config.issuer), timeoutMs);
  return { transport, requestOptions, timeoutMs };
}

class OidcProvider implements IdentityProvider {
  readonly id: string;
  readonly kind: ProviderKind;
  readonly issuer: string;
  readonly clientId: string;
  readonly authorizationOrigin: string;
  readonly requiresIssParameter: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly responseModes: ResponseModes;
  readonly startupWarnings: readonly string[];
  readonly hasDeviceFlow: boolean;
  readonly hasRevocation: boolean;
  readonly hasUserInfo: boolean;
  readonly hasLogout: boolean;

  readonly #as: oauth.AuthorizationServer;
  readonly #client: oauth.Client;
  readonly #clientAuth: oauth.ClientAuth;
  readonly #clientSecret: string | undefined;
  readonly #options: RequestOptions;
  readonly #clockToleranceSec: number;
  readonly #authorizationEndpoint: string;
  readonly #jwksUri: URL;
  readonly #jwksCooldownMs: number;
  readonly #transport: typeof fetch;
  /** Entra's `…/{tenantid}/v2.0` where the provider is Microsoft's multi-tenant one (entra.ts). */
  readonly #issuerTemplate: string | undefined;
  #keys: JWTVerifyGetKey | undefined;

  readonly #tokenRequest: UpstreamCall;
  readonly #refreshRequest: UpstreamCall;
  readonly #jwksRequest: UpstreamCall;
  readonly #parRequest: UpstreamCall;
  readonly #deviceRequest: UpstreamCall;
  readonly #deviceTokenRequest: UpstreamCall;
  /** Authorize parameters go to the pushed_authorization_request_endpoint first (RFC 9126). */
  readonly #pushes: boolean;
  /** Revocation and user info (session.ts). */
  readonly #session: SessionClient;

  constructor(
    config: ProviderConfig,
    as: oauth.AuthorizationServer,
    transport: typeof fetch,
    options: RequestOptions,
    timeoutMs: number,
  ) {
    this.#as = as;
    this.id = config.id ?? 'default';
    this.kind = config.kind ?? inferKind(config.issuer);
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
    this.#authorizationEndpoint = as.authorization_endpoint as string;
    this.authorizationOrigin = new URL(this.#authorizationEndpoint).origin;
    this.requiresIssParameter = as.authorization_response_iss_parameter_supported === true;
    this.metadata = deepFreeze(structuredClone(as) as Record<string, unknown>);
    const warnings: string[] = [];
    const { modes, warning } = responseModesOf(as, config.responseMode ?? 'auto', as.issuer);
    this.responseModes = modes;
    if (warning !== undefined) warnings.push(warning);
    this.startupWarnings = Object.freeze(warnings);

    this.#jwksUri = new URL(as.jwks_uri as string);
    this.#jwksCooldownMs = config.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
    this.#transport = transport;
    // discover() accepted the template only for such a configured issuer.
    this.#issuerTemplate = tenantIssuerTemplate(config.issuer);

    const { observe } = config;
    this.#tokenRequest = { endpoint: 'token', name: 'token request', timeoutMs, observe };
    this.#refreshRequest = { endpoint: 'refresh', name: 'refresh request', timeoutMs, observe };
    this.#jwksRequest = {
      endpoint: 'jwks',
      name: 'request for its signing keys (JWKS)',
      timeoutMs,
      observe,
    };
    // What the provider refuses in a push is the authorization request the app asked for.
    this.#parRequest = {
      endpoint: 'par',
      name: 'pushed authorization request',
      timeoutMs,
      judgesRequest: true,
      observe,
    };
    this.#pushes = pushesAuthorizationRequests(as, config.par ?? 'auto');
    this.hasDeviceFlow = offersDeviceFlow(as);
    // The provider judges the scope and audience the app asked for, as with PAR.
    this.#deviceRequest = {
      endpoint: 'device_authorization',
      name: 'device authorization request',
      timeoutMs,
      judgesRequest: true,
      observe,
    };
    this.#deviceTokenRequest = {
      endpoint: 'device_token',
      name: 'device token request',
      timeoutMs,
      observe,
    };
    ({
      hasRevocation: this.hasRevocation,
      hasUserInfo: this.hasUserInfo,
      hasLogout: this.hasLogout,
    } = sessionCapabilities(as, this.kind));
    this.#session = {
      as,
      client: this.#client,
      clientAuth: this.#clientAuth,
      options,
      timeoutMs,
      observe,
    };
  }

  startDeviceAuthorization(request: DeviceAuthorizationRequest): Promise<DeviceAuthorization> {
    if (!this.hasDeviceFlow) return Promise.reject(deviceFlowUnsupported(this.issuer));
    return requestDeviceAuthorization(this.#deviceEndpoint(this.#deviceRequest), request);
  }

  async pollDeviceToken(deviceCode: string): Promise<DevicePoll> {
    if (!this.hasDeviceFlow) throw deviceFlowUnsupported(this.issuer);
    const call = this.#deviceTokenRequest;
    // Not retried here: the poller asks again at its next interval.
    const answer = await roundTrip<{ poll: DevicePoll } | { json: oauth.TokenEndpointResponse }>({
      call,
      send: () =>
        oauth.deviceCodeGrantRequest(
          this.#as,
          this.#client,
          this.#clientAuth,
          deviceCode,
          this.#options,
        ),
      // oauth4webapi checks the ID token's claims as for the code exchange (iss, aud, azp,
      // exp, iat, sub); a device sign-in has no nonce.
      process: async (response) => {
        try {
          return {
            json: await oauth.processDeviceCodeResponse(
              await this.#asFor(response),
              this.#client,
              response,
            ),
          };
        } catch (err) {
          const poll = pollAnswer(err);
          if (poll === undefined) throw err;
          return { poll };
        }
      },
    });
    if ('poll' in answer) return answer.poll;
    const { json } = answer;
    if (json.token_type !== 'bearer')
      throw invalidAnswer(call, `token_type ${json.token_type} is not Bearer`);
    return { kind: 'tokens', tokens: tokenSet(json, await this.#verifyIdToken(json)) };
  }

  #deviceEndpoint(call: UpstreamCall): DeviceEndpoint {
    return {
      as: this.#as,
      client: this.#client,
      clientAuth: this.#clientAuth,
      options: this.#options,
      call,
    };
  }

  async authorizationUrl(params: AuthorizeParams): Promise<URL> {
    const url = new URL(this.#authorizationEndpoint);
    if (!this.#pushes) {
      setAuthorizeParams(url.searchParams, params);
      return url;
    }
    const pushed = new URLSearchParams();
    setAuthorizeParams(pushed, params);
    // Not retried: a second push would only leave a second request_uri behind.
    const { request_uri } = await roundTrip({
      call: this.#parRequest,
      send: () =>
        oauth.pushedAuthorizationRequest(
          this.#as,
          this.#client,
          this.#clientAuth,
          pushed,
          this.#options,
        ),
      process: (response) =>
        oauth.processPushedAuthorizationResponse(this.#as, this.#client, response),
    });
    // RFC 9126 §4: the browser gets only these; state, nonce and challenge stay between broker and provider.
    url.searchParams.set('client_id', this.clientId);
    url.searchParams.set('request_uri', request_uri);
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
      return callbackProblem(err, this.issuer);
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
    if (exchange.code === '' || exchange.verifier === '' || exchange.redirectUri === '') {
      throw new BrokerError(
        'invalid_request',
        'code, code_verifier and redirect_uri must not be empty',
        { oauthError: 'invalid_request' },
      );
    }
    const callback = this.#grantParameters(exchange, exchange.state);
    // Never retried: a code is single-use, a second attempt would only burn it (or revoke the grant).
    const json = await this.#tokenCall(
      this.#tokenRequest,
      () =>
        oauth.authorizationCodeGrantRequest(
          this.#as,
          this.#client,
          this.#clientAuth,
          callback,
          exchange.redirectUri,
          exchange.verifier,
          this.#options,
        ),
      // oauth4webapi checks the ID token's claims here, the nonce among them (with !==: the
      // token comes over TLS from the provider, so its timing gives nothing away).
      async (response) =>
        oauth.processAuthorizationCodeResponse(
          await this.#asFor(response),
          this.#client,
          response,
          {
            expectedNonce: exchange.nonce,
            requireIdToken: true,
          },
        ),
    );
    return tokenSet(json, await this.#verifyIdToken(json));
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
    const json = await this.#tokenCall(
      this.#refreshRequest,
      () =>
        oauth.refreshTokenGrantRequest(
          this.#as,
          this.#client,
          this.#clientAuth,
          request.refreshToken,
          { ...this.#options, additionalParameters },
        ),
      // OIDC Core §12.2: a refreshed ID token keeps iss/sub/aud; its nonce, if any, is the original one, which we do not keep.
      async (response) =>
        oauth.processRefreshTokenResponse(await this.#asFor(response), this.#client, response),
    );
    return tokenSet(json, await this.#verifyIdToken(json));
  }

  revoke(token: string, hint?: TokenTypeHint): Promise<void> {
    return revokeToken(this.#session, token, hint);
  }

  logoutUrl(request: LogoutRequest): URL | undefined {
    return buildLogoutUrl(this.#as, this.clientId, request, this.kind);
  }

  userInfo(accessToken: string, expectedSub: string): Promise<UserInfoOutcome> {
    return fetchUserInfo(this.#session, accessToken, expectedSub);
  }

  matchesDomain(domain: string): boolean {
    return matchesDomain(domain, this.issuer, this.#authorizationEndpoint);
  }

  /**
   * oauth4webapi's code grant takes only parameters that its
   * validateAuthResponse branded (a WeakSet it keeps to itself), and the brand
   * does not survive the flow store: the exchange may run in another broker,
   * after a restart. checkCallback validated the callback and the flow stored
   * what it returned; this rebuilds the parameters from that stored value
   * alone to have them branded. Nothing the browser sent is looked at again,
   * and nothing new is decided, except where the provider's metadata changed
   * in between (RFC 9207's flag turned on): then the exchange is refused
   * before any request.
   */
  #grantParameters(callback: ValidatedCallback, state: string): URLSearchParams {
    const params = new URLSearchParams({ code: callback.code, state });
    if (callback.iss !== undefined) params.set('iss', callback.iss);
    try {
      return oauth.validateAuthResponse(this.#as, this.#client, params, state);
    } catch (err) {
      const problem = callbackProblem(err, this.issuer);
      throw new BrokerError(
        'invalid_request',
        `The authorization response is not valid: ${problem.description ?? problem.error}`,
        { oauthError: 'invalid_request', cause: err },
      );
    }
  }

  /**
   * The authorization server an answer's ID token is checked against: the
   * discovered one, except for Entra's multi-tenant endpoints, where it is a
   * copy whose issuer is the template with the token's own `tid`. oauth4webapi
   * compares `iss` with `as.issuer` and has no public option for a template
   * (its maintainer's advice for Entra is this: a per-token `as`), so the one
   * claim check stays oauth4webapi's, with the one issuer the token may name;
   * a token naming another tenant than its `tid` fails that check. The `tid`
   * is read unverified from a copy of the answer: it only picks what `iss`
   * must equal, and the signature is verified after (id-token.ts).
   */
  async #asFor(response: Response): Promise<oauth.AuthorizationServer> {
    if (this.#issuerTemplate === undefined || response.status !== 200) return this.#as;
    let idToken: unknown;
    try {
      idToken = ((await response.clone().json()) as { id_token?: unknown } | null)?.id_token;
    } catch {
      // Not JSON: oauth4webapi says so when it reads the answer itself.
      return this.#as;
    }
    if (typeof idToken !== 'string') return this.#as;
    const { decodeJwt } = await import('jose');
    let tid: unknown;
    try {
      tid = decodeJwt(idToken)['tid'];
    } catch {
      return this.#as;
    }
    const issuer = issuerForTenant(this.#issuerTemplate, tid);
    if (issuer === undefined)
      throw idTokenError(
        'its tid is missing or not a tenant id (GUID), so the Microsoft issuer it must name is unknown',
      );
    return { ...this.#as, issuer };
  }

  /** A token endpoint round trip, whose token must be one the broker can hand out as Bearer. */
  async #tokenCall(
    call: UpstreamCall,
    send: () => Promise<Response>,
    process: (response: Response) => Promise<oauth.TokenEndpointResponse>,
  ): Promise<oauth.TokenEndpointResponse> {
    const json = await roundTrip({ call, send, process });
    // We send no DPoP proof, so a DPoP-bound token (the only other type oauth4webapi accepts) would not work as Bearer.
    if (json.token_type !== 'bearer')
      throw invalidAnswer(call, `token_type ${json.token_type} is not Bearer`);
    return json;
  }

  /**
   * jose (and id-token.ts) load on the first token exchange, not at start-up:
   * it is a third of the broker's import time and `serve` needs it only once
   * someone signs in.
   */
  async #verifyIdToken(json: oauth.TokenEndpointResponse): Promise<IdTokenClaims | undefined> {
    const claims = oauth.getValidatedIdTokenClaims(json);
    if (json.id_token === undefined || claims === undefined) return undefined;
    const [{ verifyIdToken }, keys] = await Promise.all([import('./id-token.js'), this.#jwks()]);
    return verifyIdToken(json.id_token, claims, {
      keys,
      jwksCall: this.#jwksRequest,
      clientId: this.clientId,
      clockToleranceSec: this.#clockToleranceSec,
      ...(this.#clientSecret === undefined ? {} : { clientSecret: this.#clientSecret }),
    });
  }

  async #jwks(): Promise<JWTVerifyGetKey> {
    if (this.#keys) return this.#keys;
    const jose = await import('jose');
    const options: RemoteJWKSetOptions = {
      cooldownDuration: this.#jwksCooldownMs,
      timeoutDuration: this.#jwksRequest.timeoutMs,
    };
    options[jose.customFetch] = jwksTransport(this.#transport, this.#jwksRequest);
    // A concurrent first call may have set it meanwhile; keep one cache of keys.
    return (this.#keys ??= jose.createRemoteJWKSet(this.#jwksUri, options));
  }
}

/**
 * The JWKS GET: retried once on a transport error or a 5xx, as it is
 * idempotent and both attempts share jose's one timeout signal, so the bound
 * holds. A status other than 200 is judged here, where it is known (jose
 * would only say it is not 200), and reaches the caller through jose intact.
 */
function jwksTransport(transport: typeof fetch, call: UpstreamCall): FetchImplementation {
  return (url, init) =>
    observed(call.observe, call.endpoint, () => fetchJwks(transport, call, url, init), call);
}

async function fetchJwks(
  transport: typeof fetch,
  call: UpstreamCall,
  url: string,
  init: Parameters<FetchImplementation>[1],
): Promise<Response> {
  let response: Response | undefined;
  try {
    response = await transport(url, init);
  } catch (err) {
    if (init.signal.aborted) throw err;
  }
  if (response !== undefined && response.status >= 500) {
    await response.body?.cancel().catch(() => undefined);
    response = undefined;
  }
  response ??= await transport(url, init);
  if (response.status !== 200) throw await unexpectedStatus(response, call);
  return response;
}

/**
 * Whether to push (RFC 9126): where the provider advertises the endpoint,
 * unless --par never; --par always without one is a start-up error.
 */
export function pushesAuthorizationRequests(
  as: oauth.AuthorizationServer,
  choice: ParChoice,
): boolean {
  const offered = typeof as.pushed_authorization_request_endpoint === 'string';
  if (choice === 'always' && !offered) {
    throw new BrokerError(
      'startup_failed',
      `--par always: the identity provider at ${as.issuer} advertises no pushed_authorization_request_endpoint (RFC 9126); use --par auto or never`,
    );
  }
  return choice !== 'never' && offered;
}

/**
 * The authorize parameters, into a URL's query or a pushed request's body.
 * Extra parameters are appended verbatim but cannot replace a parameter given
 * above them (state, nonce, challenge…); the named ones replace any of the
 * same name already there (an endpoint's own query).
 */
function setAuthorizeParams(target: URLSearchParams, params: AuthorizeParams): void {
  const { extra, ...named } = params;
  const given = new Set<string>();
  for (const [name, value] of Object.entries(named)) {
    if (value === undefined) continue;
    target.set(name, value);
    given.add(name);
  }
  for (const [name, value] of Object.entries(extra ?? {})) {
    if (!given.has(name)) target.append(name, value);
  }
}

function tokenSet(json: oauth.TokenEndpointResponse, claims: IdTokenClaims | undefined): TokenSet {
  const set: TokenSet = {
    access_token: json.access_token,
    expires_in: typeof json.expires_in === 'number' ? json.expires_in : 0,
  };
  if (json.scope !== undefined) set.scope = json.scope;
  if (json.refresh_token !== undefined) set.refresh_token = json.refresh_token;
  if (json.id_token !== undefined) set.id_token = json.id_token;
  if (claims !== undefined) set.claims = claims;
  return set;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
