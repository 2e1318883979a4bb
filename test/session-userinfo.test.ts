/**
 * User info and the provider's capabilities, against a provider of the
 * tests' own (node:http: discovery, JWKS, authorize, token, userinfo): its ID
 * tokens carry no profile claims, so the broker asks user info, and its user
 * info can be made to name another `sub` (OIDC Core §5.3.2), which the bundled
 * provider cannot. The same server, reached as https://TENANT.auth0.com
 * through the provider client's transport, is an Auth0 tenant without
 * end_session_endpoint; with `revocation: false` it has no revocation_endpoint.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { discoverProvider } from '../src/provider/oidc.js';
import { postJson, urlQueue } from './support/stack.js';

const CLIENT_ID = 'userinfo-app';
const SUB = 'user-42';

interface OwnProviderOptions {
  /** The issuer the documents name; default: the server's own http://127.0.0.1:PORT. */
  issuer?: string;
  revocation?: boolean;
  endSession?: boolean;
}

interface OwnProvider {
  /** The server's own origin. */
  origin: string;
  issuer: string;
  /** What user info answers; `sub` defaults to the ID token's. */
  userInfo: Record<string, unknown>;
  /** Requests by path. */
  seen: string[];
  /** Sends requests for the issuer's origin to this server. */
  fetch: typeof fetch;
  close(): Promise<void>;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body);
}

