/**
 * Issue 13's "done when", end to end with nothing in process: `pkce-broker
 * dev` running, `pkce-broker login --broker URL` signing in (the scripted
 * browser-less login following the URL login shows), `pkce-broker token`
 * printing an access token the provider's userinfo_endpoint accepts as a
 * Bearer token, then `pkce-broker logout`, after which `token` exits 1 and
 * the provider no longer takes that access token either.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startCli, runCli, type CliProcess } from './support/cli.js';
import { cacheHome, type CacheHome } from './support/sessions.js';

async function userInfo(endpoint: string, accessToken: string): Promise<Response> {
  return fetch(endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
}

describe('sign in, use the token, sign out: the cache end to end against `dev`', () => {
  let dev: CliProcess;
  let brokerUrl: string;
  let issuer: string;
  let home: CacheHome;

  before(async () => {
    home = cacheHome();
    // A free port, and no browser: the sign-in URL is followed by the scripted login.
    dev = startCli(['dev', '--port', '0', '--open', 'never'], {
      env: home.env,
      timeoutMs: 120_000,
    });
    const [, url] = await dev.waitFor('stdout', /broker on (http:\/\/127\.0\.0\.1:\d+),/);
    brokerUrl = url!;
    const [, defaultIssuer] = await dev.waitFor('stdout', /\n {2}auth0 +(http\S+) /);
    issuer = defaultIssuer!;
  });
  after(async () => {
    dev?.child.kill('SIGTERM');
    await dev?.exited;
  });

  it('login, then curl -H "Authorization: Bearer $(pkce-broker token)" at userinfo, then logout', async () => {
    const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
    const { userinfo_endpoint: userinfoEndpoint } = (await discovery.json()) as {
      userinfo_endpoint: string;
    };

    const login = startCli(['login', '--broker', brokerUrl], { env: home.env });
    const [, shown] = await login.waitFor('stderr', /open:\n {2}(http\S+)\n/);
    const { callbackResponse } = await scriptedLogin(new URL(shown!));
    await callbackResponse.body?.cancel();
    const signedIn = await login.exited;
    assert.equal(signedIn.code, 0, signedIn.stderr);
    assert.match(
      signedIn.stderr,
      /Session saved in .*: `pkce-broker token` prints its access token\./,
    );

    const token = await runCli(['token'], { env: home.env });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stderr, '');
    const accessToken = token.stdout.trim();
    assert.equal(token.stdout, `${accessToken}\n`, 'the token alone, for $(…)');

    const info = await userInfo(userinfoEndpoint, accessToken);
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { sub: string }).sub, 'demo-user');

    const logout = await runCli(['logout'], { env: home.env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(
      logout.stderr,
      /^Signed out demo-user .*: refresh token revoked at the provider, session forgotten\.\n/,
    );
    assert.equal(new URL(logout.stdout.trim()).origin, issuer);

    const afterwards = await runCli(['token'], { env: home.env });
    assert.equal(afterwards.code, 1);
    assert.equal(afterwards.stdout, '');
    assert.match(
      afterwards.stderr,
      /^pkce-broker token: not signed in to any provider: run pkce-broker login\n$/,
    );
    // oidc-provider ends the whole grant with its refresh token (RFC 7009 §2.1's SHOULD): the
    // access token a script may still hold is refused as well.
    assert.equal((await userInfo(userinfoEndpoint, accessToken)).status, 401);
  });
});
