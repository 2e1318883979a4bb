/**
 * The Redis device flow store: a device sign-in started on one broker can be
 * waited for, polled, and delivered on another. One hash per flow, named by
 * the sealer's index of the handle (a dump reveals no handle): `r` the sealed
 * record (device_code included), `e` the clear epoch it was created in, `i`
 * the poll interval, `o` the sealed outcome (tokens included), set once. The
 * waiter claim and the poller lease are keys of their own with the lease as
 * their expiry, so a crashed broker's frees itself.
 *
 * Wake-ups as in the flow store (redis.ts): a waiter subscribes to its flow's
 * channel and the clear channel first, then reads, so nothing that lands in
 * between is missed; a message only says "look again"; after an outage every
 * waiter reads again. Connections and bounded commands: redis-connection.ts;
 * a broker's device store shares its flow store's (create.ts).
 * The scripts are small and sent with EVAL (Redis caches them by digest).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging.js';
import { RedisConnection, type Reply } from './redis-connection.js';
import { createSealer, type Sealer } from './sealing.js';
import type { DeviceLookup, DeviceOutcome, DeviceRecord, DeviceStore } from './device-types.js';

export interface RedisDeviceStoreOptions {
  url: string;
  /** --store-key: 64 hex characters. */
  key: string;
  prefix: string;
  logger: Logger;
  commandTimeoutMs?: number;
  /** The flow store's connections, shared (RedisFlowStore.shareConnection()); else two of its own. */
  connection?: RedisConnection;
}

const CREATE = `local e = redis.call('GET', KEYS[2]) or '0'
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'e', e, 'i', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

const READ = `local v = redis.call('HMGET', KEYS[1], 'r', 'e', 'o', 'i')
v[5] = redis.call('GET', KEYS[2]) or '0'
return v`;

const SET_INTERVAL = `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'i', ARGV[1]) end
return 1`;

/** First outcome wins, in the flow's own epoch only; then the wake-up. */
const COMPLETE = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'e') ~= (redis.call('GET', KEYS[2]) or '0') then return 0 end
if redis.call('HSETNX', KEYS[1], 'o', ARGV[1]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], '1')
return 1`;

const REMOVE = `redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', ARGV[1], '1')
return 1`;

