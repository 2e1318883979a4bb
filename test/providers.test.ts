/**
 * Several providers at once (issue 11): two real bundled oidc-providers behind
 * one broker configured by a `providers` list. Flows for both interleaved,
 * each answered in its provider's shape (auth0 / descope) and parsed by the
 * official client; a code from one offered with the other's state refused;
 * refresh routed by client_id; unknown domains named; a provider down at
 * start marked down, its flows 503, and up again by the background discovery.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as Pieces from '@pieces.app/pieces-os-client';
import { startBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { providerSpecs } from '../src/config/providers.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { BrokerError } from '../src/errors.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { ProviderRegistry, type Scheduler } from '../src/provider/registry.js';
import type { IdentityProvider } from '../src/provider/types.js';
import { createClient } from 'redis';
import { freePort, redisSkip, startRedis } from './support/redis.js';
import { postJson, startProvidersStack, type ProvidersStack } from './support/stack.js';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** challenge → POST /pkce/code (held) → the URL the broker opened. */
async function startSignIn(stack: ProvidersStack, seed: Record<string, unknown>) {
  const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
  const code = stack.api('/pkce/code', postJson({ state: challenge.state, ...seed }));
  const url = await stack.nextAuthorizeUrl();
  return { challenge, code, url };
}

async function exchange(stack: ProvidersStack, code: string, verifier: string) {
  return stack.api(
    '/pkce/token',
    postJson({ grant_type: 'authorization_code', code, code_verifier: verifier }),
  );
}

