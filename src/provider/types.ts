/**
 * The identity provider as the rest of the broker sees it. One implementation
 * (src/provider/oidc.ts) speaks to a real OpenID provider through oauth4webapi;
 * routes and flows depend only on this interface.
 */

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

/** A successful token endpoint answer, after validation. */
export interface TokenSet {
  access_token: string;
  /** As the provider sent it; the API layer always answers "Bearer". */
  token_type: string;
  /** Seconds; 0 when the provider did not say. */
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  /** Present when an ID token came and passed every check of OIDC Core §3.1.3.7. */
  claims?: IdTokenClaims;
}

/** What a callback said, once its parameters were checked against the flow's state. */
export type CallbackCheck =
  | { ok: true; code: string; iss?: string }
  | {
      ok: false;
      /** `denied`: the provider sent `error=` (user or policy); `invalid`: the response failed validation. */
      kind: 'denied' | 'invalid';
      /** An OAuth error code safe to pass on (oauthErrorCode: the provider's if well-formed, else `server_error`). */
      error: string;
      /** One printable line of at most 300 characters (sanitize); absent when the provider sent none. */
      description?: string;
    };

export interface CodeExchange {
  code: string;
  /** The callback's `iss`, when it carried one (RFC 9207). */
  iss?: string;
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

export interface IdentityProvider {
  /** The issuer identifier exactly as discovered. */
  readonly issuer: string;
  readonly clientId: string;
  /** The authorization endpoint's origin: the only cross-origin form_post the callback accepts. */
  readonly authorizationOrigin: string;
  /** RFC 9207: the provider advertises `authorization_response_iss_parameter_supported`. */
  readonly requiresIssParameter: boolean;
  /** The provider's own discovery metadata (read-only). */
  readonly metadata: Readonly<Record<string, unknown>>;

  authorizationUrl(params: AuthorizeParams): URL;
  /** Pure: checks `state`, `iss` and `error` of a callback against the expected state. */
  checkCallback(params: URLSearchParams, expectedState: string): CallbackCheck;
  /** Token request for a code this broker received, then full ID token validation. */
  exchangeCode(exchange: CodeExchange): Promise<TokenSet>;
  refresh(request: RefreshRequest): Promise<TokenSet>;
  /** `domain` may be a bare host, an issuer URL or an authorize-endpoint URL. */
  matchesDomain(domain: string): boolean;
}
