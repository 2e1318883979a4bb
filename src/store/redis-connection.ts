/**
 * The Redis store's two connections (commands, and one shared subscriber for
 * pub/sub) and what it does about faults:
 *
 * - Unreachable at start: connect gives up at the first failure and throws one
 *   startup_failed line naming the server (never its credentials).
 * - Lost while running: the client reconnects by itself; meanwhile commands are
 *   not queued (`disableOfflineQueue`), so every store operation fails fast
 *   with store_unavailable (a 503) instead of hanging.
 * - Connected but stalled (a long script elsewhere, DEBUG SLEEP, a paused
 *   process): every command is bounded by its own timer (`#bounded`), so the
 *   operation fails with store_unavailable after commandTimeoutMs.
 * - Redis 'error' events are logged at warn, at most one line per interval:
 *   an outage must neither crash the process nor flood the log.
 */
import { createClient } from 'redis';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { redactUrl } from '../redact.js';
import { SCRIPTS, type Reply, type StoreScript } from './redis-scripts.js';
import type { StoreHealth } from './types.js';

export type { Reply };

function newClient(url: string, socket: NonNullable<Parameters<typeof createClient>[0]>['socket']) {
  return createClient({ url, disableOfflineQueue: true, socket, scripts: SCRIPTS });
}

type Client = ReturnType<typeof newClient>;

export interface RedisConnectionOptions {
  url: string;
  logger: Logger;
  /** Per command; a stalled connection must not hold a request for long. Default 2000. */
  commandTimeoutMs?: number;
  /** Default 3000. */
  connectTimeoutMs?: number;
}

const WARN_INTERVAL_MS = 10_000;
const MAX_RECONNECT_DELAY_MS = 1_000;
const CLOSE_GRACE_MS = 1_000;
/** GETDEL (atomic take of a code) arrived in 6.2. */
const MIN_VERSION: readonly [number, number] = [6, 2];

/** A command Redis did not answer within commandTimeoutMs (it may still run later). */
class NoReply extends Error {
  constructor(readonly ms: number) {
    super(`no reply within ${ms} ms`);
    this.name = 'NoReply';
  }
}

function reasonOf(error: unknown): string {
  const e = error as { socketError?: unknown; code?: unknown; name?: unknown; message?: unknown };
  if (e?.socketError) return reasonOf(e.socketError);
  if (typeof e?.code === 'string') return e.code;
  if (e?.name === 'ConnectionTimeoutError') return 'timed out';
  return typeof e?.message === 'string' && e.message !== '' ? e.message : String(error);
}

export class RedisConnection {
  readonly #main: Client;
  /**
   * The commands connection with node-redis's own timeout on every call, scripts included. That
   * timeout ends only at the write to the socket (a command not yet sent is dropped, not sent
   * late); the reply is bounded by `#bounded`.
   */
  readonly #timed: Client;
  readonly #subscriber: Client;
  readonly #logger: Logger;
  readonly #where: string;
  readonly #commandTimeoutMs: number;
  #started = false;
  #closing = false;
  /** Stores on these connections (share()); the last one's close() ends them. */
  #holders = 1;
  #degraded = false;
  #lastReason: string | undefined;
  #lastWarnAt = 0;
  #suppressed = 0;
  readonly #onRestored = new Set<() => void>();