/** A page of the test's own as redirect URI: it keeps what the provider sent, and the broker never sees it. */
async function captureServer(): Promise<{ server: Server; uri: string; next(): Promise<URL> }> {
  const waiting: Array<(url: URL) => void> = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    waiting.shift()?.(url);
    response.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    server,
    uri: `http://127.0.0.1:${port}/cb`,
    next: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

describe('two providers behind one broker', () => {
  let stack: ProvidersStack;
  let capture: Awaited<ReturnType<typeof captureServer>>;
  let a: DevProvider;
  let b: DevProvider;
  before(async () => {
    capture = await captureServer();
    stack = await startProvidersStack({
      entries: [
        { id: 'acme', kind: 'auth0' },
        { id: 'desc', kind: 'descope' },
      ],
      argv: ['--allow-redirect-uri', capture.uri],
    });
    a = stack.devProviders['acme']!;
    b = stack.devProviders['desc']!;
  });
  after(async () => {
    await stack.close();
    capture.server.close();
  });

  it('runs interleaved flows, each at its own provider, answered in its shape and parsed by the official client', async () => {
    // The first listed is the default: no domain goes there.
    const first = await startSignIn(stack, {});
    const second = await startSignIn(stack, { domain: b.issuer });
    assert.equal(first.url.origin, new URL(a.issuer).origin);
    assert.equal(first.url.searchParams.get('client_id'), a.clientId);
    assert.equal(second.url.origin, new URL(b.issuer).origin);
    assert.equal(second.url.searchParams.get('client_id'), b.clientId);

    // B's callback first: its form_post comes from B's origin, which the callback gate accepts.
    const loginB = await scriptedLogin(second.url, { accept: 'application/json' });
    assert.equal(loginB.callbackResponse.status, 200);
    const loginA = await scriptedLogin(first.url, { accept: 'application/json' });
    assert.equal(loginA.callbackResponse.status, 200);
    const codeA = (await json<PKCE>(await first.code)).result!.code;
    const codeB = (await json<PKCE>(await second.code)).result!.code;

    const tokenB = await exchange(stack, codeB, second.challenge.verifier);
    assert.equal(tokenB.status, 200);
    const bodyB = await json<PKCE>(tokenB);
    assert.equal(bodyB.auth0, undefined);
    const parsedB = Pieces.PKCEFromJSON(bodyB);
    assert.ok(parsedB.descope);
    assert.equal(parsedB.descope.user?.userId, a.user.sub);
    assert.equal(parsedB.descope.user?.id, a.user.sub);
    assert.equal(parsedB.descope.user?.email, a.user.email);
    assert.equal(parsedB.descope.user?.name, a.user.name);
    // Required by the SDK's Descope user: the provider's given_name and family_name.
    assert.equal(parsedB.descope.user?.givenName, 'Demo');
    assert.equal(parsedB.descope.user?.familyName, 'User');
    assert.equal(parsedB.descope.user?.isVerifiedEmail, true);
    assert.deepEqual(parsedB.descope.user?.loginIds, [a.user.username]);
    assert.equal(typeof parsedB.descope.oAuth.token?.accessToken, 'string');
    assert.equal(parsedB.descope.oAuth.token?.tokenType, 'Bearer');

    const tokenA = await exchange(stack, codeA, first.challenge.verifier);
    assert.equal(tokenA.status, 200);
    const bodyA = await json<PKCE>(tokenA);
    assert.equal(bodyA.descope, undefined);
    const parsedA = Pieces.PKCEFromJSON(bodyA);
    assert.equal(parsedA.auth0?.domain, new URL(a.issuer).host);
    assert.equal(parsedA.auth0?.client, a.clientId);

    // Refresh: no flow, so the client id picks the provider.
    const refreshA = bodyA.auth0!.oAuth.token!.refresh_token!;
    const refreshB = bodyB.descope!.oAuth.token!.refresh_token!;
    const viaA = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'refresh_token', code: refreshA, client_id: a.clientId }),
    );
    assert.equal(viaA.status, 200);
    assert.ok((await json<PKCE>(viaA)).auth0);
    const viaB = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'refresh_token', code: refreshB, client_id: b.clientId }),
    );
    assert.equal(viaB.status, 200);
    assert.ok((await json<PKCE>(viaB)).descope);
    // A's refresh token sent to B (by B's client id) is B's to refuse: it never saw it.
    const crossed = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'refresh_token', code: refreshA, client_id: b.clientId }),
    );
    assert.equal(crossed.status, 400);
    assert.equal((await json(crossed))['error'], 'invalid_grant');
    const unnamed = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'refresh_token', code: refreshA }),
    );
    assert.equal(unnamed.status, 400);
    assert.match(String((await json(unnamed))['detail']), /client_id is required/);
  });

  it("refuses a code from provider A delivered with provider B's state (mix-up, RFC 9700 §4.4)", async () => {
    // A's answer goes to the test's own page: the test holds a real code of A's.
    const ofA = await startSignIn(stack, { redirect_uri: capture.uri, response_mode: 'query' });
    const captured = capture.next();
    await scriptedLogin(ofA.url);
    const delivered = (await captured).searchParams;
    assert.equal(delivered.get('iss'), a.issuer);
    // A's flow never gets its callback: clearing ends its wait (409).
    await stack.api('/pkce/clear', { method: 'POST' });
    assert.equal((await ofA.code).status, 409);

    const ofB = await startSignIn(stack, { domain: new URL(b.issuer).host });
    const forged = new URLSearchParams({
      code: delivered.get('code')!,
      state: ofB.challenge.state,
      iss: delivered.get('iss')!,
    });
    const callback = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: forged.toString(),
    });
    assert.equal(callback.status, 400);
    // B's flow ends with the reason, and no code was taken for it.
    const waited = await ofB.code;
    assert.equal(waited.status, 400);
    assert.match(String((await json(waited))['detail']), /iss/i);
    const exchanged = await exchange(stack, delivered.get('code')!, ofB.challenge.verifier);
    assert.equal(exchanged.status, 400);
    assert.equal((await json(exchanged))['error'], 'invalid_grant');
  });

  it('answers 400 naming the configured domains for a domain that is none of them', async () => {
    const response = await stack.api('/pkce/code', postJson({ domain: 'evil.example' }));
    assert.equal(response.status, 400);
    const detail = String((await json(response))['detail']);
    assert.ok(detail.includes(new URL(a.issuer).host), detail);
    assert.ok(detail.includes(new URL(b.issuer).host), detail);
  });

  it("refuses a client_id that is not the named provider's", async () => {
    const response = await stack.api(
      '/pkce/code',
      postJson({ domain: b.issuer, client_id: a.clientId }),
    );
    assert.equal(response.status, 400);
    assert.match(String((await json(response))['detail']), /client_id/);
  });

  it('lists every provider at /healthz', async () => {
    const response = await stack.api('/healthz');
    assert.equal(response.status, 200);
    const body = await json<{ providers: unknown[] }>(response);
    assert.deepEqual(body.providers, [
      { id: 'acme', kind: 'auth0', issuer: a.issuer, state: 'up' },
      { id: 'desc', kind: 'descope', issuer: b.issuer, state: 'up' },
    ]);
  });

  it('takes a stored flow without a provider id (an older record) as the default provider’s', async () => {
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    await stack.broker.store.start(challenge.state, {
      client_id: a.clientId,
      redirect_uri: stack.broker.redirectUri,
      scope: ['openid'],
      response_mode: 'form_post',
    });
    const response = await stack.api(
      `/pkce/authorize-url?state=${encodeURIComponent(challenge.state)}`,
    );
    assert.equal(response.status, 200);
    const url = new URL(String((await json(response))['authorize_url']));
    assert.equal(url.origin, new URL(a.issuer).origin);
  });
});