/** Takes a free lease, or renews the caller's own; only for a live flow. */
const HOLD = `if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

const CLEAR = `redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], '1')
return 1`;

/** The sealed `r` field: what the record holds besides its handle and interval. */
interface Sealed {
  provider: string;
  deviceCode: string;
  expiresAt: number;
  audience?: string;
}

export async function connectRedisDeviceStore(
  options: RedisDeviceStoreOptions,
): Promise<RedisDeviceStore> {
  const connection =
    options.connection ??
    (await RedisConnection.open({
      url: options.url,
      logger: options.logger,
      ...(options.commandTimeoutMs !== undefined && { commandTimeoutMs: options.commandTimeoutMs }),
    }));
  return new RedisDeviceStore(connection, createSealer(options.key), options.prefix);
}

export class RedisDeviceStore implements DeviceStore {
  readonly #redis: RedisConnection;
  readonly #sealer: Sealer;
  readonly #prefix: string;
  readonly #recheck = new Set<() => void>();
  readonly #stopListening: () => void;
  #closed = false;

  constructor(connection: RedisConnection, sealer: Sealer, prefix: string) {
    this.#redis = connection;
    this.#sealer = sealer;
    this.#prefix = `${prefix}device:`;
    // Messages published during an outage are lost: every waiter looks again.
    this.#stopListening = connection.onRestored(() => {
      for (const recheck of [...this.#recheck]) recheck();
    });
  }

  async create(record: DeviceRecord, ttlMs: number): Promise<void> {
    const key = this.#key(record.handle);
    const sealed: Sealed = {
      provider: record.provider,
      deviceCode: record.deviceCode,
      expiresAt: record.expiresAt,
      ...(record.audience !== undefined && { audience: record.audience }),
    };
    await this.#eval(
      CREATE,
      [key, this.#epochKey],
      [
        this.#sealer.seal(JSON.stringify(sealed), `${key}#r`),
        String(Math.max(1, Math.ceil(ttlMs))),
        String(record.intervalMs),
      ],
    );
  }

  async get(handle: string): Promise<DeviceLookup> {
    const key = this.#key(handle);
    const [r, e, o, i, epoch] = asList(await this.#eval(READ, [key, this.#epochKey], []));
    if (typeof r !== 'string') return { kind: 'gone' };
    if (String(e) !== String(epoch)) return { kind: 'cleared' };
    const sealed = JSON.parse(this.#sealer.open(r, `${key}#r`)) as Sealed;
    const record: DeviceRecord = {
      handle,
      provider: sealed.provider,
      deviceCode: sealed.deviceCode,
      expiresAt: sealed.expiresAt,
      intervalMs: Number(i),
      ...(sealed.audience !== undefined && { audience: sealed.audience }),
    };
    if (typeof o !== 'string') return { kind: 'live', record };
    const outcome = JSON.parse(this.#sealer.open(o, `${key}#o`)) as DeviceOutcome;
    return { kind: 'live', record, outcome };
  }

  async setInterval(handle: string, intervalMs: number): Promise<void> {
    await this.#eval(SET_INTERVAL, [this.#key(handle)], [String(intervalMs)]);
  }

  async complete(handle: string, outcome: DeviceOutcome): Promise<boolean> {
    const key = this.#key(handle);
    const sealed = this.#sealer.seal(JSON.stringify(outcome), `${key}#o`);
    const reply = await this.#eval(
      COMPLETE,
      [key, this.#epochKey],
      [sealed, this.#channel(handle)],
    );
    return Number(reply) === 1;
  }

  async remove(handle: string): Promise<void> {
    const key = this.#key(handle);
    await this.#eval(REMOVE, [key, `${key}:w`, `${key}:p`], [this.#channel(handle)]);
  }

  async claimWaiter(handle: string, leaseMs: number): Promise<string | undefined> {
    const claim = randomUUID();
    const reply = await this.#redis.command([
      'SET',
      `${this.#key(handle)}:w`,
      claim,
      'NX',
      'PX',
      String(Math.ceil(leaseMs)),
    ]);
    return reply === 'OK' ? claim : undefined;
  }

  async releaseWaiter(handle: string, claim: string): Promise<void> {
    await this.#eval(RELEASE, [`${this.#key(handle)}:w`], [claim]);
  }

  async holdPoller(handle: string, owner: string, leaseMs: number): Promise<boolean> {
    const key = this.#key(handle);
    const reply = await this.#eval(HOLD, [`${key}:p`, key], [owner, String(Math.ceil(leaseMs))]);
    return Number(reply) === 1;
  }

  async releasePoller(handle: string, owner: string): Promise<void> {
    await this.#eval(RELEASE, [`${this.#key(handle)}:p`], [owner]);
  }

  async waitForOutcome(handle: string, signal: AbortSignal): Promise<DeviceLookup> {
    if (signal.aborted) throw signal.reason;
    const channels = [this.#channel(handle), this.#clearChannel];
    return new Promise<DeviceLookup>((resolve, reject) => {
      let settled = false;
      let subscribed = false;
      const finish = (end: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        this.#recheck.delete(look);
        if (subscribed && !this.#closed)
          this.#redis.subscriber.unsubscribe(channels, listener).catch(() => undefined);
        end();
      };
      const look = (): void => {
        this.get(handle).then(
          (lookup) => {
            if (lookup.kind !== 'live' || lookup.outcome !== undefined)
              finish(() => resolve(lookup));
          },
          // Redis away: stay subscribed; the end of the outage (or the service's timeout) decides.
          () => undefined,
        );
      };
      const listener = (): void => look();
      const onAbort = (): void => finish(() => reject(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#recheck.add(look);
      this.#redis.subscriber.subscribe(channels, listener).then(
        () => {
          subscribed = true;
          if (settled) {
            this.#redis.subscriber.unsubscribe(channels, listener).catch(() => undefined);
            return;
          }
          look();
        },
        (error: unknown) => finish(() => reject(this.#redis.unavailable(error))),
      );
    });
  }

  async clear(): Promise<void> {
    await this.#eval(CLEAR, [this.#epochKey], [this.#clearChannel]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopListening();
    await this.#redis.close();
  }

  #eval(script: string, keys: readonly string[], args: readonly string[]): Promise<Reply> {
    return this.#redis.command(['EVAL', script, String(keys.length), ...keys, ...args]);
  }

  #key(handle: string): string {
    return `${this.#prefix}${this.#sealer.index('device', handle)}`;
  }

  #channel(handle: string): string {
    return `${this.#key(handle)}:c`;
  }

  get #epochKey(): string {
    return `${this.#prefix}epoch`;
  }

  get #clearChannel(): string {
    return `${this.#prefix}clear`;
  }
}

function asList(reply: Reply): Reply[] {
  return Array.isArray(reply) ? reply : [];
}
