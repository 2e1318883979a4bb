/**
 * The provider client against a real OpenID provider (oidc-provider, started
 * here on 127.0.0.1:0), plus small hand-made servers for broken discovery
 * documents and token endpoints, which a real provider never serves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { startDevProvider } from '../src/devprovider/provider.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { BrokerError } from '../src/errors.js';
import { newChallenge } from '../src/protocol/pkce.js';
import { discoverProvider } from '../src/provider/oidc.js';
import type { ProviderConfig } from '../src/provider/oidc.js';
import type { AuthorizeParams, IdentityProvider } from '../src/provider/types.js';

const CLIENT_ID = 'test-app';
const SECRET_CLIENT_ID = 'test-confidential';
const CLIENT_SECRET = 'a-long-enough-client-secret-for-tests-0123456789';
const REDIRECT_URI = 'http://127.0.0.1:1000/pkce/response/code';
const SCOPE = 'openid profile email offline_access';

// ---------------------------------------------------------------- helpers

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
  oauthError?: string,
): Promise<BrokerError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof BrokerError, `expected a BrokerError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    if (oauthError !== undefined) assert.equal(err.oauthError, oauthError);
    return err;
  }
  assert.fail(`expected a ${code} rejection`);
}

/** A real oidc-provider on 127.0.0.1:0 whose interactions log "alice" in and consent, with no UI. */
async function startRealProvider(): Promise<{ issuer: string; server: Server }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  let provider: Provider | undefined;
  const { server, base } = await listen((req, res) => {
    if (provider === undefined) return json(res, 503, { error: 'starting' });
    if (req.url?.startsWith('/interaction/')) {
      void finishInteraction(provider, req, res).catch((err: unknown) =>
        json(res, 500, { error: String(err) }),
      );
      return;
    }
    provider.callback()(req, res);
  });
  provider = new Provider(base, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
      {
        client_id: SECRET_CLIENT_ID,
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    features: { devInteractions: { enabled: false } },
    conformIdTokenClaims: false,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 600,
      IdToken: 600,
      Interaction: 600,
      RefreshToken: 3600,
      Session: 600,
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@example.test`, email_verified: true, name: 'Alice' }),
    }),
  });
  provider.silent = true;
  return { issuer: base, server };
}

async function finishInteraction(
  provider: Provider,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const clientId = String(details.params['client_id']);
  const grant = new provider.Grant({ accountId: 'alice', clientId });
  grant.addOIDCScope(String(details.params['scope']));
  const grantId = await grant.save();
  const returnTo = await provider.interactionResult(
    req,
    res,
    { login: { accountId: 'alice' }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
  res.writeHead(303, { location: returnTo });
  res.end();
}

/** Follows the provider's redirects (with its cookies) until it sends the browser to the redirect URI. */
async function login(authorizeUrl: URL): Promise<URLSearchParams> {
  const jar = new Map<string, string>();
  let url = authorizeUrl.href;
  for (let hop = 0; hop < 10; hop++) {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index);
      const value = pair.slice(index + 1);
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    await response.arrayBuffer();
    const location = response.headers.get('location');
    assert.ok(
      location,
      `hop ${hop} to ${new URL(url).pathname} answered ${response.status} without a Location`,
    );
    const next = new URL(location, url);
    if (next.href.startsWith(REDIRECT_URI)) return next.searchParams;
    url = next.href;
  }
  assert.fail('too many redirects');
}

function authorizeParams(
  flow: ReturnType<typeof newChallenge>,
  clientId = CLIENT_ID,
): AuthorizeParams {
  return {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    state: flow.state,
    nonce: flow.nonce,
    code_challenge: flow.challenge,
    code_challenge_method: 'S256',
    response_mode: 'query',
    prompt: 'consent',
  };
}

// ---------------------------------------------------------------- tests

describe('provider client against oidc-provider', () => {
  let real: { issuer: string; server: Server };
  let provider: IdentityProvider;

  before(async () => {
    real = await startRealProvider();
    provider = await discoverProvider({
      issuer: real.issuer,
      clientId: CLIENT_ID,
      timeoutMs: 5_000,
    });
  });
  after(async () => {
    await close(real.server);
  });

  test('discovery reads the metadata and the RFC 9207 flag', () => {
    assert.equal(provider.issuer, real.issuer);
    assert.equal(provider.clientId, CLIENT_ID);
    assert.equal(provider.authorizationOrigin, real.issuer);
    assert.equal(provider.requiresIssParameter, true);
    assert.equal(provider.metadata['token_endpoint'], `${real.issuer}/token`);
    assert.ok(Object.isFrozen(provider.metadata));
  });

  test('the issuer must match the document exactly (a trailing slash is another issuer)', async () => {
    await rejectsWith(
      discoverProvider({ issuer: `${real.issuer}/`, clientId: CLIENT_ID }),
      'startup_failed',
      new RegExp(
        `^The issuer ${real.issuer}/ answered with issuer ${real.issuer}; they must match exactly$`,
      ),
    );
  });

  test('matchesDomain accepts the host, the issuer and the authorize URL, nothing else', () => {
    const host = new URL(real.issuer).host;
    assert.equal(provider.matchesDomain(host), true, 'host and port');
    assert.equal(
      provider.matchesDomain('127.0.0.1'),
      false,
      'a bare host without a port means https:443',
    );
    assert.equal(provider.matchesDomain(real.issuer), true);
    assert.equal(provider.matchesDomain(`${real.issuer}/auth?client_id=x`), true);
    assert.equal(provider.matchesDomain('http://127.0.0.1:1/'), false);
    assert.equal(provider.matchesDomain('evil.example'), false);
  });

  /** A fresh flow logged in at the provider, its callback checked and found ok. */
  async function signIn() {
    const flow = newChallenge();
    const checked = provider.checkCallback(
      await login(await provider.authorizationUrl(authorizeParams(flow))),
      flow.state,
    );
    assert.ok(checked.ok);
    return { flow, checked };
  }

  test('checkCallback: a real callback is ok; error=, missing iss, wrong iss, wrong state, no code are not', async () => {
    const flow = newChallenge();
    const callback = await login(await provider.authorizationUrl(authorizeParams(flow)));
    const ok = provider.checkCallback(callback, flow.state);
    assert.equal(ok.ok, true);
    assert.ok(ok.ok && ok.code.length > 0 && ok.iss === real.issuer);

    const denied = provider.checkCallback(
      new URLSearchParams({
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
        state: flow.state,
        iss: real.issuer,
      }),
      flow.state,
    );
    assert.deepEqual(denied, {
      ok: false,
      kind: 'denied',
      error: 'access_denied',
      description: 'End-User aborted interaction',
    });

    const noIss = new URLSearchParams(callback);
    noIss.delete('iss');
    const missing = provider.checkCallback(noIss, flow.state);
    assert.equal(missing.ok, false);
    assert.ok(!missing.ok && missing.kind === 'invalid' && missing.error === 'invalid_request');
    assert.ok(!missing.ok && /no iss parameter/.test(missing.description ?? ''));

    const wrongIss = new URLSearchParams(callback);
    wrongIss.set('iss', 'https://evil.example/');
    const wrong = provider.checkCallback(wrongIss, flow.state);
    assert.ok(
      !wrong.ok &&
        wrong.kind === 'invalid' &&
        /iss is not the provider's issuer/.test(wrong.description ?? ''),
    );

    const otherState = provider.checkCallback(callback, newChallenge().state);
    assert.ok(
      !otherState.ok &&
        otherState.kind === 'invalid' &&
        /state does not match/.test(otherState.description ?? ''),
    );

    const noCode = provider.checkCallback(
      new URLSearchParams({ state: flow.state, iss: real.issuer }),
      flow.state,
    );
    assert.ok(!noCode.ok && noCode.kind === 'invalid' && /no code/.test(noCode.description ?? ''));
  });

  test('a whole login: code exchange with validated ID token claims, refresh, and invalid_grant on reuse', async () => {
    const { flow, checked } = await signIn();

    const exchange = {
      code: checked.code,
      iss: checked.iss,
      state: flow.state,
      redirectUri: REDIRECT_URI,
      verifier: flow.verifier,
      nonce: flow.nonce,
    };
    const tokens = await provider.exchangeCode(exchange);
    assert.ok(tokens.access_token.length > 0);
    assert.ok(tokens.expires_in > 0);
    assert.ok(tokens.refresh_token);
    assert.ok(tokens.id_token);
    assert.equal(tokens.claims?.sub, 'alice');
    assert.equal(tokens.claims?.iss, real.issuer);
    assert.equal(tokens.claims?.aud, CLIENT_ID);
    assert.equal(tokens.claims?.nonce, flow.nonce);
    assert.equal(tokens.claims?.['email'], 'alice@example.test');

    const refreshed = await provider.refresh({ refreshToken: tokens.refresh_token! });
    assert.ok(refreshed.access_token.length > 0);
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.equal(refreshed.claims?.sub, 'alice');

    // The code was used (oidc-provider then also revokes the grant, RFC 6749 §4.1.2): the provider says invalid_grant, and we keep its code and description.
    const reused = await rejectsWith(
      provider.exchangeCode(exchange),
      'invalid_grant',
      /^The identity provider refused the grant \(invalid_grant\): /,
      'invalid_grant',
    );
    assert.equal(reused.status, 400);
    assert.ok(!reused.message.includes(checked.code), 'no code in the message');

    await rejectsWith(
      provider.refresh({ refreshToken: 'not-a-refresh-token' }),
      'invalid_grant',
      undefined,
      'invalid_grant',
    );
  });

  test("a nonce other than the flow's makes the exchange fail as an invalid ID token", async () => {
    const { flow, checked } = await signIn();
    await rejectsWith(
      provider.exchangeCode({
        code: checked.code,
        iss: checked.iss,
        state: flow.state,
        redirectUri: REDIRECT_URI,
        verifier: flow.verifier,
        nonce: newChallenge().nonce,
      }),
      'provider_error',
      /ID token failed validation.*nonce/,
      'invalid_id_token',
    );
  });

  test("a wrong verifier is the provider's invalid_grant", async () => {
    const { flow, checked } = await signIn();
    await rejectsWith(
      provider.exchangeCode({
        code: checked.code,
        iss: checked.iss,
        state: flow.state,
        redirectUri: REDIRECT_URI,
        verifier: newChallenge().verifier,
        nonce: flow.nonce,
      }),
      'invalid_grant',
      /grant request is invalid/,
      'invalid_grant',
    );
  });

  test('an exchange without the iss the provider requires is refused before any request', async () => {
    let calls = 0;
    const counting = await discoverProvider({
      issuer: real.issuer,
      clientId: CLIENT_ID,
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    const before = calls;
    await rejectsWith(
      counting.exchangeCode({
        code: 'x',
        state: 'y',
        redirectUri: REDIRECT_URI,
        verifier: newChallenge().verifier,
        nonce: 'n',
      }),
      'invalid_request',
      /no iss parameter/,
      'invalid_request',
    );
    assert.equal(calls, before);
  });

  test('a confidential client authenticates with client_secret_post', async () => {
    const confidential = await discoverProvider({
      issuer: real.issuer,
      clientId: SECRET_CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });
    const flow = newChallenge();
    const checked = confidential.checkCallback(
      await login(await confidential.authorizationUrl(authorizeParams(flow, SECRET_CLIENT_ID))),
      flow.state,
    );
    assert.ok(checked.ok);
    const tokens = await confidential.exchangeCode({
      code: checked.code,
      iss: checked.iss,
      state: flow.state,
      redirectUri: REDIRECT_URI,
      verifier: flow.verifier,
      nonce: flow.nonce,
    });
    assert.equal(tokens.claims?.aud, SECRET_CLIENT_ID);

    const wrongSecret = await discoverProvider({
      issuer: real.issuer,
      clientId: SECRET_CLIENT_ID,
      clientSecret: 'wrong',
    });
    await rejectsWith(
      wrongSecret.refresh({ refreshToken: tokens.refresh_token! }),
      'provider_error',
      /invalid_client/,
      'invalid_client',
    );
  });

  describe('token endpoint faults (the transport is swapped for the token endpoint only)', () => {
    async function withTokenEndpoint(
      answer: (url: string) => Promise<Response>,
    ): Promise<IdentityProvider> {
      return discoverProvider({
        issuer: real.issuer,
        clientId: CLIENT_ID,
        timeoutMs: 300,
        fetch: (input, init) =>
          String(input).endsWith('/token') ? answer(String(input)) : fetch(input, init),
      });
    }

    test('5xx, HTML and garbage are provider_error naming the status', async () => {
      const p500 = await withTokenEndpoint(
        async () =>
          new Response('{"error":"server_error"}', {
            status: 500,
            headers: { 'content-type': 'application/json' },
          }),
      );
      await rejectsWith(
        p500.refresh({ refreshToken: 'r' }),
        'provider_error',
        /^The identity provider answered 500 to the refresh request$/,
        'server_error',
      );

      const html = await withTokenEndpoint(
        async () =>
          new Response('<html>hi</html>', {
            status: 200,
            headers: { 'content-type': 'text/html' },
          }),
      );
      await rejectsWith(
        html.refresh({ refreshToken: 'r' }),
        'provider_error',
        /content type text\/html, not application\/json/,
      );

      const garbage400 = await withTokenEndpoint(
        async () =>
          new Response('nope', { status: 400, headers: { 'content-type': 'text/plain' } }),
      );
      await rejectsWith(
        garbage400.refresh({ refreshToken: 'r' }),
        'provider_error',
        /answered 400 to the refresh request without an OAuth error/,
      );

      const noToken = await withTokenEndpoint(async () => Response.json({ token_type: 'Bearer' }));
      await rejectsWith(noToken.refresh({ refreshToken: 'r' }), 'provider_error', /access_token/);

      const other = await withTokenEndpoint(async () =>
        Response.json({ error: 'invalid_scope', error_description: 'bad\nscope' }, { status: 400 }),
      );
      await rejectsWith(
        other.refresh({ refreshToken: 'r' }),
        'provider_error',
        /^The identity provider answered 400 to the refresh request: invalid_scope: bad scope$/,
        'invalid_scope',
      );
    });

    test('a challenge, a redirect, another 2xx and a body cut short are named for what they are', async () => {
      const challenged = await withTokenEndpoint(
        async () =>
          new Response('', {
            status: 401,
            headers: { 'www-authenticate': 'Bearer error="invalid_token", realm="idp"' },
          }),
      );
      await rejectsWith(
        challenged.refresh({ refreshToken: 'r' }),
        'provider_error',
        /^The identity provider answered 401 to the refresh request with an authentication challenge \(invalid_token\)$/,
        'invalid_token',
      );

      const redirected = await withTokenEndpoint(
        async () =>
          new Response(null, { status: 302, headers: { location: 'https://evil.example/' } }),
      );
      await rejectsWith(
        redirected.refresh({ refreshToken: 'r' }),
        'provider_error',
        /^The identity provider answered 302 to the refresh request$/,
      );

      const created = await withTokenEndpoint(async () =>
        Response.json({ access_token: 'at', token_type: 'Bearer' }, { status: 201 }),
      );
      await rejectsWith(
        created.refresh({ refreshToken: 'r' }),
        'provider_error',
        /^The identity provider answered 201 to the refresh request$/,
      );

      const cut = await withTokenEndpoint(async () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"access_token":"a'));
            controller.error(
              new TypeError('terminated', {
                cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
              }),
            );
          },
        });
        return new Response(body, { headers: { 'content-type': 'application/json' } });
      });
      await rejectsWith(
        cut.refresh({ refreshToken: 'r' }),
        'provider_unavailable',
        /^Cannot reach the identity provider for the refresh request \(UND_ERR_SOCKET\)$/,
      );
    });

    test('a bearer token_type in any case is accepted, and a missing expires_in is 0', async () => {
      const p = await withTokenEndpoint(async () =>
        Response.json({ access_token: 'at', token_type: 'bEaReR' }),
      );
      const tokens = await p.refresh({ refreshToken: 'r', scope: 'openid', audience: 'api' });
      assert.deepEqual(tokens, { access_token: 'at', expires_in: 0 });
    });

    test('a DPoP-bound token is refused: the broker hands tokens out as Bearer', async () => {
      const p = await withTokenEndpoint(async () =>
        Response.json({ access_token: 'at', token_type: 'DPoP', expires_in: 60 }),
      );
      await rejectsWith(
        p.refresh({ refreshToken: 'r' }),
        'provider_error',
        /^The identity provider's answer to the refresh request is not valid: token_type dpop is not Bearer$/,
      );
    });

    test('refresh sends scope and audience', async () => {
      let body = '';
      const p = await discoverProvider({
        issuer: real.issuer,
        clientId: CLIENT_ID,
        fetch: async (input, init) => {
          if (!String(input).endsWith('/token')) return fetch(input, init);
          body = String(init?.body);
          return Response.json({ access_token: 'at', token_type: 'Bearer', expires_in: 60 });
        },
      });
      await p.refresh({
        refreshToken: 'r',
        scope: 'openid email',
        audience: 'https://api.example',
      });
      const sent = new URLSearchParams(body);
      assert.equal(sent.get('grant_type'), 'refresh_token');
      assert.equal(sent.get('scope'), 'openid email');
      assert.equal(sent.get('audience'), 'https://api.example');
      assert.equal(sent.get('client_id'), CLIENT_ID);
    });

    test('a slow provider is provider_timeout, an unreachable one provider_unavailable', async () => {
      // The swapped transport never answers, and honours the request's timeout signal as fetch does.
      const hanging = await discoverProvider({
        issuer: real.issuer,
        clientId: CLIENT_ID,
        timeoutMs: 200,
        fetch: (input, init) =>
          String(input).endsWith('/token')
            ? new Promise<Response>((_resolve, reject) =>
                init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
              )
            : fetch(input, init),
      });
      await rejectsWith(
        hanging.refresh({ refreshToken: 'r' }),
        'provider_timeout',
        /did not answer the refresh request within 0.2 s/,
      );

      const down = await withTokenEndpoint(async () => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
        });
      });
      await rejectsWith(
        down.refresh({ refreshToken: 'r' }),
        'provider_unavailable',
        /\(ECONNREFUSED\)/,
      );
    });
  });
});

describe('discovery faults', () => {
  let server: Server;
  let base: string;
  let requests = 0;
  let answer: (res: ServerResponse) => void = (res) => json(res, 404, {});

  before(async () => {
    ({ server, base } = await listen((req, res) => {
      requests++;
      answer(res);
      void req;
    }));
  });
  after(async () => {
    await close(server);
  });

  function document(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      issuer: base,
      authorization_endpoint: `${base}/authorize?tenant=acme`,
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/jwks`,
      response_types_supported: ['code'],
      ...overrides,
    };
  }

  function serve(status: number, body: unknown, type?: string): void {
    requests = 0;
    answer = (res) => json(res, status, body, type);
  }

  const config = (): ProviderConfig => ({ issuer: base, clientId: CLIENT_ID, timeoutMs: 2_000 });

  test('an http issuer off loopback is refused without a request', async () => {
    await rejectsWith(
      discoverProvider({ issuer: 'http://idp.example.com/', clientId: CLIENT_ID }),
      'startup_failed',
      /only allowed on loopback/,
    );
  });

  test('an unreachable issuer is a readable startup_failed', async () => {
    const { server: gone, base: goneBase } = await listen(() => undefined);
    await close(gone);
    await rejectsWith(
      discoverProvider({ issuer: goneBase, clientId: CLIENT_ID }),
      'startup_failed',
      new RegExp(`^Cannot reach the identity provider at ${goneBase} \\(ECONNREFUSED\\)$`),
    );
  });

  test('a missing authorization_endpoint, token_endpoint or jwks_uri is refused', async () => {
    for (const name of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
      serve(200, document({ [name]: undefined }));
      await rejectsWith(
        discoverProvider(config()),
        'startup_failed',
        new RegExp(`has no ${name}$`),
      );
    }
  });

  test('a document for another issuer is refused', async () => {
    serve(200, document({ issuer: 'https://other.example/' }));
    await rejectsWith(
      discoverProvider(config()),
      'startup_failed',
      new RegExp(
        `^The issuer ${base} answered with issuer https://other.example/; they must match exactly$`,
      ),
    );
  });

  test('a document that is not JSON is refused', async () => {
    serve(200, '<html>login</html>', 'text/html');
    await rejectsWith(
      discoverProvider(config()),
      'startup_failed',
      /^The discovery document at .*\/\.well-known\/openid-configuration is not valid JSON$/,
    );
  });

  test('an endpoint off loopback for a loopback http issuer is refused', async () => {
    serve(200, document({ token_endpoint: 'http://idp.example.com/token' }));
    await rejectsWith(
      discoverProvider(config()),
      'startup_failed',
      /lists token_endpoint http:\/\/idp\.example\.com\/token, which is not on loopback/,
    );
  });

  test('a provider without S256 is refused', async () => {
    serve(200, document({ code_challenge_methods_supported: ['plain'] }));
    await rejectsWith(
      discoverProvider(config()),
      'startup_failed',
      /does not support PKCE with S256/,
    );
  });

  test('a 5xx is retried once, a 4xx is not', async () => {
    serve(503, { error: 'unavailable' });
    await rejectsWith(discoverProvider(config()), 'startup_failed', /answered HTTP 503/);
    assert.equal(requests, 2);

    serve(404, { error: 'not_found' });
    await rejectsWith(
      discoverProvider(config()),
      'startup_failed',
      /answered HTTP 404; check the issuer URL$/,
    );
    assert.equal(requests, 1);

    let first = true;
    requests = 0;
    answer = (res) => {
      if (first) {
        first = false;
        json(res, 502, 'bad gateway', 'text/plain');
      } else json(res, 200, document());
    };
    const provider = await discoverProvider(config());
    assert.equal(provider.issuer, base);
    assert.equal(requests, 2);
  });

  test('authorizationUrl keeps the endpoint query, sets every param, appends extras, omits undefined', async () => {
    serve(200, document());
    const provider = await discoverProvider(config());
    assert.equal(provider.requiresIssParameter, false);
    const url = await provider.authorizationUrl({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile',
      state: 'the-state',
      nonce: 'the-nonce',
      code_challenge: 'the-challenge',
      code_challenge_method: 'S256',
      response_mode: 'form_post',
      audience: 'https://api.example',
      screen_hint: 'signup',
      prompt: 'login',
      organization: 'org_1',
      invitation: undefined,
      extra: { connection: 'github', 'ext-flag': 'a b&c', state: 'forged', invitation: 'inv_1' },
    });
    assert.equal(url.origin + url.pathname, `${base}/authorize`);
    assert.deepEqual(
      [...url.searchParams],
      [
        ['tenant', 'acme'],
        ['response_type', 'code'],
        ['client_id', CLIENT_ID],
        ['redirect_uri', REDIRECT_URI],
        ['scope', 'openid profile'],
        ['state', 'the-state'],
        ['nonce', 'the-nonce'],
        ['code_challenge', 'the-challenge'],
        ['code_challenge_method', 'S256'],
        ['response_mode', 'form_post'],
        ['audience', 'https://api.example'],
        ['screen_hint', 'signup'],
        ['prompt', 'login'],
        ['organization', 'org_1'],
        ['connection', 'github'],
        ['ext-flag', 'a b&c'],
        ['invitation', 'inv_1'],
      ],
    );
    assert.equal(provider.authorizationOrigin, base);
    assert.equal(
      provider.checkCallback(new URLSearchParams({ code: 'c', state: 's' }), 's').ok,
      true,
      'iss is optional when not advertised',
    );
  });

  test('checkCallback names why a callback is refused, without its values', async () => {
    serve(200, document());
    const provider = await discoverProvider(config());
    const reasons: Array<[string, string]> = [
      ['code=c&state=s&state=s', 'the callback repeats a parameter'],
      ['response=eyJ.eyJ.sig&state=s', 'JARM responses are not supported'],
      ['code=c&state=s&id_token=eyJ.eyJ.sig', 'implicit and hybrid responses are not supported'],
      ['code=c', 'the callback has no state'],
      ['code=c&state=another', "the callback's state does not match the flow's"],
      [
        'code=c&state=s&iss=https%3A%2F%2Fevil.example%2F',
        "the callback's iss is not the provider's issuer",
      ],
      ['state=s', 'the callback carries no code'],
    ];
    for (const [query, description] of reasons) {
      assert.deepEqual(
        provider.checkCallback(new URLSearchParams(query), 's'),
        { ok: false, kind: 'invalid', error: 'invalid_request', description },
        query,
      );
    }
  });
});

