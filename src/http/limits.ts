/**
 * Limits: socket-level ones against slow and idle clients (slowloris), as
 * Fastify server options; and per-flow budgets of requests that cost a round
 * trip to the provider.
 *
 * Node's `requestTimeout` and `headersTimeout` cover *receiving* a request:
 * a connection leaves Node's watch list once its request is complete, so a
 * `POST /pkce/code` that waits minutes for the browser after its body arrived
 * is not cut. Fastify's `connectionTimeout` (socket inactivity) would cut that
 * wait, so it stays off.
 */
import type { ServerOptions } from 'node:http';
import { BrokerError } from '../errors.js';

export interface ServerLimits {
  /** Time to receive the request line and every header. */
  headersTimeoutMs: number;
  /** Time to receive the whole request, body included. */
  requestTimeoutMs: number;
  /** Idle time of a kept-alive socket between requests. */
  keepAliveTimeoutMs: number;
  /** How often Node checks the two timeouts above (its default, 30 s, lets a slowloris hold on that long). */
  checkIntervalMs: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
});

export interface FastifyServerLimitOptions {
  requestTimeout: number;
  connectionTimeout: number;
  keepAliveTimeout: number;
  http: ServerOptions;
}

export function serverLimitOptions(
  overrides: Partial<ServerLimits> = {},
): FastifyServerLimitOptions {
  const limits = { ...DEFAULT_SERVER_LIMITS, ...overrides };
  return {
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: 0,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      // Node requires headersTimeout <= requestTimeout.
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
  };
}

export interface FlowBudgetOptions {
  /** Requests a flow may make at once. */
  burst: number;
  /** One more request every this long, up to `burst`. */
  refillMs: number;
  /** Flows remembered at most; past it the least recently asked one is forgotten. */
  maxFlows: number;
  now?: () => number;
}

/**
 * GET /pkce/authorize-url builds the URL afresh each time, with PAR a push
 * to the provider: whoever knows a flow's state could otherwise make the
 * broker hammer the provider with its client's credentials (and get that
 * client rate-limited there for every sign-in). Five at once, then one every
 * six seconds: more than a person re-opening the page asks for; `login` asks
 * once per flow.
 */
export const AUTHORIZE_URL_BUDGET: Readonly<Omit<FlowBudgetOptions, 'now'>> = Object.freeze({
  burst: 5,
  refillMs: 6_000,
  maxFlows: 10_000,
});

/**
 * A token bucket per flow, in this broker's memory (with several brokers,
 * each has its own). Hand-written rather than @fastify/rate-limit (not in the
 * tree): that keys on the request and counts every answer, where this counts
 * only requests that reached the provider-bound step of a live flow, so a
 * client retrying its 404s while the flow starts spends nothing. O(1) per
 * request; the Map's insertion order is the recency order, and its size is
 * bounded by `maxFlows` (a forgotten flow starts with a full budget again).
 */
export class FlowBudget {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #options: FlowBudgetOptions;
  readonly #now: () => number;

  constructor(options: FlowBudgetOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one request from `flow`'s budget; BrokerError too_many_requests (429, Retry-After) when it is spent. */
  take(flow: string): void {
    const { burst, refillMs, maxFlows } = this.#options;
    const now = this.#now();
    const last = this.#buckets.get(flow);
    const tokens = last
      ? Math.min(burst, last.tokens + Math.max(0, now - last.at) / refillMs)
      : burst;
    this.#buckets.delete(flow);
    if (tokens < 1) {
      this.#buckets.set(flow, { tokens, at: now });
      throw new BrokerError(
        'too_many_requests',
        'This sign-in asked for its provider URL too often; ask again later.',
        { retryAfter: Math.ceil(((1 - tokens) * refillMs) / 1000) },
      );
    }
    this.#buckets.set(flow, { tokens: tokens - 1, at: now });
    if (this.#buckets.size > maxFlows) this.#buckets.delete(this.#buckets.keys().next().value!);
  }

  /** Flows remembered now. */
  get size(): number {
    return this.#buckets.size;
  }
}
