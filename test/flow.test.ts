/**
 * The PKCE API end to end over HTTP against the bundled oidc-provider:
 * challenge → code held open → provider login → form_post callback → result →
 * token → ID token validated; refresh; and every way a flow must be refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { scriptedLogin } from '../src/devprovider/login.js';
import type { PKCE } from '../src/protocol/models.js';
import { generateVerifier, s256Challenge } from '../src/protocol/pkce.js';
import { postJson, startStack, type Stack } from './support/stack.js';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

describe('PKCE API against the bundled provider', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  /** Runs challenge → code → login, and returns the code answer plus the challenge. */
  async function signIn(seed: Record<string, unknown> = {}) {
    const challengeResponse = await stack.api('/pkce/challenge');
    assert.equal(challengeResponse.status, 200);
    const challenge = (await json<PKCE>(challengeResponse)).challenge!;
    const codeAnswer = stack.api('/pkce/code', postJson({ state: challenge.state, ...seed }));
    const authorizeUrl = await stack.nextAuthorizeUrl();
    const { callbackResponse, delivered } = await scriptedLogin(authorizeUrl, {
      accept: 'application/json',
    });
    const codeResponse = await codeAnswer;
    return { challenge, authorizeUrl, callbackResponse, delivered, codeResponse };
  }

  it('answers a challenge with the wire shape of ChallengedPKCE', async () => {
    const response = await stack.api('/pkce/challenge');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = await json<PKCE>(response);
    assert.deepEqual(body.schema, { migration: 0, semantic: 'MAJOR_0_MINOR_0_PATCH_1' });
    const c = body.challenge!;
    assert.equal(c.method, 'S256');
    assert.match(c.verifier, /^[A-Za-z0-9\-._~]{43,128}$/);
    assert.equal(c.challenge, s256Challenge(c.verifier));
    assert.equal(Buffer.from(c.state, 'base64url').length, 32);
    assert.equal(Buffer.from(c.nonce, 'base64url').length, 32);
  });

  it('runs the whole flow: form_post callback, result, token, validated ID token, refresh', async () => {
    const { challenge, authorizeUrl, callbackResponse, delivered, codeResponse } = await signIn();

    const q = authorizeUrl.searchParams;
    assert.equal(authorizeUrl.origin, new URL(stack.devProvider.issuer).origin);
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), stack.devProvider.clientId);
    assert.equal(q.get('redirect_uri'), stack.broker.redirectUri);
    assert.equal(q.get('scope'), 'openid profile email offline_access');
    assert.equal(q.get('state'), challenge.state);
    assert.equal(q.get('nonce'), challenge.nonce);
    assert.equal(q.get('code_challenge'), challenge.challenge);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('response_mode'), 'form_post');

    assert.equal(callbackResponse.status, 200);
    assert.equal(delivered.get('state'), challenge.state);
    assert.equal(delivered.get('iss'), stack.devProvider.issuer);
    const callbackBody = await json<PKCE>(callbackResponse);
    assert.equal(callbackBody.result?.state, challenge.state);

    assert.equal(codeResponse.status, 200);
    const codeBody = await json<PKCE>(codeResponse);
    assert.equal(codeBody.result?.state, challenge.state);
    assert.equal(codeBody.result?.code, delivered.get('code'));
    assert.equal(codeBody.seed?.state, challenge.state);
    assert.equal(codeBody.seed?.redirect_uri, stack.broker.redirectUri);

    const tokenResponse = await stack.api(
      '/pkce/token',
      postJson({
        grant_type: 'authorization_code',
        code: codeBody.result!.code,
        client_id: stack.devProvider.clientId,
        redirect_uri: stack.broker.redirectUri,
        code_verifier: challenge.verifier,
      }),
    );
    assert.equal(tokenResponse.status, 200);
    assert.equal(tokenResponse.headers.get('cache-control'), 'no-store');
    const tokenBody = await json<PKCE>(tokenResponse);
    const token = tokenBody.auth0!.oAuth.token!;
    assert.equal(token.token_type, 'Bearer');
    assert.ok(token.expires_in > 0);
    assert.ok(token.access_token.length > 10);
    assert.ok(token.refresh_token);
    const idClaims = decodeJwt(token.id_token!);
    assert.equal(idClaims.sub, stack.devProvider.user.sub);
    assert.equal(idClaims.nonce, challenge.nonce);
    assert.equal(tokenBody.auth0!.user?.user_id, stack.devProvider.user.sub);
    assert.equal(tokenBody.auth0!.user?.email, stack.devProvider.user.email);
    assert.equal(tokenBody.auth0!.client, stack.devProvider.clientId);
    assert.equal(tokenBody.auth0!.domain, new URL(stack.devProvider.issuer).host);
    assert.equal(tokenBody.token?.grant_type, 'authorization_code');
    assert.equal((tokenBody.token as unknown as Record<string, unknown>).code_verifier, undefined);
    assert.equal((tokenBody.token as unknown as Record<string, unknown>).code, undefined);
    assert.ok(!JSON.stringify(tokenBody).includes(challenge.verifier));

    const refreshResponse = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'refresh_token', code: token.refresh_token }),
    );
    assert.equal(refreshResponse.status, 200);
    const refreshed = (await json<PKCE>(refreshResponse)).auth0!.oAuth.token!;
    assert.ok(refreshed.access_token.length > 10);
    assert.notEqual(refreshed.access_token, token.access_token);
    assert.equal(refreshed.token_type, 'Bearer');
  });

  it('refuses a second exchange of the same code without asking the provider', async () => {
    const { challenge, codeResponse } = await signIn();
    const code = (await json<PKCE>(codeResponse)).result!.code;
    const exchange = { grant_type: 'authorization_code', code, code_verifier: challenge.verifier };
    const first = await stack.api('/pkce/token', postJson(exchange));
    assert.equal(first.status, 200);
    const before = stack.upstream.length;
    const second = await stack.api('/pkce/token', postJson(exchange));
    assert.equal(second.status, 400);
    assert.match(second.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = await json(second);
    assert.equal(problem.error, 'invalid_grant');
    assert.equal(problem.status, 400);
    assert.equal(stack.upstream.length, before);
  });

  it('refuses a code the broker never received, without calling the provider', async () => {
    const before = stack.upstream.length;
    const response = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code: 'a-code-from-elsewhere' }),
    );
    assert.equal(response.status, 400);
    assert.equal((await json(response)).error, 'invalid_grant');
    assert.equal(stack.upstream.length, before);
  });

  it('refuses a callback with an unknown state and a replayed callback', async () => {
    const unknown = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code: 'x', state: 'not-a-state-of-ours' }),
    });
    assert.equal(unknown.status, 400);
    assert.match(unknown.headers.get('content-type') ?? '', /^application\/problem\+json/);

    const { delivered, codeResponse } = await signIn();
    assert.equal(codeResponse.status, 200);
    const replay = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: delivered,
    });
    assert.equal(replay.status, 400);
  });

  it('answers a browser at the callback with a page that never shows the code', async () => {
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
    await stack.nextAuthorizeUrl();
    const code = 'a-code-delivered-by-hand';
    const page = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
      },
      body: new URLSearchParams({ code, state: challenge.state, iss: stack.devProvider.issuer }),
    });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const html = await page.text();
    assert.match(html, /signed in/);
    assert.ok(!html.includes(code));
    assert.ok(!html.includes(challenge.state));
    assert.equal((await waiting).status, 200);
  });

  it('answers 403 to the waiting app when the user denies consent', async () => {
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
    const { callbackResponse, delivered } = await scriptedLogin(await stack.nextAuthorizeUrl(), {
      deny: true,
    });
    assert.equal(delivered.get('error'), 'access_denied');
    assert.equal(callbackResponse.status, 403);
    const response = await waiting;
    assert.equal(response.status, 403);
    const problem = await json(response);
    assert.equal(problem.error, 'access_denied');
  });

  it('answers 409 to every waiting app on clear, and forgets the flows', async () => {
    const a = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const b = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const waitA = stack.api('/pkce/code', postJson({ state: a.state }));
    const waitB = stack.api('/pkce/code', postJson({ state: b.state }));
    await stack.nextAuthorizeUrl();
    await stack.nextAuthorizeUrl();
    const cleared = await stack.api('/pkce/clear', { method: 'POST' });
    assert.equal(cleared.status, 204);
    assert.equal((await waitA).status, 409);
    assert.equal((await waitB).status, 409);
    const late = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code: 'late', state: a.state, iss: stack.devProvider.issuer }),
    });
    assert.equal(late.status, 400);
    assert.equal((await stack.api('/pkce/clear', { method: 'POST' })).status, 204);
  });

  it('ends a flow whose callback lacks the iss the provider advertises', async () => {
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
    await stack.nextAuthorizeUrl();
    const callback = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code: 'relayed-by-hand', state: challenge.state }),
    });
    assert.equal(callback.status, 400);
    const response = await waiting;
    assert.equal(response.status, 400);
    assert.match(String((await json(response)).detail), /iss/);
  });

  it('runs a flow the app prepared itself, and requires its verifier', async () => {
    const verifier = generateVerifier();
    const state = `app-state-${Date.now()}`;
    const waiting = stack.api(
      '/pkce/code',
      postJson({
        state,
        nonce: 'app-nonce-123',
        code_challenge: s256Challenge(verifier),
        code_challenge_method: 'S256',
        response_mode: 'query',
      }),
    );
    const authorizeUrl = await stack.nextAuthorizeUrl();
    assert.equal(authorizeUrl.searchParams.get('response_mode'), 'query');
    const { callbackResponse } = await scriptedLogin(authorizeUrl);
    assert.equal(callbackResponse.status, 200);
    const code = (await json<PKCE>(await waiting)).result!.code;

    const before = stack.upstream.length;
    const withoutVerifier = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code }),
    );
    assert.equal(withoutVerifier.status, 400);
    assert.equal((await json(withoutVerifier)).error, 'invalid_grant');
    assert.equal(stack.upstream.length, before);

    // Refused before the code was taken: its owner, with the verifier, still gets the tokens.
    const again = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code, code_verifier: verifier }),
    );
    assert.equal(again.status, 200);
  });

  it("exchanges a prepared flow's code with the matching verifier", async () => {
    const verifier = generateVerifier();
    const waiting = stack.api(
      '/pkce/code',
      postJson({
        state: `prepared-${Date.now()}`,
        nonce: 'n-0123456789',
        code_challenge: s256Challenge(verifier),
      }),
    );
    await scriptedLogin(await stack.nextAuthorizeUrl());
    const code = (await json<PKCE>(await waiting)).result!.code;
    const before = stack.upstream.length;
    const wrong = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code, code_verifier: generateVerifier() }),
    );
    assert.equal(wrong.status, 400);
    assert.equal((await json(wrong)).error, 'invalid_grant');
    assert.equal(stack.upstream.length, before, 'a wrong verifier never reaches the provider');

    // The wrong verifier did not burn the code: the right one, afterwards, exchanges it.
    const ok = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code, code_verifier: verifier }),
    );
    assert.equal(ok.status, 200);
    assert.equal(
      decodeJwt((await json<PKCE>(ok)).auth0!.oAuth.token!.id_token!).nonce,
      'n-0123456789',
    );
  });

  it('starts a whole flow from configuration when the seed is empty', async () => {
    const waiting = stack.api('/pkce/code', { method: 'POST' });
    const authorizeUrl = await stack.nextAuthorizeUrl();
    assert.equal(authorizeUrl.searchParams.get('code_challenge_method'), 'S256');
    await scriptedLogin(authorizeUrl);
    const body = await json<PKCE>(await waiting);
    assert.equal(body.result?.state, authorizeUrl.searchParams.get('state'));
    const token = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code: body.result!.code }),
    );
    assert.equal(token.status, 200);
  });

  it("shows a terminal client the opened URL again, the seed's extra parameters in it", async () => {
    const { challenge } = await json<PKCE>(await stack.api('/pkce/challenge'));
    const waiting = stack.api(
      '/pkce/code',
      postJson({
        state: challenge!.state,
        prompt: 'login',
        screen_hint: 'signup',
        ADDITIONAL_PARAMETERS: { access_type: 'offline', display: 'UNKNOWN' },
      }),
    );
    const opened = await stack.nextAuthorizeUrl();
    assert.equal(opened.searchParams.get('prompt'), 'login');
    assert.equal(opened.searchParams.get('screen_hint'), 'signup');
    assert.equal(opened.searchParams.get('access_type'), 'offline');
    assert.equal(opened.searchParams.has('display'), false);
    // Rebuilt from what the flow keeps (it keeps no URL): the same parameters, so the same URL.
    const stored = await stack.broker.store.get(challenge!.state);
    assert.ok(stored?.request, 'the flow is started');
    assert.equal(JSON.stringify(stored).includes(opened.origin + opened.pathname), false);
    const shown = await stack.api(
      `/pkce/authorize-url?state=${encodeURIComponent(challenge!.state)}`,
    );
    assert.equal((await json(shown)).authorize_url, opened.href);
    await scriptedLogin(opened);
    assert.equal((await waiting).status, 200);
  });

  it('refuses seeds that ask for what the broker does not do', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) }, /S256/],
      [{ response_type: 'token' }, /response_type/],
      [{ redirect_uri: 'http://evil.example/cb' }, /redirect_uri/],
      [{ domain: 'evil.example' }, /domain/],
      [{ client_id: 'someone-else' }, /client_id/],
      [{ response_mode: 'fragment' }, /response_mode/],
      [{ state: 'never-issued-state' }, /state/],
    ];
    for (const [seed, detail] of cases) {
      const response = await stack.api('/pkce/code', postJson(seed));
      assert.equal(response.status, 400, JSON.stringify(seed));
      assert.match(String((await json(response)).detail), detail);
    }
    const ok = stack.api(
      '/pkce/code',
      postJson({ domain: new URL(stack.devProvider.issuer).host }),
    );
    await stack.nextAuthorizeUrl();
    await stack.api('/pkce/clear', { method: 'POST' });
    assert.equal((await ok).status, 409);
  });

  it('forgets a flow when its waiting app disconnects', async () => {
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const controller = new AbortController();
    const waiting = stack.api('/pkce/code', {
      ...postJson({ state: challenge.state }),
      signal: controller.signal,
    });
    await stack.nextAuthorizeUrl();
    assert.ok(await stack.broker.store.get(challenge.state));
    // The store wakes its own waiters with `gone` when the broker forgets the flow.
    const gone = stack.broker.store.waitForOutcome(challenge.state, new AbortController().signal);
    controller.abort();
    await assert.rejects(waiting);
    assert.deepEqual(await gone, { kind: 'gone' });
    assert.equal(await stack.broker.store.get(challenge.state), undefined);
  });
});

