import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import * as oauth from 'oauth4webapi';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { scriptedLogin } from '../src/devprovider/login.js';

/** What a stand-in for the broker's callback received. */
interface Received {
  method: string;
  origin: string | undefined;
  params: URLSearchParams;
}

/** A dev provider whose client may redirect to a fresh capture server; both stop with the test. */
async function startPair(t: TestContext) {
  const callback = await startCallback();
  const provider = await startDevProvider({ redirectUris: [callback.url] });
  t.after(async () => {
    await provider.close();
    await closeServer(callback.server);
  });
  return { callback, provider, as: await discover(provider) };
}

/** A redirect URI endpoint on loopback that records each request and answers 200 JSON. */
async function startCallback(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params =
      req.method === 'POST'
        ? new URLSearchParams(Buffer.concat(chunks).toString())
        : url.searchParams;
    received.push({ method: req.method ?? '', origin: req.headers.origin, params });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/pkce/response/code`, received, server };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function discover(provider: DevProvider): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(provider.issuer);
  const response = await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true });
  return oauth.processDiscoveryResponse(issuer, response);
}

interface Flow {
  url: URL;
  state: string;
  nonce: string;
  verifier: string;
}

async function authorizeUrl(
  as: oauth.AuthorizationServer,
  clientId: string,
  redirectUri: string,
  extra: Record<string, string> = {},
): Promise<Flow> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint ?? '');
  url.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    response_mode: 'form_post',
    scope: 'openid profile email offline_access',
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { url, state, nonce, verifier };
}

test('discovery names the issuer and advertises RFC 9207 iss by default', async (t) => {
  const provider = await startDevProvider();
  t.after(() => provider.close());

  assert.match(provider.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  const as = await discover(provider);
  assert.equal(as.issuer, provider.issuer);
  assert.equal(as.authorization_response_iss_parameter_supported, true);
  assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
  assert.ok(as.response_modes_supported?.includes('form_post'));
  assert.ok(as.scopes_supported?.includes('offline_access'));
  // PAR (RFC 9126) offered, not required.
  assert.equal(as.pushed_authorization_request_endpoint, `${provider.issuer}/request`);
  assert.notEqual(as.require_pushed_authorization_requests, true);
});

test('responseModesSupported replaces or drops the list; par: false drops the PAR endpoint', async (t) => {
  const [queryOnly, unlisted, noPar] = await Promise.all([
    startDevProvider({ responseModesSupported: ['query'] }),
    startDevProvider({ responseModesSupported: null }),
    startDevProvider({ par: false }),
  ]);
  t.after(() => Promise.all([queryOnly.close(), unlisted.close(), noPar.close()]));

  assert.deepEqual((await discover(queryOnly)).response_modes_supported, ['query']);
  assert.equal('response_modes_supported' in (await discover(unlisted)), false);
  const withoutPar = await discover(noPar);
  assert.equal('pushed_authorization_request_endpoint' in withoutPar, false);
  assert.ok(withoutPar.response_modes_supported?.includes('form_post'));
});

test('advertiseIss: false drops the iss flag from discovery', async (t) => {
  const provider = await startDevProvider({ advertiseIss: false });
  t.after(() => provider.close());

  const as = await discover(provider);
  assert.equal(as.issuer, provider.issuer);
  assert.equal('authorization_response_iss_parameter_supported' in as, false);
});

test('code + PKCE login through the pages (form_post), then the token exchange', async (t) => {
  const { callback, provider, as } = await startPair(t);
  const client: oauth.Client = { client_id: provider.clientId };
  // Parameters the broker forwards for Auth0 must not make the request fail.
  const flow = await authorizeUrl(as, provider.clientId, callback.url, {
    audience: 'https://api.example.com',
    screen_hint: 'signup',
    organization: 'org_123',
    invitation: 'inv_456',
    access_type: 'offline',
    display: 'page',
  });

  const { callbackResponse, delivered } = await scriptedLogin(flow.url);
  assert.equal(callbackResponse.status, 200);
  assert.deepEqual(await callbackResponse.json(), { ok: true });
  assert.equal(callback.received.length, 1);
  const [hit] = callback.received;
  assert.equal(hit?.method, 'POST');
  assert.equal(hit?.origin, provider.issuer);
  assert.deepEqual([...(hit?.params ?? [])], [...delivered]);
  assert.equal(delivered.get('state'), flow.state);
  assert.equal(delivered.get('iss'), provider.issuer);

  const params = oauth.validateAuthResponse(as, client, delivered, flow.state);
  const tokenResponse = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    callback.url,
    flow.verifier,
    { [oauth.allowInsecureRequests]: true },
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse, {
    expectedNonce: flow.nonce,
    requireIdToken: true,
  });
  assert.equal(typeof tokens.access_token, 'string');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(typeof tokens.refresh_token, 'string', 'offline_access yields a refresh token');
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  assert.equal(claims?.sub, provider.user.sub);
  assert.equal(claims?.name, 'Demo User');
  assert.equal(claims?.given_name, 'Demo');
  assert.equal(claims?.family_name, 'User');
  assert.equal(claims?.email, 'demo@example.com');
  assert.equal(claims?.email_verified, true);
  assert.equal(claims?.aud, provider.clientId);

  const userinfo = await oauth.processUserInfoResponse(
    as,
    client,
    provider.user.sub,
    await oauth.userInfoRequest(as, client, tokens.access_token, {
      [oauth.allowInsecureRequests]: true,
    }),
  );
  assert.equal(userinfo.email, 'demo@example.com');

  // The refresh token works (and, for a public client, rotates).
  const refreshed = await oauth.processRefreshTokenResponse(
    as,
    client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token ?? '', {
      [oauth.allowInsecureRequests]: true,
    }),
  );
  assert.equal(typeof refreshed.access_token, 'string');
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
});

test('query response mode, a redirect URI set after start, and a prompt other than consent', async (t) => {
  const callback = await startCallback();
  const provider = await startDevProvider();
  t.after(async () => {
    await provider.close();
    await closeServer(callback.server);
  });
  provider.setRedirectUris([callback.url]);
  const as = await discover(provider);
  const client: oauth.Client = { client_id: provider.clientId };
  const flow = await authorizeUrl(as, provider.clientId, callback.url, {
    response_mode: 'query',
    prompt: 'login',
  });

  const { callbackResponse, delivered } = await scriptedLogin(flow.url);
  assert.equal(callbackResponse.status, 200);
  assert.equal(callback.received[0]?.method, 'GET');
  assert.equal(delivered.get('iss'), provider.issuer);

  const params = oauth.validateAuthResponse(as, client, delivered, flow.state);
  const tokens = await oauth.processAuthorizationCodeResponse(
    as,
    client,
    await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.None(),
      params,
      callback.url,
      flow.verifier,
      {
        [oauth.allowInsecureRequests]: true,
      },
    ),
    { expectedNonce: flow.nonce },
  );
  assert.equal(typeof tokens.refresh_token, 'string');
});

test('a redirect URI that is not registered is refused at the provider', async (t) => {
  const provider = await startDevProvider({
    redirectUris: ['http://127.0.0.1:1/pkce/response/code'],
  });
  t.after(() => provider.close());
  const as = await discover(provider);
  const flow = await authorizeUrl(as, provider.clientId, 'http://127.0.0.1:2/elsewhere');

  await assert.rejects(scriptedLogin(flow.url), /redirect_uri/);
});

test('PKCE is required', async (t) => {
  const { callback, provider, as } = await startPair(t);
  const flow = await authorizeUrl(as, provider.clientId, callback.url);
  flow.url.searchParams.delete('code_challenge');
  flow.url.searchParams.delete('code_challenge_method');

  const { delivered } = await scriptedLogin(flow.url);
  assert.equal(delivered.get('error'), 'invalid_request');
  assert.match(delivered.get('error_description') ?? '', /PKCE/);
});

test('a wrong password is refused and the login page shown again', async (t) => {
  const { callback, provider, as } = await startPair(t);
  const flow = await authorizeUrl(as, provider.clientId, callback.url);

  await assert.rejects(scriptedLogin(flow.url, { password: 'wrong' }), /wrong credentials/);
  await assert.rejects(scriptedLogin(flow.url, { username: 'nobody' }), /wrong credentials/);
  assert.equal(callback.received.length, 0);

  // What a browser sees: the form again, with the error and the user name kept.
  const authorize = await fetch(flow.url, { redirect: 'manual' });
  const cookies = authorize.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const interaction = new URL(authorize.headers.get('location') ?? '', flow.url);
  const page = await fetch(new URL(`${interaction.pathname}/login`, interaction), {
    method: 'POST',
    headers: { cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: '<demo>', password: 'x' }).toString(),
  });
  assert.equal(page.status, 401);
  const html = await page.text();
  assert.match(html, /id="login-error"/);
  assert.match(html, /value="&lt;demo&gt;"/);
  assert.match(html, /id="login-submit"/);
});

test('denying consent delivers error=access_denied to the redirect URI', async (t) => {
  const { callback, provider, as } = await startPair(t);
  const flow = await authorizeUrl(as, provider.clientId, callback.url);

  const { callbackResponse, delivered } = await scriptedLogin(flow.url, { deny: true });
  assert.equal(callbackResponse.status, 200);
  assert.equal(delivered.get('error'), 'access_denied');
  assert.equal(delivered.get('state'), flow.state);
  assert.equal(callback.received[0]?.params.get('error'), 'access_denied');
});
