/**
 * Storage for the dev provider's artifacts (sessions, interactions, codes,
 * tokens, grants), in the shape oidc-provider's adapter interface expects.
 *
 * oidc-provider's own MemoryAdapter is not used because it prints a warning
 * when chosen and is one 1 000-entry LRU, small enough to evict live
 * interactions during a benchmark. This one is per provider instance, expires
 * entries lazily on read plus a periodic sweep, and is capped.
 */

export type Payload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

export interface Adapter {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

interface Entry {
  payload: Payload;
  expiresAt: number;
}

/** oidc-provider tolerates this much clock skew; keep entries that long past exp. */
const GRACE_MS = 15_000;
const SWEEP_EVERY_MS = 30_000;
const MAX_ENTRIES = 200_000;

export class MemoryStore {
  readonly #entries = new Map<string, Entry>();
  /** secondary index key (`uid:…`, `userCode:…`) → entry key */
  readonly #indexes = new Map<string, string>();
  readonly #grants = new Map<string, Set<string>>();
  #lastSweep = Date.now();

  get(key: string): Payload | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  getIndexed(indexKey: string): Payload | undefined {
    const key = this.#indexes.get(indexKey);
    return key === undefined ? undefined : this.get(key);
  }

  /** `grantId`: set for token-like artifacts, which revoking their grant must delete. */
  set(
    key: string,
    payload: Payload,
    expiresIn: number | undefined,
    indexKeys: string[],
    grantId?: string,
  ): void {
    this.#maybeSweep();
    this.delete(key);
    const expiresAt =
      typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 + GRACE_MS : Infinity;
    this.#entries.set(key, { payload, expiresAt });
    for (const indexKey of indexKeys) this.#indexes.set(indexKey, key);
    if (grantId !== undefined) {
      let members = this.#grants.get(grantId);
      if (members === undefined) this.#grants.set(grantId, (members = new Set()));
      members.add(key);
    }
    if (this.#entries.size > MAX_ENTRIES) {
      // Map iteration order is insertion order: the first key is the oldest write.
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.delete(oldest.value);
    }
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    const { uid, userCode, grantId } = entry.payload;
    for (const indexKey of [uid && `uid:${uid}`, userCode && `userCode:${userCode}`]) {
      if (indexKey && this.#indexes.get(indexKey) === key) this.#indexes.delete(indexKey);
    }
    if (typeof grantId === 'string') {
      const members = this.#grants.get(grantId);
      members?.delete(key);
      if (members?.size === 0) this.#grants.delete(grantId);
    }
  }

  deleteGrantMembers(grantId: string): void {
    for (const key of [...(this.#grants.get(grantId) ?? [])]) this.delete(key);
    this.#grants.delete(grantId);
  }

  #maybeSweep(): void {
    const now = Date.now();
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.delete(key);
    }
  }
}

/** Models whose artifacts die with their grant (oidc-provider's own list). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** One adapter per oidc-provider model name, all sharing one store. */
export class ModelAdapter implements Adapter {
  readonly #model: string;
  readonly #store: MemoryStore;

  constructor(model: string, store: MemoryStore) {
    this.#model = model;
    this.#store = store;
  }

  #key(id: string): string {
    return `${this.#model}:${id}`;
  }

  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const indexKeys: string[] = [];
    // Only sessions are looked up by uid; only device codes by user code.
    if (this.#model === 'Session' && typeof payload.uid === 'string') {
      indexKeys.push(`uid:${payload.uid}`);
    }
    if (typeof payload.userCode === 'string') indexKeys.push(`userCode:${payload.userCode}`);
    const grantId =
      GRANTABLE.has(this.#model) && typeof payload.grantId === 'string'
        ? payload.grantId
        : undefined;
    this.#store.set(this.#key(id), payload, expiresIn, indexKeys, grantId);
  }

  async find(id: string): Promise<Payload | undefined> {
    return this.#store.get(this.#key(id));
  }

  async findByUid(uid: string): Promise<Payload | undefined> {
    return this.#store.getIndexed(`uid:${uid}`);
  }

  async findByUserCode(userCode: string): Promise<Payload | undefined> {
    return this.#store.getIndexed(`userCode:${userCode}`);
  }

  async consume(id: string): Promise<void> {
    const payload = this.#store.get(this.#key(id));
    if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.#store.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.#store.deleteGrantMembers(grantId);
  }
}