describe('a provider down at start', () => {
  it('is marked down while the other serves, its flows 503, and comes up by the background discovery', async () => {
    const port = await freePort();
    const tasks: Array<{ run: () => void; ms: number }> = [];
    const scheduler: Scheduler = (run, ms) => {
      const task = { run, ms };
      tasks.push(task);
      return () => tasks.splice(tasks.indexOf(task), 1);
    };
    const stack = await startProvidersStack({
      entries: [{ id: 'up' }, { id: 'later', down: { port } }],
      scheduler,
    });
    let later: DevProvider | undefined;
    try {
      // One warn line names it (log lines are JSON: its quotes are escaped).
      assert.equal(stack.logs.filter((line) => line.includes('is down')).length, 1);
      assert.match(await stack.logged('is down'), /\\"later\\" is down.*ECONNREFUSED/);
      let health = await json<{ providers: Array<Record<string, unknown>> }>(
        await stack.api('/healthz'),
      );
      assert.equal(health.providers[1]!['state'], 'down');
      assert.match(String(health.providers[1]!['detail']), /ECONNREFUSED|reach/);

      const refused = await stack.api('/pkce/code', postJson({ domain: `127.0.0.1:${port}` }));
      assert.equal(refused.status, 503);

      // The retry fails while nothing listens: the next one waits twice as long.
      assert.deepEqual(
        tasks.map((t) => t.ms),
        [1_000],
      );
      tasks.shift()!.run();
      while (tasks.length === 0) await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        tasks.map((t) => t.ms),
        [2_000],
      );

      later = await startDevProvider({ port, clientId: 'client-later' });
      later.setRedirectUris([stack.broker.redirectUri]);
      const up = stack.logged('\\"later\\" is up');
      tasks.shift()!.run();
      await up;
      health = await json(await stack.api('/healthz'));
      assert.equal(health.providers[1]!['state'], 'up');

      const { url, code } = await startSignIn(stack, { domain: `127.0.0.1:${port}` });
      assert.equal(url.origin, `http://127.0.0.1:${port}`);
      const login = await scriptedLogin(url, { accept: 'application/json' });
      assert.equal(login.callbackResponse.status, 200);
      assert.equal((await code).status, 200);
    } finally {
      await stack.close();
      await later?.close();
    }
    // close() stopped the background discovery.
    assert.equal(tasks.length, 0);
  });

  it('stops start-up when it is the only provider', async () => {
    const port = await freePort();
    await assert.rejects(
      startProvidersStack({ entries: [{ id: 'only', down: { port } }] }),
      (error: unknown) => error instanceof BrokerError && error.code === 'startup_failed',
    );
  });

  it(
    'closes the Redis store it built while discovery ran when discovery fails',
    { skip: redisSkip },
    async () => {
      const redis = await startRedis();
      const inspector = createClient({ url: redis.url });
      try {
        await inspector.connect();
        const config = loadConfig({
          argv: [
            '--port',
            '0',
            '--issuer',
            `http://127.0.0.1:${await freePort()}`,
            '--client-id',
            'c',
            '--store',
            redis.url,
            '--store-key',
            'ab'.repeat(32),
          ],
          env: {},
        }).config;
        await assert.rejects(
          startBroker({ config, logger: createLogger({ level: 'silent' }) }),
          (error: unknown) => error instanceof BrokerError && error.code === 'startup_failed',
        );
        // The store's connection was opened alongside discovery; only the inspector's is left.
        const clients = (await inspector.sendCommand(['CLIENT', 'LIST'])) as string;
        assert.equal(clients.trim().split('\n').length, 1, clients);
      } finally {
        await inspector.quit().catch(() => undefined);
        await redis.stop();
      }
    },
  );

  it('stops start-up for a configuration mistake of one of several (issuer mismatch), naming it', async () => {
    const provider = await startDevProvider({ clientId: 'c' });
    const other = await startDevProvider({ clientId: 'd' });
    try {
      const config = loadConfig({
        argv: ['--port', '0'],
        env: {},
        readFile: () =>
          JSON.stringify({
            providers: [
              { id: 'fine', issuer: other.issuer, clientId: 'd' },
              { id: 'wrong', issuer: `${provider.issuer}/`, clientId: 'c' },
            ],
          }),
      }).config;
      await assert.rejects(
        startBroker({ config, logger: createLogger({ level: 'silent' }) }),
        (error: unknown) =>
          error instanceof BrokerError &&
          error.code === 'startup_failed' &&
          /"wrong"/.test(error.message),
      );
    } finally {
      await provider.close();
      await other.close();
    }
  });
});

