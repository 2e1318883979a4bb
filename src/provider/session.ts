/**
 * What comes after the sign-in, at the provider: token revocation (RFC 7009),
 * user info (OIDC Core §5.3) and the RP-initiated logout URL (OpenID
 * RP-Initiated Logout 1.0). oidc.ts holds the client and calls these; the
 * requests are oauth4webapi's, their failures upstream-errors.ts's.
 */
import * as oauth from 'oauth4webapi';
import { BrokerError } from '../errors.js';
import type { RequestOptions } from './discovery.js';
import { roundTrip } from './round-trip.js';
import type { LogoutRequest, ProviderKind, TokenTypeHint, UserInfoOutcome } from './types.js';
import type { CallObserver, UpstreamCall } from './upstream-errors.js';

/** The client as oidc.ts built it; everything a session call needs. */
export interface SessionClient {
  readonly as: oauth.AuthorizationServer;
  readonly client: oauth.Client;
  readonly clientAuth: oauth.ClientAuth;
  readonly options: RequestOptions;
  readonly timeoutMs: number;
  readonly observe?: CallObserver | undefined;
}

/** What discovery says the provider offers after the sign-in. */
export interface SessionCapabilities {
  /** RFC 7009 `revocation_endpoint`. */
  readonly hasRevocation: boolean;
  /** OIDC Core `userinfo_endpoint`. */
  readonly hasUserInfo: boolean;
  /** An `end_session_endpoint`, or Auth0's `/v2/logout`. */
  readonly hasLogout: boolean;
}

/** `auth0`: the provider's kind (configured, or inferred from an `*.auth0.com` issuer). */
export function sessionCapabilities(
  as: oauth.AuthorizationServer,
  kind: ProviderKind,
): SessionCapabilities {
  return {
    hasRevocation: typeof as.revocation_endpoint === 'string',
    hasUserInfo: typeof as.userinfo_endpoint === 'string',
    hasLogout: typeof as.end_session_endpoint === 'string' || kind === 'auth0',
  };
}

/**
 * RFC 7009: the provider answers 200 whether or not it knew the token (§2.2),
 * so success says only that it holds no such live token now. A refusal keeps
 * the provider's `error` (`unsupported_token_type`, `invalid_client`…).
 */
export async function revokeToken(
  session: SessionClient,
  token: string,
  hint: TokenTypeHint | undefined,
): Promise<void> {
  if (typeof session.as.revocation_endpoint !== 'string') {
    throw new BrokerError(
      'revocation_unsupported',
      `The identity provider at ${session.as.issuer} has no revocation_endpoint (RFC 7009): its tokens cannot be revoked, only left to expire.`,
      { oauthError: 'unsupported_token_type' },
    );
  }
  if (token === '') {
    throw new BrokerError('invalid_request', 'The token to revoke must not be empty', {
      oauthError: 'invalid_request',
    });
  }
  const call: UpstreamCall = {
    endpoint: 'revocation',
    observe: session.observe,
    name: 'revocation request',
    timeoutMs: session.timeoutMs,
    // The token and its hint are the app's: what the provider refuses about them is the app's to fix.
    judgesRequest: true,
  };
  await roundTrip({
    call,
    // An empty 200 is the usual answer: no JSON to expect.
    json: false,
    send: () =>
      oauth.revocationRequest(session.as, session.client, session.clientAuth, token, {
        ...session.options,
        ...(hint !== undefined && { additionalParameters: { token_type_hint: hint } }),
      }),
    process: (response) => oauth.processRevocationResponse(response),
  });
}

/**
 * The user info of the access token's user, checked to be `expectedSub`'s
 * (OIDC Core §5.3.2: a response naming another `sub` must not be used; it
 * could be a token substitution). Such a response is an outcome, not an
 * error: the caller drops it and says so; the sign-in it came with stands.
 */
export async function fetchUserInfo(
  session: SessionClient,
  accessToken: string,
  expectedSub: string,
): Promise<UserInfoOutcome> {
  if (typeof session.as.userinfo_endpoint !== 'string') {
    throw new BrokerError(
      'invalid_request',
      `The identity provider at ${session.as.issuer} has no userinfo_endpoint`,
    );
  }
  const call: UpstreamCall = {
    endpoint: 'userinfo',
    observe: session.observe,
    name: 'user info request',
    timeoutMs: session.timeoutMs,
  };
  return roundTrip({
    call,
    send: () => oauth.userInfoRequest(session.as, session.client, accessToken, session.options),
    process: async (response): Promise<UserInfoOutcome> => {
      try {
        const claims = await oauth.processUserInfoResponse(
          session.as,
          session.client,
          expectedSub,
          response,
        );
        return { ok: true, claims };
      } catch (err) {
        if (isSubjectMismatch(err)) return { ok: false, reason: 'other_subject' };
        throw err;
      }
    },
  });
}

/** oauth4webapi's one comparison of the `sub` attribute, by its code and cause. */
function isSubjectMismatch(err: unknown): boolean {
  return (
    err instanceof oauth.OperationProcessingError &&
    err.code === oauth.JSON_ATTRIBUTE_COMPARISON &&
    typeof err.cause === 'object' &&
    err.cause !== null &&
    (err.cause as { attribute?: unknown }).attribute === 'sub'
  );
}

/**
 * The URL that ends the user's session at the provider, for the browser:
 * the `end_session_endpoint` (RP-Initiated Logout 1.0 §2, with `client_id`
 * so the provider can check the redirect without an ID token), else Auth0's
 * `/v2/logout` (`client_id`, `returnTo`), else undefined. Built by hand:
 * oauth4webapi has no builder for either. The redirect URI must have been
 * checked against the configuration by the caller.
 */
export function buildLogoutUrl(
  as: oauth.AuthorizationServer,
  clientId: string,
  request: LogoutRequest,
  kind: ProviderKind,
): URL | undefined {
  if (typeof as.end_session_endpoint === 'string') {
    const url = new URL(as.end_session_endpoint);
    const params = url.searchParams;
    params.set('client_id', clientId);
    if (request.idTokenHint !== undefined) params.set('id_token_hint', request.idTokenHint);
    if (request.postLogoutRedirectUri !== undefined)
      params.set('post_logout_redirect_uri', request.postLogoutRedirectUri);
    if (request.state !== undefined) params.set('state', request.state);
    return url;
  }
  if (kind === 'auth0') {
    // https://auth0.com/docs/api/authentication#logout: returnTo must be in the client's Allowed Logout URLs.
    const url = new URL('/v2/logout', as.issuer);
    url.searchParams.set('client_id', clientId);
    if (request.postLogoutRedirectUri !== undefined)
      url.searchParams.set('returnTo', request.postLogoutRedirectUri);
    return url;
  }
  return undefined;
}
