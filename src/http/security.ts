/**
 * Request gates that run before any handler: the Host check (DNS rebinding),
 * the Origin policy (no cross-site requests but the provider's form_post),
 * per-route content types (no preflight-free CSRF), and the X-Application-ID
 * allow-list. Each refusal is a BrokerError rendered by the error handler.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';
import { constantTimeEqual } from '../protocol/pkce.js';

export interface SecurityOptions {
  /** The bound port; known only after listen when configured as 0. */
  port(): number;
  /** Extra Host names (with or without port). */
  allowHosts: readonly string[];
  /** Origins granted CORS. */
  allowOrigins: readonly string[];
  /** Origin of the provider's authorization endpoint: its form_post may reach the callback. */
  providerOrigin(): string | undefined;
  appIds: readonly string[];
}

export interface RouteSecurityConfig {
  /** Media types the route accepts; a body of another type gets 415. */
  contentTypes?: readonly string[];
  /** The callback: no app-ID check, cross-origin form_post allowed from the provider. */
  callback?: boolean;
  /** Reachable without an app ID (health checks). */
  public?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig extends RouteSecurityConfig {
    /** Errors on this route render as an HTML page for browsers. */
    htmlAnswers?: boolean;
  }
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export function allowedHostSet(port: number, extra: readonly string[]): Set<string> {
  const hosts = new Set<string>();
  for (const name of [...LOOPBACK_NAMES, ...extra]) {
    const lower = name.toLowerCase();
    if (/:\d+$/.test(lower) && !lower.endsWith(']')) hosts.add(lower);
    else {
      hosts.add(`${lower}:${port}`);
      if (port === 80) hosts.add(lower);
    }
  }
  return hosts;
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function registerSecurity(app: FastifyInstance, options: SecurityOptions): void {
  let hostsForPort = -1;
  let hosts = new Set<string>();
  const allowedHosts = (): Set<string> => {
    const port = options.port();
    if (port !== hostsForPort) {
      hosts = allowedHostSet(port, options.allowHosts);
      hostsForPort = port;
    }
    return hosts;
  };
  const corsOrigins = new Set(options.allowOrigins);

  app.addHook('onRequest', async (request, reply) => {
    const host = request.headers.host?.toLowerCase();
    if (!host || !allowedHosts().has(host)) {
      throw new BrokerError('misdirected_request', 'This broker answers only to its own loopback address.');
    }
    const config = (request.routeOptions.config ?? {}) as RouteSecurityConfig;
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) {
      const fromProvider = config.callback === true && (origin === options.providerOrigin() || origin === 'null');
      if (corsOrigins.has(origin)) {
        void reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
      } else if (!fromProvider) {
        throw new BrokerError('forbidden_origin', 'Cross-origin requests are not allowed.');
      }
    }
    if (config.contentTypes && hasBody(request)) {
      const type = mediaType(request.headers['content-type']);
      if (type === undefined || !config.contentTypes.includes(type)) {
        throw new BrokerError('unsupported_media_type', `This endpoint accepts ${config.contentTypes.join(' or ')}.`);
      }
    }
    if (options.appIds.length > 0 && !config.callback && !config.public) {
      const presented = request.headers['x-application-id'];
      const value = typeof presented === 'string' ? presented : '';
      let match = false;
      // Compare against every entry so timing does not reveal which one matched.
      for (const id of options.appIds) match = constantTimeEqual(value, id) || match;
      if (!match) throw new BrokerError('unauthorized_app', 'A valid X-Application-ID header is required.');
    }
  });
}
