/**
 * Signing a saved session out: its refresh token revoked at the provider
 * (RFC 7009), the session forgotten, and the provider's sign-out URL (OpenID
 * RP-Initiated Logout 1.0) for the person's browser session there.
 *
 * The revocation and the forgetting happen under the cache's lock, on the
 * session read again once the lock is held: a `token` run that refreshed
 * meanwhile rotated the refresh token, and the one revoked is the live one.
 *
 * A revocation that fails (the provider refuses it, or cannot be reached)
 * still forgets the session. The person asked for this machine to stop
 * holding the sign-in, and a session kept because its provider is gone or
 * refuses this client could never be removed; once forgotten the refresh
 * token is nowhere on this machine (the cache is its only holder: `token
 * --json` never shows it), so it lapses unused at its expiry. The outcome
 * says the revocation failed, and the command exits 1 for it.
 */
import { isBrokerError } from '../errors.js';
import type { IdentityProvider, TokenTypeHint } from '../provider/types.js';
import type { CredentialCache, SavedSession } from './cache.js';
import type { StoredSession } from './session.js';

export type Revocation =
  /** The provider answered 200 (RFC 7009 §2.2: it holds no such live token now). */
  | { kind: 'revoked'; token: TokenTypeHint }
  /** The provider has no revocation_endpoint: its tokens can only be left to expire. */
  | { kind: 'unsupported' }
  /** No refresh token, and the access token has run out: nothing is live to revoke. */
  | { kind: 'nothing' }
  /** Refused, or the provider not reached; one line, never a token. */
  | { kind: 'failed'; reason: string };

export type SignOutOutcome =
  /** Another run signed it out (or replaced it) while this one waited for the lock. */
  | { kind: 'gone'; session: StoredSession }
  | {
      kind: 'signed_out';
      session: StoredSession;
      revocation: Revocation;
      /** Whether discovery answered: without it there is no sign-out URL to give either. */
      reached: boolean;
      /** The provider's sign-out URL, where it has one (id_token_hint where the session kept an ID token). */
      logoutUrl?: URL;
    };

export interface SignOutOptions {
  /** The session's provider (discovery from its issuer); refresh.ts's providerOfSession. */
  provider(session: StoredSession): Promise<IdentityProvider>;
  now?: () => number;
}

export async function signOut(
  cache: CredentialCache,
  saved: SavedSession,
  options: SignOutOptions,
): Promise<SignOutOutcome> {
  const now = options.now ?? Date.now;
  // Discovery needs only the issuer and client, which no refresh changes: outside the lock,
  // so a `token` run waiting on it waits for the revocation alone.
  let provider: IdentityProvider | undefined;
  let unreachable: string | undefined;
  try {
    provider = await options.provider(saved.session);
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    unreachable = error.message;
  }

  return cache.exclusive(async () => {
    const current = await cache.get(saved.session);
    if (current === undefined) return { kind: 'gone', session: saved.session };
    const { session } = current;
    const revocation =
      provider === undefined
        ? ({ kind: 'failed', reason: unreachable ?? 'the provider was not reached' } as const)
        : await revoke(provider, session, now());
    await cache.delete(session);
    const logoutUrl = provider?.hasLogout
      ? provider.logoutUrl(session.idToken === undefined ? {} : { idTokenHint: session.idToken })
      : undefined;
    return {
      kind: 'signed_out',
      session,
      revocation,
      reached: provider !== undefined,
      ...(logoutUrl !== undefined && { logoutUrl }),
    };
  });
}

/**
 * The refresh token, the long-lived credential (RFC 7009 §2.1: the provider
 * SHOULD then end the access tokens of the same grant, as oidc-provider
 * does); without one, the access token while it may still be live.
 */
async function revoke(
  provider: IdentityProvider,
  session: StoredSession,
  now: number,
): Promise<Revocation> {
  let token: string;
  let hint: TokenTypeHint;
  if (session.refreshToken !== undefined) {
    token = session.refreshToken;
    hint = 'refresh_token';
  } else if (session.accessTokenExpiresAt === undefined || session.accessTokenExpiresAt > now) {
    token = session.accessToken;
    hint = 'access_token';
  } else return { kind: 'nothing' };
  if (!provider.hasRevocation) return { kind: 'unsupported' };
  try {
    await provider.revoke(token, hint);
  } catch (error) {
    // The provider's faults come translated (upstream-errors.ts), their messages without the token.
    if (!isBrokerError(error)) throw error;
    return { kind: 'failed', reason: error.message };
  }
  return { kind: 'revoked', token: hint };
}
