/**
 * Pushed authorization requests (RFC 9126). Where the provider advertises
 * pushed_authorization_request_endpoint (the bundled one does), POST
 * /pkce/code pushes the authorize parameters first and opens a URL with only
 * client_id and request_uri: no state, nonce or challenge in the browser's
 * URL or on a launcher's command line. --par never keeps the long URL;
 * --par always without the endpoint refuses to start; a refused push answers
 * the /pkce/code with the provider's error and opens nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startDevProvider } from '../src/devprovider/provider.js';
import { BrokerError } from '../src/errors.js';
import type { PKCE } from '../src/protocol/models.js';
import { discoverProvider } from '../src/provider/oidc.js';
import type { AuthorizeParams } from '../src/provider/types.js';
import { redactUrl } from '../src/redact.js';
import { runCli } from './support/cli.js';
import { postJson, startStack, type Stack } from './support/stack.js';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function challenge(stack: Stack) {
  return (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
}

/**
 * Signs in through `url` at the bundled provider, checks the waiting POST /pkce/code got this
 * flow's code, and exchanges it with the flow's verifier: the token answer's OAuth token.
 */
async function completeSignIn(
  stack: Stack,
  url: URL | string,
  waiting: Promise<Response>,
  flow: { state: string; verifier: string },
) {
  const { callbackResponse } = await scriptedLogin(url, { accept: 'application/json' });
  assert.equal(callbackResponse.status, 200);
  const answer = await json<PKCE>(await waiting);
  assert.equal(answer.result?.state, flow.state);
  const token = await stack.api(
    '/pkce/token',
    postJson({
      grant_type: 'authorization_code',
      code: answer.result!.code,
      code_verifier: flow.verifier,
    }),
  );
  assert.equal(token.status, 200);
  return (await json<PKCE>(token)).auth0!.oAuth.token!;
}

describe('PAR against the bundled provider (--par auto)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ argv: ['--par', 'auto'] });
  });
  after(async () => {
    await stack.close();
  });

  it('opens a URL with exactly client_id and request_uri, and the whole sign-in completes', async () => {
    const { state, nonce, challenge: codeChallenge, verifier } = await challenge(stack);
    const pushesBefore = stack.upstream.filter((path) => path === '/request').length;
    const waiting = stack.api('/pkce/code', postJson({ state }));
    const url = await stack.nextAuthorizeUrl();
    assert.equal(url.origin + url.pathname, `${stack.devProvider.issuer}/auth`);
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.equal(url.searchParams.get('client_id'), stack.devProvider.clientId);
    assert.match(url.searchParams.get('request_uri') ?? '', /^urn:ietf:params:oauth:request_uri:/);
    for (const secret of [state, nonce, codeChallenge])
      assert.equal(url.href.includes(secret), false);
    assert.equal(stack.upstream.filter((path) => path === '/request').length, pushesBefore + 1);
    // The flow keeps what builds the URL, never the URL (a live request_uri) itself.
    const kept = JSON.stringify(await stack.broker.store.get(state));
    assert.equal(kept.includes(url.searchParams.get('request_uri')!), false, kept);
    assert.equal(kept.includes('request_uri'), false, kept);

    const oAuth = await completeSignIn(stack, url, waiting, { state, verifier });
    assert.equal(decodeJwt(oAuth.id_token!).nonce, nonce);
    // The pushed scope kept offline_access: the bundled provider still issues a refresh token.
    assert.equal(typeof oAuth.refresh_token, 'string');
  });

  it('answers a push the provider refuses (400 invalid_request) with a problem, and opens nothing', async () => {
    const refused = await challenge(stack);
    // oidc-provider refuses an unknown prompt value in the pushed request.
    const response = await stack.api(
      '/pkce/code',
      postJson({ state: refused.state, prompt: 'no-such-prompt' }),
    );
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = await json(response);
    assert.equal(problem.error, 'invalid_request');
    assert.match(String(problem.detail), /pushed authorization request/);
    // The flow was not started: nothing to show for it, and a later request may start it.
    const notStarted = await stack.api(
      `/pkce/authorize-url?state=${encodeURIComponent(refused.state)}`,
    );
    assert.equal(notStarted.status, 404);

    // Nothing was opened: the next URL the opener gets is the next flow's.
    const waiting = stack.api('/pkce/code', postJson({ state: refused.state }));
    const url = await stack.nextAuthorizeUrl();
    await scriptedLogin(url, { accept: 'application/json' });
    const answer = await waiting;
    assert.equal(answer.status, 200);
    assert.equal((await json<PKCE>(answer)).result?.state, refused.state);
  });

  it('GET /pkce/authorize-url pushes again: a fresh request_uri each time, and the last one signs in', async () => {
    const { state, nonce, verifier } = await challenge(stack);
    const path = `/pkce/authorize-url?state=${encodeURIComponent(state)}`;
    // prompt=login is pushed again on every rebuild, with the flow's own state and nonce.
    const waiting = stack.api('/pkce/code', postJson({ state, prompt: 'login' }));
    const opened = await stack.nextAuthorizeUrl();
    const pushes = () => stack.upstream.filter((p) => p === '/request').length;
    const before = pushes();
    const shown: URL[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await stack.api(path);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      shown.push(new URL((await json<{ authorize_url: string }>(response)).authorize_url));
    }
    assert.equal(pushes(), before + 2);
    const uris = [opened, ...shown].map((url) => url.searchParams.get('request_uri'));
    assert.equal(new Set(uris).size, 3, 'each URL has a request_uri of its own');
    for (const url of shown) {
      assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.equal(url.origin + url.pathname, opened.origin + opened.pathname);
    }

    const oAuth = await completeSignIn(stack, shown[1]!, waiting, { state, verifier });
    const idToken = decodeJwt(oAuth.id_token!);
    assert.equal(idToken.nonce, nonce);
    // Done: nothing more to show for it.
    assert.equal((await stack.api(path)).status, 404);
  });

  it('answers GET /pkce/authorize-url with the provider problem when the push fails, and the flow goes on', async () => {
    const { state } = await challenge(stack);
    const path = `/pkce/authorize-url?state=${encodeURIComponent(state)}`;
    const waiting = stack.api('/pkce/code', postJson({ state }));
    const opened = await stack.nextAuthorizeUrl();
    // A client left without redirect URIs is no valid client to oidc-provider: the push gets 401 invalid_client.
    stack.devProvider.setRedirectUris([]);
    let refused: Response;
    try {
      refused = await stack.api(path);
    } finally {
      stack.devProvider.setRedirectUris([stack.broker.redirectUri]);
    }
    assert.equal(refused.status, 502);
    assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = await json(refused);
    assert.equal(problem.code, 'provider_error');
    assert.equal(problem.error, 'invalid_client');
    assert.match(String(problem.detail), /pushed authorization request/);

    // The flow is untouched: the URL the browser got still signs in.
    await scriptedLogin(opened, { accept: 'application/json' });
    assert.equal((await waiting).status, 200);
  });
});

