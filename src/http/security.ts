/**
 * Request gates that run before any handler: the Host check (DNS rebinding),
 * the Origin policy and Fetch Metadata (no requests from web pages but the
 * provider's form_post and --allow-origin apps), per-route content types (no
 * preflight-free CSRF), and the X-Application-ID allow-list. Each refusal is a
 * BrokerError rendered by the error handler.
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
  /** Whether `origin` is a configured provider's authorization endpoint's: its form_post may reach the callback. */
  providerOrigin(origin: string): boolean;
  appIds: readonly string[];
}

export interface RouteSecurityConfig {
  /** Media types the route accepts; a body of another type gets 415. */
  contentTypes?: readonly string[];
  /** The callback: no app-ID check, cross-origin form_post allowed from the provider. */
  callback?: boolean;
  /** Reachable without an app ID (health checks). */
  public?: boolean;
  /** The CORS preflight route: browsers send no app ID or body with it. */
  preflight?: boolean;
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

function hostHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i]?.toLowerCase() === 'host') count++;
  return count;
}

/**
 * The authority of an absolute-form request target (`GET http://host:port/path`,
 * RFC 9112 §3.2.2), `undefined` for the usual origin-form (`/path`), `null` for
 * any other form. A server must accept absolute-form, and then the target's
 * authority, not Host, names the server asked for: so it passes the same
 * allow-list, compared as text like Host (no URL parser to normalise
 * `127.1` or `2130706433` into a loopback name). The router routes the
 * target's path (find-my-way strips scheme and authority), so a target whose
 * authority was refused never reaches a handler.
 */
function absoluteFormAuthority(target: string): string | null | undefined {
  if (target.startsWith('/')) return undefined;
  // Plain http only: the broker serves no TLS, and an https:// target is meant for another server.
  const match = /^http:\/\/([^/?#]*)/i.exec(target);
  return match ? match[1]!.toLowerCase() : null;
}

/**
 * Fetch Metadata (`Sec-Fetch-Site`) that only a browser sends, and only a web
 * page can cause: a page on another site, or on another port of localhost
 * (same-site), can still send requests without an Origin (`fetch(…, {mode:
 * 'no-cors'})`, `<img>`, forms) and fill the pending-flow cap. Browsers send
 * `same-origin` for the broker's own pages (/docs) and `none` when a person
 * typed the URL; any other value, or several, is refused. Non-browser clients
 * send no Sec-Fetch-Site at all.
 */
function fromAnotherSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  return site !== undefined && site !== 'same-origin' && site !== 'none';
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (
    request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  );
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
  registerPreflight(app, corsOrigins);

  app.addHook('onRequest', async (request, reply) => {
    // Every answer of this API may carry a verifier, a code or a token: no cache keeps one.
    void reply.header('cache-control', 'no-store');
    const host = request.headers.host?.toLowerCase();
    const target = absoluteFormAuthority(request.raw.url ?? '/');
    // Node keeps the first of several Host headers; a proxy may honour another. Refuse the
    // ambiguity, and likewise an absolute-form target naming another authority than Host.
    if (
      !host ||
      !allowedHosts().has(host) ||
      hostHeaderCount(request.raw.rawHeaders) !== 1 ||
      (target !== undefined && target !== host)
    ) {
      throw new BrokerError(
        'misdirected_request',
        'This broker answers only to its own loopback address.',
      );
    }
    const config = (request.routeOptions.config ?? {}) as RouteSecurityConfig;
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) {
      // `null` is what browsers send for a form_post after a cross-origin redirect or under
      // Referrer-Policy: no-referrer; the callback's state (single use, 256 bits) protects it.
      const fromProvider =
        config.callback === true && (options.providerOrigin(origin) || origin === 'null');
      if (corsOrigins.has(origin)) {
        void reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
        void reply.header('access-control-expose-headers', 'Retry-After');
      } else if (!fromProvider) {
        throw new BrokerError('forbidden_origin', 'Cross-origin requests are not allowed.');
      }
    }
    // The callback is the provider's (its form_post is cross-site; its state protects it), and an
    // --allow-origin app (Electron, a webview) is a page the user allowed.
    const allowedPage = origin !== undefined && corsOrigins.has(origin);
    if (config.callback !== true && !allowedPage && fromAnotherSite(request)) {
      throw new BrokerError('forbidden_origin', 'Requests from other web sites are not allowed.');
    }
    if (config.preflight === true) return;
    if (config.contentTypes && hasBody(request)) {
      const type = mediaType(request.headers['content-type']);
      if (type === undefined || !config.contentTypes.includes(type)) {
        throw new BrokerError(
          'unsupported_media_type',
          `This endpoint accepts ${config.contentTypes.join(' or ')}.`,
        );
      }
    }
    if (options.appIds.length > 0 && !config.callback && !config.public) {
      const presented = request.headers['x-application-id'];
      const value = typeof presented === 'string' ? presented : '';
      let match = false;
      // Compare against every entry so timing does not reveal which one matched.
      for (const id of options.appIds) match = constantTimeEqual(value, id) || match;
      if (!match)
        throw new BrokerError('unauthorized_app', 'A valid X-Application-ID header is required.');
    }
  });
}

/** Methods and request headers an allowed origin may use (the PKCE API's own). */
const CORS_METHODS = 'GET, POST';
const CORS_HEADERS = 'Content-Type, X-Application-ID';

/**
 * OPTIONS answers: a CORS preflight from an --allow-origin origin gets the
 * grant; any other cross-origin preflight was refused by the gate already.
 */
function registerPreflight(app: FastifyInstance, allowOrigins: ReadonlySet<string>): void {
  app.options(
    '*',
    { config: { preflight: true }, schema: { hide: true } },
    async (request, reply) => {
      const origin = request.headers.origin;
      void reply.header('allow', 'GET, POST, OPTIONS');
      if (origin !== undefined && allowOrigins.has(origin)) {
        void reply
          .header('access-control-allow-methods', CORS_METHODS)
          .header('access-control-allow-headers', CORS_HEADERS)
          .header('access-control-max-age', '600');
      }
      return reply.code(204).send();
    },
  );
}
