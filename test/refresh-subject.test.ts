/**
 * A refresh keeps the user (OIDC Core §12.2): the broker binds each refresh
 * token it hands out to the iss and sub of its sign-in, and refuses a refresh
 * whose ID token names someone else. The provider is a real oidc-provider
 * started here whose account can be made to assert another `sub` between two
 * refreshes — the bundled dev provider has one user and no such switch.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { newChallenge } from '../src/protocol/pkce.js';
import { discoverProvider } from '../src/provider/oidc.js';
import type { IdentityProvider } from '../src/provider/types.js';
import { freePort } from './support/redis.js';
import { postJson, urlQueue } from './support/stack.js';

const CLIENT_ID = 'refresh-subject-app';
const ACCOUNT = 'alice';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/**
 * An oidc-provider whose interactions sign ACCOUNT in and consent, with no UI.
 * `asserted` is the `sub` its ID tokens carry for ACCOUNT: change it and the
 * next refresh names another user.
 */
async function startProvider(redirectUri: string) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const state = { asserted: ACCOUNT };
  let provider: Provider | undefined;
  const server: Server = createServer((req, res) => {
    if (provider === undefined) return void res.writeHead(503).end();
    if (req.url?.startsWith('/interaction/')) {
      void finishInteraction(provider, req, res).catch(() => res.writeHead(500).end());
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['refresh-subject-cookie-key-0123456789'] },
    claims: { openid: ['sub'] },
    scopes: ['openid', 'offline_access'],
    features: { devInteractions: { enabled: false }, resourceIndicators: { enabled: false } },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 600,
      IdToken: 600,
      RefreshToken: 3600,
      Session: 600,
      Interaction: 600,
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    // oidc-provider names the ID token's `sub` after the account it finds for the grant.
    findAccount: (_ctx: unknown, id: string) => {
      const sub = id === ACCOUNT ? state.asserted : id;
      return { accountId: sub, claims: () => ({ sub }) };
    },
  });
  provider.silent = true;
  return {
    issuer,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function finishInteraction(provider: Provider, req: IncomingMessage, res: ServerResponse) {
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId: CLIENT_ID });
  grant.addOIDCScope(String(details.params['scope']));
  const grantId = await grant.save();
  const returnTo = await provider.interactionResult(
    req,
    res,
    { login: { accountId: ACCOUNT }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
  res.writeHead(303, { location: returnTo });
  res.end();
}

/** Follows the provider's redirects (with its cookies) up to the redirect URI, and returns that URL unvisited. */
async function signInAtProvider(authorizeUrl: URL, redirectUri: string): Promise<URL> {
  const jar = new Map<string, string>();
  let url = authorizeUrl.href;
  for (let hop = 0; hop < 10; hop += 1) {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line)) jar.delete(pair.slice(0, index));
      else jar.set(pair.slice(0, index), pair.slice(index + 1));
    }
    await response.arrayBuffer();
    const location = response.headers.get('location');
    assert.ok(location, `hop ${hop} answered ${response.status} without a Location`);
    const next = new URL(location, url);
    if (next.href.startsWith(redirectUri)) return next;
    url = next.href;
  }
  assert.fail('too many redirects');
}