describe('wait timeout', () => {
  it('answers 504 when the browser never comes back', async () => {
    const stack = await startStack({ argv: ['--wait-timeout', '1'] });
    try {
      const started = Date.now();
      const response = await stack.api('/pkce/code', { method: 'POST' });
      assert.equal(response.status, 504);
      assert.ok(Date.now() - started >= 900);
      assert.equal(((await response.json()) as { code: string }).code, 'wait_timeout');
    } finally {
      await stack.close();
    }
  });
});

describe('shutdown', () => {
  it('answers waiting apps 503 at once and keeps their flows for a restarted broker', async () => {
    const { MemoryFlowStore } = await import('../src/store/memory.js');
    const store = new MemoryFlowStore({ ttlMs: 60_000, maxFlows: 100 });
    const stack = await startStack({ store });
    try {
      const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
      const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
      await stack.nextAuthorizeUrl();
      const closing = stack.broker.close();
      const response = await waiting;
      await closing;
      assert.equal(response.status, 503);
      assert.equal((await json(response)).code, 'shutting_down');
      const kept = await store.get(challenge.state);
      assert.equal(kept?.state, challenge.state);
      assert.ok(kept?.request, 'the authorize request is kept for the next broker');
    } finally {
      await stack.devProvider.close();
      await store.close();
    }
  });
});