async function startOwnProvider(options: OwnProviderOptions = {}): Promise<OwnProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'own-1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, string>();
  const seen: string[] = [];
  const state = { userInfo: {} as Record<string, unknown> };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    seen.push(url.pathname);
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(type === 'application/json' ? JSON.stringify(body) : String(body));
    };
    void (async () => {
      switch (url.pathname) {
        case '/.well-known/openid-configuration':
          return send(200, {
            issuer,
            authorization_endpoint: `${issuer.replace(/\/$/, '')}/authorize`,
            token_endpoint: `${issuer.replace(/\/$/, '')}/oauth/token`,
            userinfo_endpoint: `${issuer.replace(/\/$/, '')}/userinfo`,
            jwks_uri: `${issuer.replace(/\/$/, '')}/jwks`,
            ...(options.revocation !== false && {
              revocation_endpoint: `${issuer.replace(/\/$/, '')}/oauth/revoke`,
            }),
            ...(options.endSession === true && {
              end_session_endpoint: `${issuer.replace(/\/$/, '')}/logout`,
            }),
            response_types_supported: ['code'],
            response_modes_supported: ['query'],
            code_challenge_methods_supported: ['S256'],
            id_token_signing_alg_values_supported: ['RS256'],
          });
        case '/jwks':
          return send(200, { keys: [jwk] });
        case '/authorize': {
          // Signs in at once: the code remembers the nonce its ID token must carry.
          const code = `code-${codes.size + 1}`;
          codes.set(code, url.searchParams.get('nonce') ?? '');
          const back = new URL(url.searchParams.get('redirect_uri')!);
          back.searchParams.set('code', code);
          back.searchParams.set('state', url.searchParams.get('state')!);
          res.writeHead(302, { location: back.href }).end();
          return;
        }
        case '/oauth/token': {
          const form = await readForm(req);
          const nonce = codes.get(form.get('code') ?? '');
          if (nonce === undefined) return send(400, { error: 'invalid_grant' });
          codes.delete(form.get('code')!);
          const now = Math.floor(Date.now() / 1000);
          // No profile or email claims: user info is where they are.
          const idToken = await new SignJWT({ nonce })
            .setProtectedHeader({ alg: 'RS256', kid: 'own-1' })
            .setIssuer(issuer)
            .setAudience(CLIENT_ID)
            .setSubject(SUB)
            .setIssuedAt(now)
            .setExpirationTime(now + 300)
            .sign(privateKey);
          return send(200, {
            access_token: 'own-access-token',
            token_type: 'Bearer',
            expires_in: 300,
            id_token: idToken,
          });
        }
        case '/userinfo':
          if (req.headers.authorization !== 'Bearer own-access-token')
            return send(401, { error: 'invalid_token' });
          return send(200, { sub: SUB, ...state.userInfo });
        case '/oauth/revoke':
          await readForm(req);
          return send(200, '', 'text/plain');
        default:
          return send(404, { error: 'not_found' });
      }
    })().catch(() => send(500, { error: 'server_error' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = options.issuer ?? origin;
  const issuerOrigin = new URL(issuer).origin;
  return {
    origin,
    issuer,
    get userInfo() {
      return state.userInfo;
    },
    set userInfo(value) {
      state.userInfo = value;
    },
    seen,
    fetch: (input, init) => {
      const target = new URL(input instanceof Request ? input.url : String(input));
      if (target.origin !== issuerOrigin) return fetch(input, init);
      return fetch(`${origin}${target.pathname}${target.search}`, init);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Harness {
  idp: OwnProvider;
  broker: RunningBroker;
  logs: string[];
  api(path: string, init?: RequestInit): Promise<Response>;
  /** A whole sign-in through the broker: its token answer. */
  signIn(): Promise<PKCE>;
  close(): Promise<void>;
}

async function startHarness(idpOptions: OwnProviderOptions = {}, argv: string[] = []) {
  const idp = await startOwnProvider(idpOptions);
  const provider = await discoverProvider({
    issuer: idp.issuer,
    clientId: CLIENT_ID,
    fetch: idp.fetch,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const opened = urlQueue();
  const base = loadConfig({
    argv: ['--port', '0', ...argv],
    env: {},
    readFile: () => undefined,
  }).config;
  const broker = await startBroker({
    config: { ...base, issuer: idp.issuer, clientId: CLIENT_ID },
    provider,
    logger: createLogger({ level: 'info', destination: sink }),
    openAuthorizeUrl: async (url) => opened.push(url),
  });
  const api = (path: string, init?: RequestInit) => fetch(`${broker.url}${path}`, init);
  return {
    idp,
    broker,
    logs,
    api,
    async signIn() {
      const waiting = api('/pkce/code', postJson({}));
      const authorize = await idp.fetch(await opened.next(), { redirect: 'manual' });
      const callback = authorize.headers.get('location')!;
      const delivered = await fetch(callback, { headers: { accept: 'application/json' } });
      assert.equal(delivered.status, 200);
      const { code } = ((await (await waiting).json()) as PKCE).result!;
      const answer = await api('/pkce/token', postJson({ grant_type: 'authorization_code', code }));
      assert.equal(answer.status, 200, await answer.clone().text());
      return (await answer.json()) as PKCE;
    },
    async close() {
      await broker.close();
      await idp.close();
    },
  } satisfies Harness;
}

describe('user info in the token answer (a provider of our own)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('merges user info whose sub is the ID token’s into the answer’s user', async () => {
    h.idp.userInfo = { name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true };
    const answer = await h.signIn();
    assert.deepEqual(answer.auth0?.user, {
      user_id: SUB,
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      email_verified: true,
    });
    assert.ok(h.idp.seen.includes('/userinfo'));
  });

  it('drops user info that names another sub, logs it, and the sign-in still succeeds', async () => {
    h.idp.userInfo = { sub: 'someone-else', name: 'Mallory', email: 'mallory@example.com' };
    const before = h.logs.length;
    const answer = await h.signIn();
    assert.equal(answer.auth0?.oAuth.token?.access_token, 'own-access-token');
    assert.deepEqual(answer.auth0?.user, { user_id: SUB }, 'nothing of the other user');
    const warning = h.logs.slice(before).find((line) => /names another user/.test(line));
    assert.ok(warning, 'the dropped user info is logged');
    assert.doesNotMatch(warning, /own-access-token/);
  });
});

describe('--userinfo never', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({}, ['--userinfo', 'never']);
  });
  after(() => h.close());

  it('answers the ID token’s claims and asks no user info', async () => {
    h.idp.userInfo = { name: 'Ada Lovelace' };
    const answer = await h.signIn();
    assert.deepEqual(answer.auth0?.user, { user_id: SUB });
    assert.ok(!h.idp.seen.includes('/userinfo'));
  });
});

describe('a provider without revocation_endpoint', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ revocation: false });
  });
  after(() => h.close());

  it('answers POST /pkce/revoke with 400 revocation_unsupported and calls nothing', async () => {
    const calls = h.idp.seen.length;
    const response = await h.api(
      '/pkce/revoke',
      postJson({ client_id: CLIENT_ID, token: 'some-refresh-token' }),
    );
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = (await response.json()) as Record<string, unknown>;
    assert.equal(problem.code, 'revocation_unsupported');
    assert.equal(h.idp.seen.length, calls);
  });

  it('refuses a logout that asks to revoke, and answers one that does not without a URL', async () => {
    const revoking = await h.api('/pkce/logout', postJson({ refresh_token: 'some-refresh-token' }));
    assert.equal(revoking.status, 400);
    assert.equal(
      ((await revoking.json()) as Record<string, unknown>).code,
      'revocation_unsupported',
    );
    const plain = await h.api('/pkce/logout', postJson({}));
    assert.equal(plain.status, 200);
    const body = (await plain.json()) as Record<string, unknown>;
    assert.equal(body.logout_url, undefined, 'no end_session_endpoint, not Auth0');
    assert.ok(body.schema);
  });
});

describe('an Auth0 tenant without end_session_endpoint', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ issuer: 'https://tenant.eu.auth0.com/' });
  });
  after(() => h.close());

  it('gets https://DOMAIN/v2/logout with client_id and returnTo', async () => {
    const returnTo = h.broker.redirectUri;
    const response = await h.api(
      '/pkce/logout',
      postJson({ client_id: CLIENT_ID, post_logout_redirect_uri: returnTo }),
    );
    assert.equal(response.status, 200);
    const url = new URL(((await response.json()) as { logout_url: string }).logout_url);
    assert.equal(url.origin + url.pathname, 'https://tenant.eu.auth0.com/v2/logout');
    assert.equal(url.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(url.searchParams.get('returnTo'), returnTo);
  });

  it('revokes at the discovered /oauth/revoke', async () => {
    const response = await h.api(
      '/pkce/revoke',
      postJson({
        client_id: CLIENT_ID,
        token: 'a-refresh-token',
        token_type_hint: 'refresh_token',
      }),
    );
    assert.equal(response.status, 204);
    assert.equal(h.idp.seen.at(-1), '/oauth/revoke');
  });
});