describe('the providers list in the config file', () => {
  const load = (file: Record<string, unknown>, argv: string[] = []) =>
    loadConfig({ argv, env: {}, readFile: () => JSON.stringify(file) }).config;
  const refused = (file: Record<string, unknown>, message: RegExp, argv: string[] = []) =>
    assert.throws(
      () => providerSpecs(load(file, argv)),
      (error: unknown) =>
        error instanceof BrokerError &&
        error.code === 'config_invalid' &&
        message.test(error.message),
    );

  it('infers the kind and the issuer from auth0Domain and descopeProjectId', () => {
    const specs = providerSpecs(
      load({
        providers: [
          { id: 'a', auth0Domain: 'Tenant.EU.Auth0.com', clientId: 'x' },
          { id: 'd', descopeProjectId: 'P2abc' },
          { id: 'k', issuer: 'https://sso.example.com/realms/main', clientId: 'y' },
          { id: 'c', issuer: 'https://login.example.com', clientId: 'z', kind: 'descope' },
        ],
      }),
    );
    assert.deepEqual(
      specs.map(({ id, kind, issuer, clientId }) => ({ id, kind, issuer, clientId })),
      [
        { id: 'a', kind: 'auth0', issuer: 'https://tenant.eu.auth0.com/', clientId: 'x' },
        { id: 'd', kind: 'descope', issuer: 'https://api.descope.com/P2abc', clientId: 'P2abc' },
        { id: 'k', kind: 'oidc', issuer: 'https://sso.example.com/realms/main', clientId: 'y' },
        { id: 'c', kind: 'descope', issuer: 'https://login.example.com', clientId: 'z' },
      ],
    );
  });

  it('puts the flags’ provider first as `default`, and refuses a listed `default` beside it', () => {
    const list = { providers: [{ id: 'other', issuer: 'https://b.example', clientId: 'b' }] };
    const specs = providerSpecs(load(list, ['--issuer', 'https://a.example', '--client-id', 'a']));
    assert.deepEqual(
      specs.map((s) => s.id),
      ['default', 'other'],
    );
    refused(
      { providers: [{ id: 'default', issuer: 'https://b.example', clientId: 'b' }] },
      /"default" is the provider of --issuer/,
      ['--issuer', 'https://a.example', '--client-id', 'a'],
    );
  });

  it('names the entry and field of every mistake', () => {
    refused({ providers: {} }, /"providers" must be an array/);
    refused(
      { providers: [{ issuer: 'https://a.example', clientId: 'a' }] },
      /providers\[0\]\.id is required/,
    );
    refused(
      {
        providers: [
          { id: 'a', issuer: 'https://a.example', auth0Domain: 'a.auth0.com', clientId: 'a' },
        ],
      },
      /providers\[0\] needs exactly one of issuer, auth0Domain or descopeProjectId/,
    );
    refused(
      { providers: [{ id: 'a', issuer: 'https://a.example' }] },
      /providers\[0\]\.clientId is required/,
    );
    refused(
      { providers: [{ id: 'a', issuer: 'https://a.example', clientId: 'a', kind: 'saml' }] },
      /providers\[0\]\.kind must be oidc, auth0, descope/,
    );
    refused(
      { providers: [{ id: 'a', issuer: 'https://a.example', clientId: 'a', tenant: 'x' }] },
      /providers\[0\]: unknown key "tenant"/,
    );
    refused(
      {
        providers: [
          { id: 'a', issuer: 'https://a.example', clientId: 'a' },
          { id: 'b', issuer: 'ftp://b.example', clientId: 'b' },
        ],
      },
      /providers\[1\]\.issuer must be an http\(s\) URL/,
    );
    refused(
      {
        providers: [
          { id: 'a', issuer: 'https://a.example', clientId: 'a', authorizeParams: { state: 'x' } },
        ],
      },
      /providers\[0\]\.authorizeParams\.state is set by the broker/,
    );
    refused(
      {
        providers: [
          { id: 'a', issuer: 'https://a.example', clientId: 'a', responseMode: 'fragment' },
        ],
      },
      /providers\[0\]\.responseMode must be auto, form_post, query/,
    );
  });

  it('refuses two providers with one id, or one issuer and client twice', async () => {
    const logger = createLogger({ level: 'silent' });
    const start = (providers: unknown[]) =>
      startBroker({ config: load({ providers }, ['--port', '0']), logger });
    await assert.rejects(
      start([
        { id: 'a', issuer: 'https://a.example', clientId: 'a' },
        { id: 'a', issuer: 'https://b.example', clientId: 'b' },
      ]),
      /Two identity providers have the id "a"/,
    );
    await assert.rejects(
      start([
        { id: 'a', issuer: 'https://a.example', clientId: 'a' },
        { id: 'b', issuer: 'https://a.example/', clientId: 'a' },
      ]),
      /Two identity providers have the issuer/,
    );
  });
});

