/**
 * A saved sign-in: what the credential cache keeps per account, how it is
 * keyed, and written to and read back from text. Pure, and light: `token`
 * loads it on its fast path.
 */

/** The provider id of the single flag-defined provider (the registry's `default`). */
export const DEFAULT_PROVIDER_ID = 'default';

export interface StoredSession {
  /** The broker's provider id (`default` for the flag-defined one). */
  readonly providerId: string;
  /** The ID token's `iss`: where a refresh goes (discovery). */
  readonly issuer: string;
  readonly clientId: string;
  /** The ID token's `sub`; with `issuer`, the account (OIDC Core §2: unique only per issuer). */
  readonly subject: string;
  /** For display only. */
  readonly name?: string;
  readonly email?: string;
  /** Granted scopes as the provider reported them (empty when it did not). */
  readonly scopes: readonly string[];
  readonly accessToken: string;
  /** Epoch ms; absent when the provider gave no expires_in. */
  readonly accessTokenExpiresAt?: number;
  readonly refreshToken?: string;
  /** The last ID token: the `id_token_hint` of an RP-initiated logout. */
  readonly idToken?: string;
  /** Epoch ms. */
  readonly savedAt: number;
}

export interface SessionKey {
  readonly providerId: string;
  readonly issuer: string;
  readonly subject: string;
}

/** One name per account, unambiguous: neither a provider id nor an issuer URL holds a space. */
export function keyName(key: SessionKey): string {
  return `${key.providerId} ${key.issuer} ${key.subject}`;
}

export function sameAccount(a: SessionKey, b: SessionKey): boolean {
  return a.providerId === b.providerId && a.issuer === b.issuer && a.subject === b.subject;
}

/** How a person names a session on a terminal (status, errors). */
export function describeSession(session: StoredSession): string {
  const who = [session.name, session.email].filter(Boolean).join(', ');
  return `${session.subject}${who ? ` (${who})` : ''} at ${session.issuer} [provider ${session.providerId}]`;
}

export function splitScope(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter((s) => s !== '');
}

export function serialiseSession(session: StoredSession): string {
  return JSON.stringify({ version: SESSION_VERSION, ...session });
}

const SESSION_VERSION = 1;

/** A session read back, or undefined for anything that is not one (another program's item, a future version). */
export function parseSession(value: unknown): StoredSession | undefined {
  let record: unknown = value;
  if (typeof value === 'string') {
    try {
      record = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof record !== 'object' || record === null) return undefined;
  const r = record as Record<string, unknown>;
  const text = (key: string): boolean => typeof r[key] === 'string' && r[key] !== '';
  const optionalText = (key: string): boolean => r[key] === undefined || typeof r[key] === 'string';
  const optionalTime = (key: string): boolean =>
    r[key] === undefined || (typeof r[key] === 'number' && Number.isFinite(r[key]));
  if (
    r.version !== SESSION_VERSION ||
    !['providerId', 'issuer', 'clientId', 'subject', 'accessToken'].every(text) ||
    !['name', 'email', 'refreshToken', 'idToken'].every(optionalText) ||
    !['accessTokenExpiresAt'].every(optionalTime) ||
    typeof r.savedAt !== 'number' ||
    !Array.isArray(r.scopes) ||
    !r.scopes.every((s) => typeof s === 'string')
  )
    return undefined;
  const { version: _version, ...session } = r;
  return session as unknown as StoredSession;
}
