/**
 * Where sessions are kept: the system keychain or a private file. Both hold
 * whole records and answer the same three questions; the cache (cache.ts)
 * picks one and adds the lock.
 */
import type { SessionKey, StoredSession } from './session.js';

export type StoreKind = 'keychain' | 'file';

export interface CredentialBackend {
  readonly kind: StoreKind;
  /** For people: "the system keychain (Secret Service)", "/home/me/.config/pkce-broker/credentials.json". */
  readonly where: string;
  /** Every session saved here. */
  list(): Promise<StoredSession[]>;
  /** Saves, replacing the session of the same account. */
  put(session: StoredSession): Promise<void>;
  /** Whether there was such a session. */
  delete(key: SessionKey): Promise<boolean>;
}