describe('a pushed URL in the log', () => {
  it('has its request_uri redacted: until the browser uses it, it stands for the flow', () => {
    const uri = 'urn:ietf:params:oauth:request_uri:Vt0BmgP0Ar3hj1tdtq0aq';
    const shown = redactUrl(
      `http://127.0.0.1:4000/auth?client_id=app&request_uri=${encodeURIComponent(uri)}`,
    );
    assert.equal(shown.includes('Vt0BmgP0Ar3hj1tdtq0aq'), false, shown);
    assert.match(shown, /client_id=app/);
  });
});

describe('--par never and --par always', () => {
  it('--par never gives the long URL, with the flow in it', async () => {
    const stack = await startStack({ argv: ['--par', 'never'] });
    try {
      const { state } = await challenge(stack);
      const waiting = stack.api('/pkce/code', postJson({ state }));
      const url = await stack.nextAuthorizeUrl();
      assert.equal(url.searchParams.get('state'), state);
      assert.equal(url.searchParams.get('request_uri'), null);
      assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
      assert.equal(stack.upstream.includes('/request'), false);
      // Built again from the flow for a terminal client: the very URL the opener got.
      const path = `/pkce/authorize-url?state=${encodeURIComponent(state)}`;
      for (let i = 0; i < 2; i++) {
        const shown = await stack.api(path);
        assert.equal((await json(shown)).authorize_url, url.href);
      }
      await scriptedLogin(url, { accept: 'application/json' });
      assert.equal((await waiting).status, 200);
    } finally {
      await stack.close();
    }
  });

  it('--par always against a provider without PAR fails at start with one line', async () => {
    const provider = await startDevProvider({ par: false });
    try {
      const as = await discoverProvider({ issuer: provider.issuer, clientId: provider.clientId });
      assert.equal(as.metadata.pushed_authorization_request_endpoint, undefined);
      await assert.rejects(
        discoverProvider({ issuer: provider.issuer, clientId: provider.clientId, par: 'always' }),
        (error: unknown) =>
          error instanceof BrokerError &&
          error.code === 'startup_failed' &&
          /--par always: .*advertises no pushed_authorization_request_endpoint/.test(error.message),
      );
      const result = await runCli(
        [
          'serve',
          '--log-level',
          'silent',
          '--port',
          '0',
          '--issuer',
          provider.issuer,
          '--client-id',
          provider.clientId,
          '--par',
          'always',
        ],
        { timeoutMs: 15_000 },
      );
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^pkce-broker serve: --par always: [^\n]*\n$/);
    } finally {
      await provider.close();
    }
  });
});

