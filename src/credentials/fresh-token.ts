/**
 * A valid access token from the cache: the saved one while it has more than
 * a minute left, else a refreshed one. The refresh is a read-check-refresh-
 * save under the cache's lock, the session read again once the lock is held:
 * of two `token` runs at once, the second finds what the first saved and
 * spends nothing, so a rotating refresh token is used once.
 */
import { isBrokerError } from '../errors.js';
import type { TokenSet } from '../provider/types.js';
import type { CredentialCache, SavedSession } from './cache.js';
import { notSignedIn, pickSession, type SessionQuery } from './select.js';
import type { StoredSession } from './session.js';

/** Less than this left, and the saved access token is not handed out. */
export const MIN_LIFETIME_MS = 60_000;

export interface FreshTokenOptions {
  /** The refresh at the provider (discovery and refresh_token grant); loaded only when needed. */
  refresh(session: StoredSession): Promise<TokenSet>;
  now?: () => number;
}

export function isFresh(session: StoredSession, now: number): boolean {
  // No expiry said: trust it only where nothing could renew it.
  if (session.accessTokenExpiresAt === undefined) return session.refreshToken === undefined;
  return session.accessTokenExpiresAt - now > MIN_LIFETIME_MS;
}

export async function freshSession(
  cache: CredentialCache,
  query: SessionQuery,
  options: FreshTokenOptions,
): Promise<SavedSession> {
  const now = options.now ?? Date.now;
  const first = pickSession(await cache.list(), query);
  if (isFresh(first.session, now())) return first;

  return cache.exclusive(async () => {
    // Another run may have refreshed (and rotated the refresh token) while we waited for the lock.
    const saved = await cache.get(first.session);
    const named = { providerId: first.session.providerId, account: first.session.subject };
    if (saved === undefined) throw notSignedIn(named, 'the session was removed meanwhile');
    if (isFresh(saved.session, now())) return saved;
    const { session } = saved;
    if (session.refreshToken === undefined)
      throw notSignedIn(named, 'the access token expired and the provider gave no refresh token');

    let tokens: TokenSet;
    try {
      tokens = await options.refresh(session);
    } catch (error) {
      // invalid_grant (RFC 6749 §5.2) is final: the refresh token is revoked, expired or already
      // spent. The session can never be used again, so it goes, and status no longer shows it.
      if (isBrokerError(error) && error.code === 'invalid_grant') {
        await cache.delete(session);
        throw notSignedIn(named, 'the provider refused the saved refresh token; session removed');
      }
      throw error;
    }
    // OIDC Core §12.2: a refreshed ID token names the same subject; another one is not this session.
    if (tokens.claims !== undefined && tokens.claims.sub !== session.subject) {
      await cache.delete(session);
      throw notSignedIn(named, 'the refreshed ID token names another subject; session removed');
    }
    const { sessionAfterRefresh } = await import('./from-answer.js');
    return cache.save(sessionAfterRefresh(session, tokens, now()), saved.store);
  });
}