describe('refresh keeps the subject', { timeout: 60_000 }, () => {
  let idp: Awaited<ReturnType<typeof startProvider>>;
  let provider: IdentityProvider;
  let broker: RunningBroker;
  let redirectUri: string;
  const opened = urlQueue();

  before(async () => {
    const port = await freePort();
    redirectUri = `http://127.0.0.1:${port}/pkce/response/code`;
    idp = await startProvider(redirectUri);
    provider = await discoverProvider({ issuer: idp.issuer, clientId: CLIENT_ID });
    const base = loadConfig({ argv: ['--port', String(port)], env: {}, readFile: () => undefined });
    broker = await startBroker({
      config: {
        ...base.config,
        issuer: idp.issuer,
        clientId: CLIENT_ID,
        scope: ['openid', 'offline_access'],
      },
      provider,
      logger: createLogger({ level: 'silent' }),
      openAuthorizeUrl: async (url) => opened.push(url),
    });
  });
  after(async () => {
    await broker?.close();
    await idp?.close();
  });

  const token = (body: Record<string, unknown>) =>
    fetch(`${broker.url}/pkce/token`, postJson(body));

  async function refresh(refreshToken: string) {
    const response = await token({ grant_type: 'refresh_token', code: refreshToken });
    return { status: response.status, body: await json<PKCE & Record<string, unknown>>(response) };
  }

  /** A whole sign-in through the broker: its token answer. */
  async function signInThroughBroker() {
    const challenge = (await json<PKCE>(await fetch(`${broker.url}/pkce/challenge`))).challenge!;
    const waiting = fetch(
      `${broker.url}/pkce/code`,
      postJson({ state: challenge.state, response_mode: 'query', prompt: 'consent' }),
    );
    const callback = await signInAtProvider(await opened.next(), redirectUri);
    assert.equal((await fetch(callback, { headers: { accept: 'application/json' } })).status, 200);
    const { code } = (await json<PKCE>(await waiting)).result!;
    const answer = await token({
      grant_type: 'authorization_code',
      code,
      code_verifier: challenge.verifier,
    });
    assert.equal(answer.status, 200);
    return (await json<PKCE>(answer)).auth0!.oAuth.token!;
  }

  it('refuses a refresh whose ID token names another user, also after a rotation', async () => {
    idp.state.asserted = ACCOUNT;
    const first = await signInThroughBroker();
    assert.equal(decodeJwt(first.id_token!).sub, ACCOUNT);

    const kept = await refresh(first.refresh_token!);
    assert.equal(kept.status, 200);
    const rotated = kept.body.auth0!.oAuth.token!;
    assert.equal(kept.body.auth0!.user?.user_id, ACCOUNT);
    assert.notEqual(
      rotated.refresh_token,
      first.refresh_token,
      'the provider rotates refresh tokens',
    );

    // The provider now names another user for the same grant.
    idp.state.asserted = 'mallory';
    const changed = await refresh(rotated.refresh_token!);
    assert.equal(changed.status, 400);
    assert.equal(changed.body.error, 'invalid_grant');
    assert.match(String(changed.body.detail), /another user/);
    assert.equal(changed.body.auth0, undefined, 'no tokens of the other user went out');
  });

  it('accepts a refresh token it never handed out, and binds the user it names', async () => {
    idp.state.asserted = ACCOUNT;
    // Signed in past the broker: the provider client used directly, the code never seen by the broker.
    const flow = newChallenge();
    const callback = await signInAtProvider(
      await provider.authorizationUrl({
        response_type: 'code',
        client_id: CLIENT_ID,
        redirect_uri: redirectUri,
        scope: 'openid offline_access',
        state: flow.state,
        nonce: flow.nonce,
        code_challenge: flow.challenge,
        code_challenge_method: 'S256',
        response_mode: 'query',
        prompt: 'consent',
      }),
      redirectUri,
    );
    const checked = provider.checkCallback(callback.searchParams, flow.state);
    assert.ok(checked.ok);
    const elsewhere = await provider.exchangeCode({
      code: checked.code,
      ...(checked.iss !== undefined && { iss: checked.iss }),
      state: flow.state,
      redirectUri,
      verifier: flow.verifier,
      nonce: flow.nonce,
    });

    const unbound = await refresh(elsewhere.refresh_token!);
    assert.equal(unbound.status, 200);
    assert.equal(unbound.body.auth0!.user?.user_id, ACCOUNT);
    idp.state.asserted = 'mallory';
    const changed = await refresh(unbound.body.auth0!.oAuth.token!.refresh_token!);
    assert.equal(changed.status, 400);
    assert.equal(changed.body.error, 'invalid_grant');
  });
});
