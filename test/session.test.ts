/**
 * POST /pkce/revoke and POST /pkce/logout against the bundled provider
 * (revocation, user info and RP-initiated logout on): what is revoked stays
 * revoked at the provider, and the logout URL is the provider's end-session
 * endpoint with only redirects the configuration allows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, signIn, startStack, type Stack } from './support/stack.js';

const SIGNED_OUT = 'http://127.0.0.1:9/signed-out';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

describe('revoke and logout against the bundled provider', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ argv: ['--allow-redirect-uri', SIGNED_OUT] });
  });
  after(() => stack.close());

  const refresh = (refreshToken: string) =>
    stack.api('/pkce/token', postJson({ grant_type: 'refresh_token', code: refreshToken }));

  it('POST /pkce/revoke answers 204, and the revoked refresh token then gets invalid_grant', async () => {
    const { refresh_token } = await signIn(stack);
    assert.ok(refresh_token);
    const revoked = await stack.api(
      '/pkce/revoke',
      postJson({ client_id: stack.devProvider.clientId, token: refresh_token }),
    );
    assert.equal(revoked.status, 204);
    assert.ok(stack.upstream.includes('/token/revocation'));
    const after = await refresh(refresh_token);
    assert.equal(after.status, 400);
    assert.equal((await json(after)).error, 'invalid_grant');
  });

  it('POST /pkce/logout revokes the refresh token and answers the end-session URL', async () => {
    const tokens = await signIn(stack);
    const response = await stack.api(
      '/pkce/logout',
      postJson({
        refresh_token: tokens.refresh_token,
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: SIGNED_OUT,
      }),
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = await json<{ schema: unknown; logout_url: string }>(response);
    assert.ok(body.schema);
    const url = new URL(body.logout_url);
    assert.equal(url.origin, stack.devProvider.issuer);
    assert.equal(url.pathname, '/session/end');
    assert.equal(url.searchParams.get('client_id'), stack.devProvider.clientId);
    assert.equal(url.searchParams.get('id_token_hint'), tokens.id_token);
    assert.equal(url.searchParams.get('post_logout_redirect_uri'), SIGNED_OUT);
    assert.equal((await json(await refresh(tokens.refresh_token!))).error, 'invalid_grant');
  });

  it('refuses a post_logout_redirect_uri the configuration does not allow, and revokes nothing', async () => {
    const tokens = await signIn(stack);
    for (const uri of ['https://evil.example/', `${SIGNED_OUT}/more`, 'javascript:alert(1)']) {
      const response = await stack.api(
        '/pkce/logout',
        postJson({ refresh_token: tokens.refresh_token, post_logout_redirect_uri: uri }),
      );
      assert.equal(response.status, 400, uri);
      const problem = await json(response);
      assert.equal(problem.error, 'invalid_request');
      assert.match(String(problem.detail), /post_logout_redirect_uri/);
    }
    assert.equal((await refresh(tokens.refresh_token!)).status, 200, 'the token still works');
  });

  it("accepts the broker's own callback as post_logout_redirect_uri", async () => {
    const response = await stack.api(
      '/pkce/logout',
      postJson({ post_logout_redirect_uri: stack.broker.redirectUri }),
    );
    assert.equal(response.status, 200);
  });

  it('refuses a client_id that is not the configured client', async () => {
    for (const [path, body] of [
      ['/pkce/revoke', { client_id: 'another-app', token: 'x' }],
      ['/pkce/logout', { client_id: 'another-app' }],
    ] as const) {
      const response = await stack.api(path, postJson(body));
      assert.equal(response.status, 400, path);
      assert.equal((await json(response)).error, 'invalid_request');
    }
  });

  it('refuses a RevokedPKCE without its required keys or with unknown ones', async () => {
    for (const body of [{ client_id: 'x' }, { token: 'x' }, { client_id: 'x', token: 'x', y: 1 }]) {
      const response = await stack.api('/pkce/revoke', postJson(body));
      assert.equal(response.status, 400, JSON.stringify(body));
    }
    const empty = await stack.api('/pkce/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(empty.status, 400);
  });

  it('sits behind the same gates: a cross-site request is refused', async () => {
    const response = await stack.api(
      '/pkce/logout',
      postJson({ open: true }, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }),
    );
    assert.equal(response.status, 403);
  });

  it('with "open": true hands the URL to the opener, and logs no ID token', async () => {
    const tokens = await signIn(stack);
    const response = await stack.api(
      '/pkce/logout',
      postJson({ id_token_hint: tokens.id_token, open: true }),
    );
    assert.equal(response.status, 200);
    const { logout_url } = await json<{ logout_url: string }>(response);
    // startStack's opener takes every URL the broker opens.
    const opened = await stack.nextAuthorizeUrl();
    assert.equal(opened.href, logout_url);
    for (const line of stack.logs) assert.ok(!line.includes(tokens.id_token!), line);
  });
});
