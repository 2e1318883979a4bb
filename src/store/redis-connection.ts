/**
 * The Redis store's two connections (commands, and one shared subscriber for
 * pub/sub) and what it does about faults:
 *
 * - Unreachable at start: connect gives up at the first failure and throws one
 *   startup_failed line naming the server (never its credentials).
 * - Lost while running: the client reconnects by itself; meanwhile commands are
 *   not queued (`disableOfflineQueue`) and each has a timeout, so every store
 *   operation fails fast with store_unavailable (a 503) instead of hanging.
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

function reasonOf(error: unknown): string {
  const e = error as { socketError?: unknown; code?: unknown; name?: unknown; message?: unknown };
  if (e?.socketError) return reasonOf(e.socketError);
  if (typeof e?.code === 'string') return e.code;
  if (e?.name === 'ConnectionTimeoutError') return 'timed out';
  return typeof e?.message === 'string' && e.message !== '' ? e.message : String(error);
}

export class RedisConnection {
  readonly #main: Client;
  /** The commands connection with the per-command timeout on every call, scripts included. */
  readonly #timed: Client;
  readonly #subscriber: Client;
  readonly #logger: Logger;
  readonly #where: string;
  readonly #commandTimeoutMs: number;
  #started = false;
  #closing = false;
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

  async command(args: readonly string[]): Promise<Reply> {
    try {
      return await this.#main.sendCommand<Reply>(args, { timeout: this.#commandTimeoutMs });
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  /** Runs a store script: EVALSHA, and EVAL when a restarted Redis does not know it (node-redis does both). */
  async eval(
    script: StoreScript,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<Reply> {
    try {
      return await this.#timed[script.NAME](keys, args);
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
      await this.#main.sendCommand(['PING'], { timeout: this.#commandTimeoutMs });
      return { ok: true, detail: `redis ${this.#where} ready` };
    } catch (error) {
      return { ok: false, detail: `redis ${this.#where} not answering (${reasonOf(error)})` };
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return;
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
      await this.#main.sendCommand(['INFO', 'server'], { timeout: this.#commandTimeoutMs }),
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
