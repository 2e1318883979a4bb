/** Builds the PKCE answer of POST /pkce/token from a validated token set. */
import {
  MODEL_SCHEMA,
  type Auth0User,
  type DescopeUser,
  type OAuthToken,
  type PKCE,
} from '../protocol/models.js';
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
