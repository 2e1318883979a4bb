/**
 * The credential cache: the sessions of every backend in use, read together,
 * and written under the cross-process lock. The one door to saved sessions
 * for login, token, status and logout, which need only list/get/save/delete
 * (and `exclusive` around a read-then-write such as a refresh).
 */
import type { CredentialBackend, StoreKind } from './backend.js';
import { withLock } from './lock.js';
import { describeSession, sameAccount, type SessionKey, type StoredSession } from './session.js';

export interface SavedSession {
  readonly session: StoredSession;
  /** The backend holding it: a refreshed session is saved back there. */
  readonly store: StoreKind;
  readonly where: string;
}

export interface CacheParts {
  /** Every backend in use, the preferred one for new sessions first. */
  readonly backends: readonly CredentialBackend[];
  /** The directory of the lock (and of the credentials file). */
  readonly directory: string;
  /** Where the cache says (once) that a new session could not go to the preferred backend. */
  readonly note: (line: string) => void;
  /** Why `auto` found no keychain, where it found none. */
  readonly keychainMissing?: string;
}

export class CredentialCache {
  readonly #backends: readonly CredentialBackend[];
  readonly #directory: string;
  readonly #note: (line: string) => void;
  /** Inside exclusive(): the lock is held, writes do not take it again. */
  #held = false;
  #noted = false;
  /** Why `auto` found no keychain (and keeps sessions in the file), where it found none. */
  readonly keychainMissing: string | undefined;

  constructor(parts: CacheParts) {
    if (parts.backends.length === 0) throw new TypeError('a cache needs a backend');
    this.#backends = parts.backends;
    this.#directory = parts.directory;
    this.#note = parts.note;
    this.keychainMissing = parts.keychainMissing;
  }

  /** Where sessions are kept, for people. */
  get stores(): readonly { kind: StoreKind; where: string }[] {
    return this.#backends.map(({ kind, where }) => ({ kind, where }));
  }

  async list(): Promise<SavedSession[]> {
    const found: SavedSession[] = [];
    for (const backend of this.#backends) {
      for (const session of await backend.list()) {
        // One account in two backends (a save that fell back): the preferred backend's copy wins.
        if (found.some((f) => sameAccount(f.session, session))) continue;
        found.push({ session, store: backend.kind, where: backend.where });
      }
    }
    return found;
  }

  async get(key: SessionKey): Promise<SavedSession | undefined> {
    return (await this.list()).find((saved) => sameAccount(saved.session, key));
  }

  /**
   * Saves, replacing the same account's session wherever it was. It goes to
   * `store` when given (where a refreshed session came from), else to the
   * preferred backend, else — that one failing — to the next, said once.
   */
  async save(session: StoredSession, store?: StoreKind): Promise<SavedSession> {
    return this.#locked(async () => {
      const order =
        store === undefined ? this.#backends : this.#backends.filter((b) => b.kind === store);
      let failure: unknown;
      for (const [index, backend] of order.entries()) {
        try {
          await backend.put(session);
        } catch (error) {
          if (store !== undefined || index === order.length - 1) throw error;
          failure = error;
          continue;
        }
        if (failure !== undefined && !this.#noted) {
          this.#noted = true;
          this.#note(
            `${(failure as Error).message}; the session of ${describeSession(session)} is saved in ${backend.where} instead.`,
          );
        }
        for (const other of this.#backends)
          if (other !== backend) await other.delete(session).catch(() => false);
        return { session, store: backend.kind, where: backend.where };
      }
      throw failure;
    });
  }

  async delete(key: SessionKey): Promise<boolean> {
    return this.#locked(async () => {
      let deleted = false;
      for (const backend of this.#backends) if (await backend.delete(key)) deleted = true;
      return deleted;
    });
  }

  /**
   * Runs `work` holding the lock that every writer takes: a read inside sees
   * what the last writer saved, and nobody writes until `work` is done.
   */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.#locked(work);
  }

  async #locked<T>(work: () => Promise<T>): Promise<T> {
    if (this.#held) return work();
    return withLock(this.#directory, async () => {
      this.#held = true;
      try {
        return await work();
      } finally {
        this.#held = false;
      }
    });
  }
}