describe('refresh routing (ProviderRegistry.forClient)', () => {
  const fake = (id: string, clientId: string): IdentityProvider =>
    ({
      id,
      kind: 'oidc',
      issuer: `https://${id}.example`,
      clientId,
    }) as unknown as IdentityProvider;
  const audiences: Record<string, string> = { eu: 'https://api.eu', us: 'https://api.us' };
  const registry = ProviderRegistry.of(
    [fake('eu', 'shared'), fake('us', 'shared'), fake('other', 'solo')],
    (provider) => ({ scope: ['openid'], audience: audiences[provider.id] }),
  );

  it('picks by client_id, then audience; ambiguous or unknown is 400', () => {
    assert.equal(registry.forClient('solo').id, 'other');
    assert.equal(registry.forClient('shared', 'https://api.us').id, 'us');
    const invalid = (fn: () => unknown, message: RegExp) =>
      assert.throws(
        fn,
        (error: unknown) =>
          error instanceof BrokerError && error.status === 400 && message.test(error.message),
      );
    invalid(() => registry.forClient('shared'), /names 2 identity providers \(eu, us\)/);
    invalid(() => registry.forClient('shared', 'https://api.elsewhere'), /does not match/);
    invalid(() => registry.forClient('nobody'), /does not match/);
    invalid(() => registry.forClient(undefined), /client_id is required/);
  });
});