describe('the push, against a provider of the test', () => {
  const ISSUER = 'https://idp.example';
  const PAR_ENDPOINT = `${ISSUER}/par`;
  const params: AuthorizeParams = {
    response_type: 'code',
    client_id: 'the-app',
    redirect_uri: 'http://127.0.0.1:1000/pkce/response/code',
    scope: 'openid profile',
    state: 's'.repeat(43),
    nonce: 'n'.repeat(43),
    code_challenge: 'c'.repeat(43),
    code_challenge_method: 'S256',
    response_mode: 'form_post',
    prompt: 'login',
    extra: { access_type: 'offline', state: 'forged' },
  };

  /** A provider whose PAR endpoint answers `par`; every pushed body is kept. */
  async function providerWith(par: () => Response) {
    const pushed: URLSearchParams[] = [];
    const transport: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url === `${ISSUER}/.well-known/openid-configuration`) {
        return Response.json({
          issuer: ISSUER,
          authorization_endpoint: `${ISSUER}/authorize`,
          token_endpoint: `${ISSUER}/token`,
          jwks_uri: `${ISSUER}/jwks`,
          pushed_authorization_request_endpoint: PAR_ENDPOINT,
        });
      }
      assert.equal(url, PAR_ENDPOINT);
      assert.equal(init?.method, 'POST');
      pushed.push(new URLSearchParams(String(init?.body)));
      return par();
    };
    const provider = await discoverProvider({
      issuer: ISSUER,
      clientId: 'the-app',
      fetch: transport,
    });
    return { provider, pushed };
  }

  it('pushes every parameter, extras unable to replace one, and opens client_id and request_uri', async () => {
    const { provider, pushed } = await providerWith(() =>
      Response.json(
        { request_uri: 'urn:ietf:params:oauth:request_uri:abc', expires_in: 30 },
        { status: 201 },
      ),
    );
    const url = await provider.authorizationUrl(params);
    assert.equal(
      url.href,
      `${ISSUER}/authorize?client_id=the-app&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc`,
    );
    assert.equal(pushed.length, 1);
    const body = pushed[0]!;
    assert.equal(body.get('state'), params.state);
    assert.deepEqual(body.getAll('state'), [params.state]);
    assert.equal(body.get('nonce'), params.nonce);
    assert.equal(body.get('code_challenge'), params.code_challenge);
    assert.equal(body.get('response_mode'), 'form_post');
    assert.equal(body.get('access_type'), 'offline');
    assert.equal(body.get('client_id'), 'the-app');
  });

  for (const [what, answer, code, status, oauthError] of [
    [
      '400 invalid_request',
      () => Response.json({ error: 'invalid_request' }, { status: 400 }),
      'invalid_request',
      400,
      'invalid_request',
    ],
    [
      '400 invalid_scope',
      () => Response.json({ error: 'invalid_scope' }, { status: 400 }),
      'invalid_request',
      400,
      'invalid_scope',
    ],
    [
      '401 invalid_client',
      () => Response.json({ error: 'invalid_client' }, { status: 401 }),
      'provider_error',
      502,
      'invalid_client',
    ],
    ['503', () => new Response('down', { status: 503 }), 'provider_error', 502, undefined],
    [
      '201 that is not JSON',
      () => new Response('<html>', { status: 201, headers: { 'content-type': 'text/html' } }),
      'provider_error',
      502,
      undefined,
    ],
    [
      '201 without request_uri',
      () => Response.json({ expires_in: 60 }, { status: 201 }),
      'provider_error',
      502,
      undefined,
    ],
  ] as const) {
    it(`a push answered ${what} is a ${status} ${code}`, async () => {
      const { provider } = await providerWith(answer);
      await assert.rejects(
        provider.authorizationUrl(params),
        (error: unknown) =>
          error instanceof BrokerError &&
          error.code === code &&
          error.status === status &&
          error.oauthError === oauthError &&
          /pushed authorization request/.test(error.message),
      );
    });
  }
});
