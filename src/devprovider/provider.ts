/**
 * The bundled OpenID Provider behind `pkce-broker dev`, `pkce-broker demo` and
 * the integration tests: a real oidc-provider on loopback with one public demo
 * client and one demo user, so a whole login works with no account and no network.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { devicePages, interactionRoutes, type DemoUser, type Middleware } from './interactions.js';
import { ModelAdapter, MemoryStore, type Adapter, type Payload } from './memory-adapter.js';
import { loadOidcProvider } from './load.js';
import { PAGE_CSP, errorPage, logoutPage, logoutSuccessPage } from './pages.js';

export interface DevProviderOptions {
  /**
   * Redirect URIs the demo client may use (the broker's callback, e.g.
   * http://127.0.0.1:PORT/pkce/response/code). Can also be set after start via
   * setRedirectUris (the broker's port may be known only later).
   */
  redirectUris?: string[];
  /** default 0 = a free port */
  port?: number;
  /** default '127.0.0.1' */
  host?: string;
  /** default 'pkce-broker-demo' */
  clientId?: string;
  /**
   * Advertise authorization_response_iss_parameter_supported (RFC 9207) in
   * discovery; default true. When false the flag is dropped from discovery
   * (the provider still sends `iss`, which RFC 9207 lets clients ignore).
   */
  advertiseIss?: boolean;
  /**
   * Replaces response_modes_supported in discovery, e.g. `['query']` for a
   * provider that does not offer form_post; `null` drops the list (OIDC
   * Discovery: then query and fragment). Only what is advertised changes.
   */
  responseModesSupported?: readonly string[] | null;
  /**
   * Pushed authorization requests (RFC 9126), offered but not required;
   * default true. When false there is no pushed_authorization_request_endpoint.
   */
  par?: boolean;
  /** The Device Authorization Grant (RFC 8628); default true. */
  deviceFlow?: boolean;
  /** Life of a device code (RFC 8628 expires_in), seconds; default 600. */
  deviceCodeTtl?: number;
  /**
   * The `interval` its device authorization answers carry, seconds; default
   * none (oidc-provider sends none, and clients then poll every 5 s).
   */
  deviceInterval?: number;
  /** Access token TTL seconds, default 3600 */
  accessTokenTtl?: number;
  /** Unexpected (5xx) errors inside the provider; by default they are dropped silently. */
  onError?: (error: unknown) => void;
  /** oidc-provider's load-time warnings (an unsupported Node.js); by default dropped. */
  onNotice?: (message: string) => void;
}

export interface DevProvider {
  /** e.g. http://127.0.0.1:54321 (exactly what discovery's `issuer` says) */
  issuer: string;
  clientId: string;
  user: { username: string; password: string; sub: string; name: string; email: string };
  setRedirectUris(uris: string[]): void;
  close(): Promise<void>;
}

export const DEMO_USER: DemoUser = Object.freeze({
  username: 'demo',
  password: 'demo',
  sub: 'demo-user',
  name: 'Demo User',
  givenName: 'Demo',
  familyName: 'User',
  email: 'demo@example.com',
});

const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** oidc-provider's default `routes.authorization`. */
const AUTHORIZATION_PATH = '/auth';

