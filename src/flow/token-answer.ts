/**
 * Builds the PKCE answer of POST /pkce/token from a validated token set, and
 * the answer's `user`: the validated ID token's claims, completed from the
 * provider's user info where the ID token lacks what the scopes asked for.
 */
import { isBrokerError } from '../errors.js';
import {
  MODEL_SCHEMA,
  type Auth0User,
  type DescopeUser,
  type OAuthToken,
  type PKCE,
} from '../protocol/models.js';
import type { UserInfoChoice } from '../provider/choices.js';
import type { IdTokenClaims, IdentityProvider, TokenSet } from '../provider/types.js';
import type { SeedPolicy } from './seed.js';

const USER_CLAIMS = [
  'name',
  'picture',
  'email',
  'family_name',
  'given_name',
  'nickname',
  'locale',
] as const;

export function userFromClaims(claims: IdTokenClaims): Auth0User {
  const user: Auth0User = { user_id: claims.sub };
  for (const claim of USER_CLAIMS) {
    const value = claims[claim];
    if (typeof value === 'string') user[claim] = value;
  }
  if (typeof claims.email_verified === 'boolean') user.email_verified = claims.email_verified;
  if (typeof claims.preferred_username === 'string') user.username = claims.preferred_username;
  if (typeof claims.updated_at === 'number')
    user.updated_at = new Date(claims.updated_at * 1000).toISOString();
  return user;
}

/** The SDK's DescopeUser from ID token claims; the fields its model requires are always there. */
export function descopeUserFromClaims(claims: IdTokenClaims): DescopeUser {
  const text = (claim: string): string | undefined =>
    typeof claims[claim] === 'string' ? (claims[claim] as string) : undefined;
  const user: DescopeUser = {
    userId: claims.sub,
    id: claims.sub,
    givenName: text('given_name') ?? '',
    familyName: text('family_name') ?? '',
    email: text('email') ?? '',
  };
  const optional = {
    middleName: text('middle_name'),
    name: text('name'),
    phone: text('phone_number'),
    picture: text('picture'),
  };
  for (const [key, value] of Object.entries(optional))
    if (value !== undefined) user[key as keyof typeof optional] = value;
  // Descope puts the login ids in its tokens' `loginIds`; elsewhere the user's handle stands in.
  const loginIds = Array.isArray(claims['loginIds'])
    ? claims['loginIds'].filter((id): id is string => typeof id === 'string')
    : [text('preferred_username') ?? text('email')].filter((id): id is string => id !== undefined);
  if (loginIds.length > 0) user.loginIds = loginIds;
  if (typeof claims.email_verified === 'boolean') user.isVerifiedEmail = claims.email_verified;
  return user;
}

/**
 * The claims each scope asks for (OIDC Core §5.4), of those the answer's
 * user can carry. `openid` asks for `sub` alone, which every ID token has.
 */
const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'nickname',
    'preferred_username',
    'picture',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
};

/**
 * Whether the ID token leaves out the claims of a scope asked for: none of
 * that scope's claims is in it. Not "one is missing": providers leave out a
 * claim the user has no value for (no picture), and asking user info on every
 * sign-in for it would find nothing more.
 */
export function lacksScopeClaims(claims: IdTokenClaims, scopes: readonly string[]): boolean {
  return scopes.some((scope) => {
    const wanted = SCOPE_CLAIMS[scope];
    return wanted !== undefined && !wanted.some((claim) => claims[claim] !== undefined);
  });
}

/**
 * The claims the answer's user is made of: the user info's, overridden by the
 * ID token's. The ID token wins because its claims were verified (signature,
 * iss, aud, nonce) and are the ones an app can check again from `id_token`;
 * user info only fills in what it left out. `sub` is the ID token's: user
 * info reaches here only when its `sub` was the same.
 */
export function mergeUserInfo(
  claims: IdTokenClaims,
  userInfo: Readonly<Record<string, unknown>>,
): IdTokenClaims {
  const merged: IdTokenClaims = { ...claims };
  for (const [name, value] of Object.entries(userInfo)) {
    if (merged[name] === undefined) merged[name] = value;
  }
  return merged;
}

export interface UserInfoContext {
  mode: UserInfoChoice;
  /** The scopes the sign-in asked for. */
  scopes: readonly string[];
  /** Where a dropped or failed user info is said; never with a token. */
  warn(details: Record<string, unknown>, message: string): void;
}

/**
 * The ID token's claims, completed from user info where `context.mode` and
 * the provider call for it. A user info that names another user (OIDC Core
 * §5.3.2) or that fails is dropped and logged, and the sign-in stands: its
 * tokens are valid and its code is spent, so failing it would lose them for
 * profile fields the app may fetch itself.
 */
export async function claimsWithUserInfo(
  provider: IdentityProvider,
  tokens: TokenSet,
  context: UserInfoContext,
): Promise<IdTokenClaims | undefined> {
  const { claims } = tokens;
  if (claims === undefined || context.mode === 'never' || !provider.hasUserInfo) return claims;
  if (context.mode === 'auto' && !lacksScopeClaims(claims, context.scopes)) return claims;
  try {
    const info = await provider.userInfo(tokens.access_token, claims.sub);
    if (!info.ok) {
      context.warn(
        { issuer: provider.issuer, sub: claims.sub },
        "The provider's user info names another user than the ID token (OIDC Core §5.3.2); it was dropped.",
      );
      return claims;
    }
    return mergeUserInfo(claims, info.claims);
  } catch (error) {
    context.warn(
      {
        issuer: provider.issuer,
        reason: isBrokerError(error) ? error.message : 'the request failed',
      },
      "The provider's user info could not be fetched; the answer's user has the ID token's claims only.",
    );
    return claims;
  }
}

export function tokenAnswer(
  provider: IdentityProvider,
  policy: SeedPolicy,
  grantType: NonNullable<NonNullable<PKCE['token']>['grant_type']>,
  tokens: TokenSet,
  context: { redirectUri: string; audience: string | undefined },
): PKCE {
  const audience = context.audience ?? '';
  const token: OAuthToken = {
    schema: MODEL_SCHEMA,
    access_token: tokens.access_token,
    // The SDK's enum knows only "Bearer"; RFC 6749 §5.1 makes the type case-insensitive.
    token_type: 'Bearer',
    expires_in: tokens.expires_in,
    ...(tokens.scope !== undefined && { scope: tokens.scope }),
    ...(tokens.refresh_token !== undefined && { refresh_token: tokens.refresh_token }),
    ...(tokens.id_token !== undefined && { id_token: tokens.id_token }),
  };
  const answer: PKCE = {
    schema: MODEL_SCHEMA,
    // Never echoes the code, the refresh token or the verifier that came in.
    token: {
      schema: MODEL_SCHEMA,
      grant_type: grantType,
      client_id: policy.clientId,
      redirect_uri: context.redirectUri,
      audience,
    },
  };
  if (provider.kind === 'descope') {
    answer.descope = {
      redirects: {},
      oAuth: { token },
      ...(tokens.claims !== undefined && { user: descopeUserFromClaims(tokens.claims) }),
      ...(audience !== '' && { audience }),
    };
  } else {
    answer.auth0 = {
      domain: new URL(provider.issuer).host,
      client: policy.clientId,
      audience,
      redirects: {},
      oAuth: { token },
      ...(tokens.claims !== undefined && { user: userFromClaims(tokens.claims) }),
    };
  }
  return answer;
}
