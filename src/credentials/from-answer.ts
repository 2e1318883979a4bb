/**
 * The session a sign-in makes, and the session after a refresh: from the
 * token answers to the stored record.
 */
import { decodeJwt } from 'jose';
import type { PKCE } from '../protocol/models.js';
import type { TokenSet } from '../provider/types.js';
import { splitScope, type StoredSession } from './session.js';

export type SessionFromAnswer =
  { ok: true; session: StoredSession } | { ok: false; reason: string };

/**
 * The session a sign-in's token answer makes. The answer came from the
 * person's own broker, which validated the ID token (signature, iss, aud,
 * nonce); its claims are read here, not checked again.
 */
export function sessionFromAnswer(
  answer: PKCE,
  providerId: string,
  now: number,
): SessionFromAnswer {
  const auth0 = answer.auth0;
  const token = auth0?.oAuth.token;
  if (auth0 === undefined || token === undefined)
    return { ok: false, reason: 'the answer holds no tokens' };
  if (token.id_token === undefined)
    return { ok: false, reason: 'the provider sent no ID token, so the account is unknown' };
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token.id_token);
  } catch {
    return { ok: false, reason: 'the ID token cannot be read' };
  }
  const str = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;
  const issuer = str(claims.iss);
  const subject = str(claims.sub);
  if (issuer === undefined || subject === undefined)
    return { ok: false, reason: 'the ID token names no issuer or subject' };
  const name = str(claims.name) ?? str(auth0.user?.name);
  const email = str(claims.email) ?? str(auth0.user?.email);
  return {
    ok: true,
    session: {
      providerId,
      issuer,
      clientId: auth0.client,
      subject,
      ...(name !== undefined && { name }),
      ...(email !== undefined && { email }),
      scopes: splitScope(token.scope),
      accessToken: token.access_token,
      ...(token.expires_in > 0 && { accessTokenExpiresAt: now + token.expires_in * 1000 }),
      ...(token.refresh_token !== undefined && { refreshToken: token.refresh_token }),
      idToken: token.id_token,
      savedAt: now,
    },
  };
}

/**
 * The session once a refresh succeeded: new access token, the rotated refresh
 * token where the provider sent one (else the old one stays valid), the new ID
 * token where one came. The caller has checked that its `sub` is the saved one.
 */
export function sessionAfterRefresh(
  session: StoredSession,
  tokens: TokenSet,
  now: number,
): StoredSession {
  const { accessTokenExpiresAt: _expiry, ...rest } = session;
  const name = typeof tokens.claims?.name === 'string' ? tokens.claims.name : session.name;
  const email = typeof tokens.claims?.email === 'string' ? tokens.claims.email : session.email;
  return {
    ...rest,
    ...(name !== undefined && { name }),
    ...(email !== undefined && { email }),
    ...(tokens.scope !== undefined && { scopes: splitScope(tokens.scope) }),
    accessToken: tokens.access_token,
    ...(tokens.expires_in > 0 && { accessTokenExpiresAt: now + tokens.expires_in * 1000 }),
    ...(tokens.refresh_token !== undefined && { refreshToken: tokens.refresh_token }),
    ...(tokens.id_token !== undefined && { idToken: tokens.id_token }),
    savedAt: now,
  };
}