export async function startDevProvider(options: DevProviderOptions = {}): Promise<DevProvider> {
  const host = options.host ?? '127.0.0.1';
  const clientId = options.clientId ?? 'pkce-broker-demo';
  const report = options.onError ?? (() => {});
  let redirectUris = checkRedirectUris(options.redirectUris ?? []);

  // The issuer must carry the real port, so bind first and build the provider
  // after. Key generation (RSA: 50–300 ms) and loading oidc-provider overlap it.
  const server = createServer();
  const preparing = Promise.all([
    generateSigningKey(),
    loadOidcProvider(options.onNotice ?? (() => {})),
  ]);
  const listening = listen(server, options.port ?? 0, host);
  const [prepared, bound] = await Promise.allSettled([preparing, listening]);
  if (bound.status === 'rejected') throw bound.reason;
  try {
    if (prepared.status === 'rejected') throw prepared.reason;
    const [signingKey, { default: OidcProvider }] = prepared.value;
    const { port } = server.address() as AddressInfo;
    const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

    const store = new MemoryStore();
    // Looked up on every request, so setRedirectUris applies at once;
    // oidc-provider re-validates whenever the metadata changes.
    const clientAdapter = staticAdapter((id) =>
      id === clientId && redirectUris.length > 0
        ? {
            client_id: clientId,
            application_type: 'web',
            token_endpoint_auth_method: 'none',
            // oidc-provider refuses a client with the device grant while the device flow is off.
            grant_types: [
              'authorization_code',
              'refresh_token',
              ...(options.deviceFlow === false
                ? []
                : ['urn:ietf:params:oauth:grant-type:device_code']),
            ],
            response_types: ['code'],
            redirect_uris: [...redirectUris],
            // Where a sign-out may return: the same loopback URIs as the sign-in.
            post_logout_redirect_uris: [...redirectUris],
            id_token_signed_response_alg: 'RS256',
          }
        : undefined,
    );

    const provider = new OidcProvider(issuer, {
      adapter: (model: string): Adapter =>
        model === 'Client' ? clientAdapter : new ModelAdapter(model, store),
      clients: [],
      jwks: { keys: [signingKey] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      claims: {
        openid: ['sub'],
        profile: ['name', 'given_name', 'family_name', 'preferred_username'],
        email: ['email', 'email_verified'],
      },
      // Put the scope's claims in the ID token as well as at userinfo, as
      // Auth0 and most hosted providers do (oidc-provider's default keeps them
      // out of ID tokens issued alongside an access token).
      conformIdTokenClaims: false,
      findAccount: async (_ctx: unknown, sub: string) =>
        sub === DEMO_USER.sub
          ? {
              accountId: sub,
              claims: async () => ({
                sub,
                name: DEMO_USER.name,
                given_name: DEMO_USER.givenName,
                family_name: DEMO_USER.familyName,
                preferred_username: DEMO_USER.username,
                email: DEMO_USER.email,
                email_verified: true,
              }),
            }
          : undefined,
      // Parameters the broker forwards for Auth0 and Google; accepted and ignored.
      // (oidc-provider drops unknown parameters anyway; listing them keeps them
      // visible in interaction details.)
      extraParams: {
        audience: null,
        screen_hint: null,
        organization: null,
        invitation: null,
        access_type: null,
        [OFFLINE_CONSENT_HOOK]: pushedOfflineAccessAsksForConsent,
      },
      pkce: { required: () => true },
      features: {
        // Our own pages check the password (interactions.ts).
        devInteractions: { enabled: false },
        revocation: {
          enabled: true,
          allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
        },
        // On by default in v9, and then a `resource` parameter needs resource
        // server definitions; the broker sends `audience`, not `resource`.
        resourceIndicators: { enabled: false },
        // RFC 8628, with our user-code, confirmation and success pages.
        deviceFlow: { enabled: options.deviceFlow ?? true, ...devicePages },
        // On by default; said here because the broker's user info merge relies on it.
        userinfo: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => {
            ctx.set('Cache-Control', 'no-store');
            ctx.set('Content-Security-Policy', PAGE_CSP);
            ctx.type = 'html';
            ctx.body = logoutPage({ form, host: ctx.host });
          },
          postLogoutSuccessSource: async (ctx) => {
            ctx.set('Cache-Control', 'no-store');
            ctx.set('Content-Security-Policy', PAGE_CSP);
            ctx.type = 'html';
            const clientId = ctx.oidc.client?.clientId;
            ctx.body = logoutSuccessPage(clientId === undefined ? {} : { clientId });
          },
        },
        pushedAuthorizationRequests: {
          enabled: options.par ?? true,
          requirePushedAuthorizationRequests: false,
        },
      },
      // Every default that oidc-provider would otherwise announce on the
      // console ("you SHOULD change it") is set explicitly.
      ttl: {
        AccessToken: options.accessTokenTtl ?? 3600,
        AuthorizationCode: 60,
        BackchannelAuthenticationRequest: 600,
        ClientCredentials: 600,
        DeviceCode: options.deviceCodeTtl ?? 600,
        Grant: 24 * 3600,
        IdToken: 3600,
        Interaction: 600,
        PreAuthorizedCode: 600,
        RefreshToken: 24 * 3600,
        Session: 3600,
      },
      clientBasedCORS: (_ctx, origin, client) =>
        origin !== 'null' && (client.redirectUris ?? []).some((uri) => originOf(uri) === origin),
      renderError: async (ctx, out) => {
        ctx.type = 'html';
        ctx.body = errorPage(out.error ?? 'server_error', out.error_description);
      },
    });

    // Having listeners keeps Koa from printing errors itself. ('error' is the
    // Koa application's event, which the provider's typed `on` does not list.)
    (provider as EventEmitter).on('error', report);
    provider.on('server_error', (_ctx, error) => report(error));
    provider.use(offlineAccessAsksForConsent());
    if (options.advertiseIss === false)
      provider.use(
        rewriteDiscovery((body) => delete body.authorization_response_iss_parameter_supported),
      );
    const modes = options.responseModesSupported;
    if (modes !== undefined)
      provider.use(
        rewriteDiscovery((body) => {
          if (modes === null) delete body.response_modes_supported;
          else body.response_modes_supported = [...modes];
        }),
      );
    const interval = options.deviceInterval;
    if (interval !== undefined) provider.use(deviceInterval(interval));
    provider.use(interactionRoutes(provider, DEMO_USER, report));
    server.on('request', provider.callback());

    return {
      issuer,
      clientId,
      user: { ...DEMO_USER },
      setRedirectUris(uris) {
        redirectUris = checkRedirectUris(uris);
      },
      close: () => close(server),
    };
  } catch (error) {
    await close(server);
    throw error;
  }
}