  private constructor(options: RedisConnectionOptions) {
    this.#logger = options.logger;
    // The server as shown to people: never its credentials.
    this.#where = redactUrl(options.url);
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 2_000;
    this.#main = newClient(options.url, {
      connectTimeout: options.connectTimeoutMs ?? 3_000,
      // Before start-up succeeded a failure is final (one clear line); after, reconnect quickly and forever.
      reconnectStrategy: (retries, cause) =>
        this.#started && !this.#closing
          ? Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS)
          : cause,
    });
    this.#timed = this.#main.withCommandOptions({ timeout: this.#commandTimeoutMs });
    this.#subscriber = this.#main.duplicate();
    for (const [client, role] of [
      [this.#main, 'commands'],
      [this.#subscriber, 'subscriber'],
    ] as const) {
      client.on('error', (error: unknown) => this.#onError(role, error));
      client.on('ready', () => this.#onReady());
    }
  }

  /** Connects both clients; throws BrokerError startup_failed (one line) when Redis cannot be used. */
  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    const connection = new RedisConnection(options);
    try {
      await connection.#main.connect();
      await connection.#subscriber.connect();
      await connection.#checkVersion();
    } catch (error) {
      connection.#destroy();
      if (error instanceof BrokerError) throw error;
      throw new BrokerError(
        'startup_failed',
        `Cannot reach Redis at ${connection.#where} (${reasonOf(error)}); start it or fix --store`,
        { cause: error },
      );
    }
    connection.#started = true;
    return connection;
  }

  /** The server-side clock is Redis's; this is only the label used in messages. */
  get where(): string {
    return this.#where;
  }

  get subscriber(): Client {
    return this.#subscriber;
  }

  get subscriberReady(): boolean {
    return this.#subscriber.isReady;
  }

  /** Called once both connections are back after an outage (the subscriber has resubscribed by then). */
  onRestored(listener: () => void): () => void {
    this.#onRestored.add(listener);
    return () => this.#onRestored.delete(listener);
  }

  /**
   * A timed-out SET (bindSubject) may still be applied: the token response already failed with
   * 503, so the binding is unused and expires with its TTL. A timed-out GET changes nothing.
   */
  async command(args: readonly string[]): Promise<Reply> {
    try {
      return await this.#bounded(() =>
        this.#main.sendCommand<Reply>(args, { timeout: this.#commandTimeoutMs }),
      );
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  /**
   * Runs a store script: EVALSHA, and EVAL when a restarted Redis does not know it (node-redis does
   * both). A script that timed out here may still run once Redis wakes: each is one atomic Lua
   * script, so it is applied whole or not at all, and the caller (told store_unavailable) cannot
   * tell which. Why that is safe, per kind:
   * - create: a flow the app was refused may exist; nobody knows its state, and it holds one place
   *   in the cap until its challenge TTL ends.
   * - start: the flow may be started; a retry then finds it started and is refused (gone), as a
   *   second start always is, so the app begins a new flow.
   * - complete: the outcome may be stored; the waiter then receives it, or the flow stays pending
   *   until it expires. The first completion wins either way, so a retried callback adds nothing.
   * - claim: the claim may be held with nobody waiting on it; its lease frees it, and until then
   *   another wait is answered busy, as while a broker crashed holding one.
   * - release: the claim is freed late or left to its lease.
   * - redeem: the code may be taken (GETDEL) with no tokens issued for it: the app must sign in
   *   again. That fails closed: a code is never redeemed twice.
   * - delete, clear: done late or not at all; a retry does it again (both are idempotent).
   * - get, find, size: change nothing.
   */
  async eval(
    script: StoreScript,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<Reply> {
    try {
      return await this.#bounded(() => this.#timed[script.NAME](keys, args));
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  unavailable(cause: unknown): BrokerError {
    return new BrokerError(
      'store_unavailable',
      'The flow store (Redis) is unavailable; try again shortly.',
      { cause },
    );
  }

  async health(): Promise<StoreHealth> {
    if (!this.#main.isReady || !this.#subscriber.isReady) {
      return {
        ok: false,
        detail: `redis ${this.#where} unreachable (${this.#lastReason ?? 'connecting'}); reconnecting`,
      };
    }
    try {
      await this.#bounded(() =>
        this.#main.sendCommand(['PING'], { timeout: this.#commandTimeoutMs }),
      );
      return { ok: true, detail: `redis ${this.#where} ready` };
    } catch (error) {
      if (error instanceof NoReply)
        return {
          ok: false,
          detail: `redis ${this.#where} stalled (connected, but ${error.message} to PING)`,
        };
      return { ok: false, detail: `redis ${this.#where} not answering (${reasonOf(error)})` };
    }
  }

  /**
   * The same two connections for one more store (the device store beside the
   * flow store): every holder closes its share, and the last close ends them.
   */
  share(): RedisConnection {
    if (this.#closing) throw this.unavailable(new Error('the connection is closed'));
    this.#holders += 1;
    return this;
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#holders -= 1;
    if (this.#holders > 0) return;
    this.#closing = true;
    this.#onRestored.clear();
    await Promise.all([closeClient(this.#subscriber), closeClient(this.#main)]);
  }

  #destroy(): void {
    this.#closing = true;
    for (const client of [this.#subscriber, this.#main]) if (client.isOpen) client.destroy();
  }

  async #checkVersion(): Promise<void> {
    const info = String(
      await this.#bounded(() =>
        this.#main.sendCommand(['INFO', 'server'], { timeout: this.#commandTimeoutMs }),
      ),
    );
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    const [major, minor] = [Number(version?.[1] ?? 0), Number(version?.[2] ?? 0)];
    if (major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1])) {
      throw new BrokerError(
        'startup_failed',
        `Redis at ${this.#where} is version ${version ? `${major}.${minor}` : 'unknown'}; the flow store needs Redis ${MIN_VERSION.join('.')} or later`,
      );
    }
  }

  /**
   * Rejects with NoReply once commandTimeoutMs passed without a reply: node-redis's `timeout`
   * stops at the socket write, so a Redis that took the command and stalls would hold the caller
   * for as long as it stalls. The late reply (or error) then settles the abandoned promise, which
   * the race has already handled. A plain timer, not AbortSignal.any (it leaks on Node 20).
   */
  async #bounded<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const ms = this.#commandTimeoutMs;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NoReply(ms)), ms);
    });
    try {
      return await Promise.race([run(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #onError(role: string, error: unknown): void {
    this.#lastReason = reasonOf(error);
    // At start-up the failure becomes the one startup_failed line; while closing it is expected.
    if (!this.#started || this.#closing) return;
    if (!this.#degraded) {
      this.#degraded = true;
      this.#lastWarnAt = Date.now();
      this.#logger.warn(
        { store: 'redis', redis: this.#where, role, reason: this.#lastReason },
        'Redis connection lost; flow operations answer 503 until it is back',
      );
      return;
    }
    const now = Date.now();
    if (now - this.#lastWarnAt < WARN_INTERVAL_MS) {
      this.#suppressed += 1;
      return;
    }
    this.#logger.warn(
      {
        store: 'redis',
        redis: this.#where,
        role,
        reason: this.#lastReason,
        suppressed: this.#suppressed,
      },
      'Redis still unavailable; reconnecting',
    );
    this.#lastWarnAt = now;
    this.#suppressed = 0;
  }

  #onReady(): void {
    if (!this.#started || this.#closing || !this.#main.isReady || !this.#subscriber.isReady) return;
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#suppressed = 0;
    this.#logger.info({ store: 'redis', redis: this.#where }, 'Redis connection restored');
    for (const listener of this.#onRestored) listener();
  }
}

async function closeClient(client: Client): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) {
    client.destroy();
    return;
  }
  // A graceful close waits for replies; a connection that stalls gets destroyed instead.
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS);
  });
  const outcome = await Promise.race([client.close().then(() => 'closed' as const), grace]);
  clearTimeout(timer);
  if (outcome === 'late' && client.isOpen) client.destroy();
}
