/**
 * The identity provider as the rest of the broker sees it. One implementation
 * (src/provider/oidc.ts) speaks to a real OpenID provider through oauth4webapi;
 * routes and flows depend only on this interface.
 */
import type { ResponseModes } from './response-mode.js';

/** Everything that goes into the authorize URL. */
export interface AuthorizeParams {
  response_type: 'code';
  client_id: string;
  redirect_uri: string;
  /** Space-joined, as sent. */
  scope: string;
  state: string;
  nonce: string;
  code_challenge: string;
  code_challenge_method: 'S256';
  response_mode?: string;
  audience?: string;
  screen_hint?: string;
  prompt?: string;
  organization?: string;
  invitation?: string;
  /** ADDITIONAL_PARAMETERS and anything else passed through verbatim. */
  extra?: Record<string, string>;
}

/** Validated ID token claims (OIDC Core §2), as returned after every check passed. */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce?: string;
  azp?: string;
  [claim: string]: unknown;
}

/** A successful token endpoint answer, after validation. Its token type is Bearer: anything else is refused. */
export interface TokenSet {
  access_token: string;
  /** Seconds; 0 when the provider did not say. */
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  /** Present when an ID token came and passed every check of OIDC Core §3.1.3.7. */
  claims?: IdTokenClaims;
}

/**
 * What checkCallback took from a callback that passed validation, and all
 * that the code exchange needs of it. The flow keeps it as its outcome (the
 * store's `code` outcome, sealed in Redis), so the exchange, which may run in
 * another broker, takes it from the stored flow, never from what an app sends.
 */
export interface ValidatedCallback {
  readonly code: string;
  /** The callback's `iss`, when it carried one (RFC 9207). */
  readonly iss?: string;
}

/** What a callback said, once its parameters were checked against the flow's state. */
export type CallbackCheck =
  | ({ ok: true } & ValidatedCallback)
  | {
      ok: false;
      /** `denied`: the provider sent `error=` (user or policy); `invalid`: the response failed validation. */
      kind: 'denied' | 'invalid';
      /** An OAuth error code safe to pass on (oauthErrorCode: the provider's if well-formed, else `server_error`). */
      error: string;
      /** One printable line of at most 300 characters (sanitize); absent when the provider sent none. */
      description?: string;
    };

/** A code exchange: the flow's stored callback outcome, and the flow's request values. */
export interface CodeExchange extends ValidatedCallback {
  state: string;
  redirectUri: string;
  verifier: string;
  /** The nonce the ID token must carry. */
  nonce: string;
}

export interface RefreshRequest {
  refreshToken: string;
  scope?: string;
  audience?: string;
}

/** What a device authorization request asks for (RFC 8628 §3.1). */
export interface DeviceAuthorizationRequest {
  /** Space-joined, as sent. */
  scope: string;
  audience?: string;
}

/** The provider's device authorization answer (RFC 8628 §3.2), checked by oauth4webapi. */
export interface DeviceAuthorization {
  /** The provider's credential for polling: it never leaves the broker. */
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  /** Seconds. */
  expires_in: number;
  /** Seconds between polls; RFC 8628 §3.2's default of 5 where the provider says none. */
  interval: number;
}

/** One poll of the token endpoint with a device code (RFC 8628 §3.4, §3.5). */
export type DevicePoll =
  | { kind: 'tokens'; tokens: TokenSet }
  | { kind: 'pending' }
  | { kind: 'slow_down' }
  | { kind: 'denied'; error: string; description?: string }
  | { kind: 'expired' };

/**
 * How the provider's answer is shaped: `auth0` and `oidc` fill the PKCE
 * answer's `auth0`, `descope` its `descope` (src/flow/token-answer.ts).
 */
export type ProviderKind = 'oidc' | 'auth0' | 'descope';
/** RFC 7009 §2.1 `token_type_hint`. */
export type TokenTypeHint = 'access_token' | 'refresh_token';

/** The parameters of an RP-initiated logout URL (OpenID RP-Initiated Logout 1.0 §2). */
export interface LogoutRequest {
  idTokenHint?: string;
  /** Already checked against what the configuration allows. */
  postLogoutRedirectUri?: string;
  state?: string;
}

/** User info, or the fact that it named another user than the ID token (OIDC Core §5.3.2). */
export type UserInfoOutcome =
  { ok: true; claims: Readonly<Record<string, unknown>> } | { ok: false; reason: 'other_subject' };

export interface IdentityProvider {
  /** The configured id (the `providers` list's `id`; the flags' provider is `default`); flows record it. */
  readonly id: string;
  readonly kind: ProviderKind;
  /** The issuer identifier exactly as discovered. */
  readonly issuer: string;
  readonly clientId: string;
  /** The authorization endpoint's origin: the only cross-origin form_post the callback accepts. */
  readonly authorizationOrigin: string;
  /** RFC 9207: the provider advertises `authorization_response_iss_parameter_supported`. */
  readonly requiresIssParameter: boolean;
  /** The provider's own discovery metadata (read-only). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The response_mode a flow asks for by default (--response-mode and discovery), and those the provider supports. */
  readonly responseModes: ResponseModes;
  /** Said once when the broker starts (a choice the provider's discovery does not back). */
  readonly startupWarnings: readonly string[];

  /**
   * The URL to open in the browser. Where the provider takes pushed
   * authorization requests (RFC 9126) the parameters are pushed first and the
   * URL carries only client_id and request_uri; a failed push throws the
   * provider's error, and nothing is to be opened.
   */
  authorizationUrl(params: AuthorizeParams): Promise<URL>;
  /**
   * Pure: checks `state`, `iss` and `error` of a callback against the expected
   * state. The one validation of a callback: what it returns when ok is what
   * the flow stores for the exchange.
   */
  checkCallback(params: URLSearchParams, expectedState: string): CallbackCheck;
  /** Token request for a callback that passed checkCallback, then full ID token validation. */
  exchangeCode(exchange: CodeExchange): Promise<TokenSet>;
  refresh(request: RefreshRequest): Promise<TokenSet>;
  /** `domain` may be a bare host, an issuer URL or an authorize-endpoint URL. */
  matchesDomain(domain: string): boolean;

  /** Discovery lists a device_authorization_endpoint (RFC 8628 §4). */
  readonly hasDeviceFlow: boolean;
  /** RFC 8628 §3.1; throws device_flow_unsupported where hasDeviceFlow is false. */
  startDeviceAuthorization(request: DeviceAuthorizationRequest): Promise<DeviceAuthorization>;
  /**
   * One token request with the device code. The protocol's own answers
   * (pending, slow_down, denied, expired) are results; tokens come with their
   * ID token validated as in the code exchange, less the nonce (there is none).
   */
  pollDeviceToken(deviceCode: string): Promise<DevicePoll>;
  /** Discovery lists a revocation_endpoint (RFC 7009). */
  readonly hasRevocation: boolean;
  /** Discovery lists a userinfo_endpoint. */
  readonly hasUserInfo: boolean;
  /** logoutUrl gives a URL: an end_session_endpoint, or Auth0's /v2/logout. */
  readonly hasLogout: boolean;
  /**
   * RFC 7009 revocation. Throws `revocation_unsupported` (400) without a
   * revocation endpoint, and the provider's faults as for the token request.
   */
  revoke(token: string, hint?: TokenTypeHint): Promise<void>;
  /** The RP-initiated logout URL for the browser; undefined when the provider has none. */
  logoutUrl(request: LogoutRequest): URL | undefined;
  /** The user info of the access token's user, only if it is `expectedSub`. */
  userInfo(accessToken: string, expectedSub: string): Promise<UserInfoOutcome>;
}