/**
 * oidc-provider v9 silently drops `offline_access` from the requested scope
 * unless the request also says `prompt=consent` (OIDC Core §11), so a plain
 * `scope=openid offline_access` login would get no refresh token. Hosted
 * providers (Auth0) issue one anyway; to behave like them we add `consent` to
 * the prompt of such requests, which makes the consent page grant it.
 * `prompt=none` is left alone (it cannot show a page). GET authorization
 * requests and pushed ones (PAR) are rewritten; a POSTed one keeps the strict rule.
 *
 * The prompt such a request gets, or undefined when it keeps its own.
 */
function promptWithOfflineConsent(scope: string, prompt: string | undefined): string | undefined {
  const prompts = (prompt ?? '').split(' ').filter((p) => p !== '');
  const asksOffline = scope.split(' ').includes('offline_access');
  if (!asksOffline || prompts.includes('consent') || prompts.includes('none')) return undefined;
  return [...prompts, 'consent'].join(' ');
}

/** The rule above, for GET authorization requests: their query is rewritten before oidc-provider reads it. */
function offlineAccessAsksForConsent(): Middleware {
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === AUTHORIZATION_PATH) {
      const params = new URLSearchParams(ctx.querystring);
      const prompt = promptWithOfflineConsent(
        params.get('scope') ?? '',
        params.get('prompt') ?? undefined,
      );
      if (prompt !== undefined) {
        params.set('prompt', prompt);
        ctx.querystring = params.toString();
      }
    }
    return next();
  };
}

/**
 * Names an extraParams validator, not a parameter anyone sends: oidc-provider
 * runs every such validator on every authorization and pushed request, with
 * or without its parameter, and lets it set other parameters.
 */
const OFFLINE_CONSENT_HOOK = 'pkce_broker_offline_consent';

/**
 * The rule above, for pushed requests (PAR). Their body is read by
 * oidc-provider itself, which has already dropped `offline_access` when the
 * validators run, so the scope as pushed is read from the body and what was
 * dropped is put back with the consent that keeps it; the stored request, and
 * the authorization request that later loads it, then carry both.
 */
async function pushedOfflineAccessAsksForConsent(ctx: KoaContextWithOIDC): Promise<void> {
  if (ctx.oidc.route !== 'pushed_authorization_request') return;
  const body = ctx.oidc.body as Record<string, unknown> | undefined;
  const pushed = typeof body?.scope === 'string' ? body.scope : '';
  const { params } = ctx.oidc;
  if (params === undefined) return;
  const prompt = promptWithOfflineConsent(pushed, params.prompt as string | undefined);
  if (prompt === undefined) return;
  params.prompt = prompt;
  const scopes = String(params.scope ?? '')
    .split(' ')
    .filter((scope) => scope !== '');
  if (!scopes.includes('offline_access')) params.scope = [...scopes, 'offline_access'].join(' ');
}

/**
 * Changes what discovery says, not what the provider does. oidc-provider
 * always advertises (and sends) the RFC 9207 `iss` parameter; the
 * compatibility tests need a provider that does not advertise it, because a
 * client that relays codes by hand (the SDK's respondWithCode) cannot carry
 * `iss`, and a client must require `iss` wherever it is advertised. Likewise
 * it always lists form_post, and the response-mode tests need one that does not.
 */
function rewriteDiscovery(edit: (body: Record<string, unknown>) => void): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.path === DISCOVERY_PATH && typeof ctx.body === 'object' && ctx.body !== null) {
      const body: Record<string, unknown> = { ...(ctx.body as Record<string, unknown>) };
      edit(body);
      ctx.body = body;
    }
  };
}

/** oidc-provider's `routes.device_authorization`. */
const DEVICE_AUTHORIZATION_PATH = '/device/auth';

/** Adds `interval` to device authorization answers, which oidc-provider leaves out. */
function deviceInterval(seconds: number): Middleware {
  return async (ctx, next) => {
    await next();
    if (
      ctx.path === DEVICE_AUTHORIZATION_PATH &&
      ctx.status === 200 &&
      typeof ctx.body === 'object' &&
      ctx.body !== null
    ) {
      ctx.body = { ...(ctx.body as Record<string, unknown>), interval: seconds };
    }
  };
}

async function generateSigningKey(): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
}

/** An adapter for the Client model: clients are computed, never stored. */
function staticAdapter(find: (id: string) => Payload | undefined): Adapter {
  return {
    find: async (id) => find(id),
    upsert: async () => {},
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    consume: async () => {},
    destroy: async () => {},
    revokeByGrantId: async () => {},
  };
}

function checkRedirectUris(uris: string[]): string[] {
  for (const uri of uris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new TypeError(`redirect URI is not a URL: ${uri}`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || uri.includes('#')) {
      throw new TypeError(`redirect URI must be an http(s) URL without fragment: ${uri}`);
    }
  }
  return [...uris];
}

function originOf(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) return resolve();
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive sockets (fetch pools them) would hold close() open for seconds.
    server.closeAllConnections();
  });
}