describe('provider client against the bundled dev provider (its own login pages, form_post)', () => {
  let callbacks: { server: Server; base: string };
  let dev: Awaited<ReturnType<typeof startDevProvider>>;
  let devNoIss: Awaited<ReturnType<typeof startDevProvider>>;
  const redirectUri = (): string => `${callbacks.base}/pkce/response/code`;

  before(async () => {
    // The redirect URI: scriptedLogin delivers the provider's form_post here, as a browser would.
    callbacks = await listen((req, res) => {
      req.resume();
      req.on('end', () => json(res, 200, { received: true }));
    });
    dev = await startDevProvider({ redirectUris: [redirectUri()] });
    devNoIss = await startDevProvider({ redirectUris: [redirectUri()], advertiseIss: false });
  });
  after(async () => {
    await dev.close();
    await devNoIss.close();
    await close(callbacks.server);
  });

  function params(clientId: string, flow: ReturnType<typeof newChallenge>): AuthorizeParams {
    return {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri(),
      scope: 'openid profile email',
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: flow.challenge,
      code_challenge_method: 'S256',
      response_mode: 'form_post',
    };
  }

  test('login, callback check and code exchange yield the demo user', async () => {
    const provider = await discoverProvider({ issuer: dev.issuer, clientId: dev.clientId });
    assert.equal(provider.requiresIssParameter, true);
    const flow = newChallenge();
    const { delivered, callbackResponse } = await scriptedLogin(
      await provider.authorizationUrl(params(dev.clientId, flow)),
    );
    await callbackResponse.arrayBuffer();
    const checked = provider.checkCallback(delivered, flow.state);
    assert.ok(checked.ok);
    const tokens = await provider.exchangeCode({
      code: checked.code,
      iss: checked.iss,
      state: flow.state,
      redirectUri: redirectUri(),
      verifier: flow.verifier,
      nonce: flow.nonce,
    });
    assert.equal(tokens.claims?.sub, dev.user.sub);
    assert.equal(tokens.claims?.nonce, flow.nonce);
  });

  test('a denied consent is kind "denied"', async () => {
    const provider = await discoverProvider({ issuer: dev.issuer, clientId: dev.clientId });
    const flow = newChallenge();
    const { delivered, callbackResponse } = await scriptedLogin(
      await provider.authorizationUrl(params(dev.clientId, flow)),
      { deny: true },
    );
    await callbackResponse.arrayBuffer();
    const checked = provider.checkCallback(delivered, flow.state);
    assert.equal(checked.ok, false);
    assert.ok(!checked.ok && checked.kind === 'denied' && checked.error === 'access_denied');
  });

  test('without the RFC 9207 flag, a code relayed without iss is accepted', async () => {
    const provider = await discoverProvider({
      issuer: devNoIss.issuer,
      clientId: devNoIss.clientId,
    });
    assert.equal(provider.requiresIssParameter, false);
    const flow = newChallenge();
    const { delivered, callbackResponse } = await scriptedLogin(
      await provider.authorizationUrl(params(devNoIss.clientId, flow)),
    );
    await callbackResponse.arrayBuffer();
    const code = delivered.get('code') ?? '';
    const checked = provider.checkCallback(
      new URLSearchParams({ code, state: flow.state }),
      flow.state,
    );
    assert.deepEqual(checked, { ok: true, code });
    const tokens = await provider.exchangeCode({
      code,
      state: flow.state,
      redirectUri: redirectUri(),
      verifier: flow.verifier,
      nonce: flow.nonce,
    });
    assert.equal(tokens.claims?.sub, devNoIss.user.sub);
  });
});
