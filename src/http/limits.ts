/**
 * Socket-level limits against slow and idle clients (slowloris), as Fastify
 * server options.
 *
 * Node's `requestTimeout` and `headersTimeout` cover *receiving* a request:
 * a connection leaves Node's watch list once its request is complete, so a
 * `POST /pkce/code` that waits minutes for the browser after its body arrived
 * is not cut. Fastify's `connectionTimeout` (socket inactivity) would cut that
 * wait, so it stays off.
 */
import type { ServerOptions } from 'node:http';

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
