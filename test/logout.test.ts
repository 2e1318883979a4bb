/**
 * `pkce-broker logout` against the bundled provider, the session in the file
 * backend: the refresh token revoked (a refresh with it is invalid_grant at
 * the provider), the session forgotten (status and token say so), the
 * end-session URL printed with the ID token as its hint and accepted by the
 * provider; --all, the choice among several, --browser through the --open
 * command; a revocation refused or a provider not reached (forgotten all the
 * same, exit 1); and, on the cache directly, a provider without revocation
 * and a refresh that rotated the token while logout waited for the lock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CredentialCache } from '../src/credentials/cache.js';
import { CookieJar } from '../src/devprovider/cookie-jar.js';
import { parseForms, textById } from '../src/devprovider/html-form.js';
import { FileBackend } from '../src/credentials/file-backend.js';
import type { StoredSession } from '../src/credentials/session.js';
import { signOut } from '../src/credentials/sign-out.js';
import type { IdentityProvider, TokenTypeHint } from '../src/provider/types.js';
import { emptyDir, runCli } from './support/cli.js';
import {
  cacheHome,
  editSaved,
  loginThrough,
  readSaved,
  type CacheHome,
} from './support/sessions.js';
import { startStack, type Stack } from './support/stack.js';
import { startUrlHook } from './support/url-hook.js';

const FILE = ['--credential-store', 'file'];

/** A refresh_token grant straight at the provider, as a thief holding the token would send it. */
async function refreshAtProvider(stack: Stack, refreshToken: string): Promise<Response> {
  return fetch(`${stack.devProvider.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: stack.devProvider.clientId,
    }),
  });
}

async function endSessionEndpoint(stack: Stack): Promise<string> {
  const discovery = await fetch(`${stack.devProvider.issuer}/.well-known/openid-configuration`);
  return ((await discovery.json()) as { end_session_endpoint: string }).end_session_endpoint;
}

/** Two real sessions of the demo user, told apart by subject: each with a refresh token of its own. */
async function twoSessions(stack: Stack, home: CacheHome): Promise<string[]> {
  const first = await loginThrough(stack, home);
  await editSaved(home, (sessions) => sessions.map((s) => ({ ...s, subject: 'second-user' })));
  const second = await loginThrough(stack, home);
  return [first, second].map((login) => login.answer.auth0!.oAuth.token!.refresh_token!);
}

/**
 * What a browser does with the sign-out URL at the bundled provider: its
 * end-session page, the form on it submitted (cookies kept), and the text of
 * the signed-out page it ends on.
 */
async function followSignOut(url: URL): Promise<string | undefined> {
  const jar = new CookieJar();
  const page = await fetch(url, { redirect: 'manual' });
  assert.equal(page.status, 200);
  jar.store(url, page.headers.getSetCookie());
  const [form] = parseForms(await page.text());
  assert.ok(form, 'the end-session page holds a form');
  const action = new URL(form.attributes.action!, url);
  const cookie = jar.header(action);
  const done = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(cookie !== undefined && { cookie }),
    },
    body: new URLSearchParams(form.fields),
  });
  // Confirmed: on to the signed-out page (there is no post_logout_redirect_uri to return to).
  assert.equal(done.status, 303);
  jar.store(action, done.headers.getSetCookie());
  const success = new URL(done.headers.get('location')!, action);
  const successCookie = jar.header(success);
  const landed = await fetch(success, {
    redirect: 'manual',
    ...(successCookie !== undefined && { headers: { cookie: successCookie } }),
  });
  assert.equal(landed.status, 200);
  return textById(await landed.text(), 'logout-success');
}

describe('pkce-broker logout', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
  });

  it('revokes the refresh token, forgets the session, and prints an end-session URL the provider accepts', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    const token = login.answer.auth0!.oAuth.token!;

    const run = await runCli(['logout', ...FILE], { env: home.env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stderr,
      `Signed out demo-user (Demo User, demo@example.com) at ${stack.devProvider.issuer} [provider default]: refresh token revoked at the provider, session forgotten.
To end the provider's browser session too, open:
`,
    );
    for (const secret of [token.access_token, token.refresh_token!])
      assert.equal(`${run.stdout}${run.stderr}`.includes(secret), false, 'no token is printed');

    // stdout is the sign-out URL alone, the ID token its hint (RP-Initiated Logout 1.0 §2).
    const lines = run.stdout.split('\n');
    assert.equal(lines.length, 2);
    assert.equal(lines[1], '');
    const url = new URL(lines[0]!);
    assert.equal(`${url.origin}${url.pathname}`, await endSessionEndpoint(stack));
    assert.equal(url.searchParams.get('client_id'), stack.devProvider.clientId);
    assert.equal(url.searchParams.get('id_token_hint'), token.id_token);

    // Revoked: the provider refuses the old refresh token.
    const refresh = await refreshAtProvider(stack, token.refresh_token!);
    assert.equal(refresh.status, 400);
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');

    // Forgotten.
    assert.deepEqual((await readSaved(home)).sessions, []);
    const status = await runCli(['status', ...FILE], { env: home.env });
    assert.equal(status.code, 1);
    assert.match(status.stdout, /^Not signed in \(looked in /);
    const after = await runCli(['token', ...FILE], { env: home.env });
    assert.equal(after.code, 1);
    assert.equal(after.stdout, '');
    assert.equal(
      after.stderr,
      'pkce-broker token: not signed in to any provider: run pkce-broker login\n',
    );

    // The provider takes the URL: its end-session page (here with no browser session to end, the
    // form that confirms at once), then its signed-out page, not its error page…
    assert.equal(await followSignOut(url), 'You have signed out.');
    // …and it does check the hint: one it did not issue is an error there.
    const forged = new URL(url);
    forged.searchParams.set('id_token_hint', `${token.id_token!.slice(0, -4)}AAAA`);
    const refused = await fetch(forged);
    assert.equal(refused.status, 400);
  });

  it('several sessions: exit 1 listing them and touching none; --all signs out each', async () => {
    const home = cacheHome();
    const refreshTokens = await twoSessions(stack, home);

    const ambiguous = await runCli(['logout', ...FILE], { env: home.env });
    assert.equal(ambiguous.code, 1);
    assert.equal(ambiguous.stdout, '');
    assert.equal(
      ambiguous.stderr,
      `pkce-broker logout: 2 sessions match; name one with --account SUB (and --provider ID), or sign out all of them with --all:
  second-user (Demo User, demo@example.com) at ${stack.devProvider.issuer} [provider default]
  demo-user (Demo User, demo@example.com) at ${stack.devProvider.issuer} [provider default]
`,
    );
    assert.equal((await readSaved(home)).sessions.length, 2);

    const run = await runCli(['logout', '--all', ...FILE], { env: home.env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim().split('\n').length, 2, 'a sign-out URL for each');
    assert.match(run.stderr, /^Signed out second-user .*session forgotten\.$/m);
    assert.match(run.stderr, /^Signed out demo-user .*session forgotten\.$/m);
    assert.deepEqual((await readSaved(home)).sessions, []);
    for (const refreshToken of refreshTokens) {
      const refresh = await refreshAtProvider(stack, refreshToken);
      assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
    }
  });

  it('--account signs out that one and keeps the other', async () => {
    const home = cacheHome();
    const [second, first] = await twoSessions(stack, home);
    const run = await runCli(['logout', '--account', 'second-user', ...FILE], { env: home.env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      (await readSaved(home)).sessions.map((s) => s.subject),
      ['demo-user'],
    );
    assert.equal((await refreshAtProvider(stack, second!)).status, 400);
    // The other's refresh token still works (and rotates: the one saved is now spent, but it was live).
    assert.equal((await refreshAtProvider(stack, first!)).status, 200);
  });

  it('with no session: exit 1, one line', async () => {
    const home = cacheHome();
    const run = await runCli(['logout', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'pkce-broker logout: not signed in to any provider: run pkce-broker login\n',
    );
    const all = await runCli(['logout', '--all', '--provider', 'work', ...FILE], {
      env: home.env,
    });
    assert.equal(all.code, 1);
    assert.equal(all.stderr, 'pkce-broker logout: not signed in to work: run pkce-broker login\n');
  });

  it('--browser opens the sign-out URL with the --open command and prints nothing on stdout', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    const hook = await startUrlHook();
    try {
      const run = await runCli(['logout', '--browser', '--open', hook.openCommand, ...FILE], {
        env: home.env,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /\nOpening the provider's sign-out page in the browser\.\n$/);
      const opened = await hook.next();
      assert.equal(`${opened.origin}${opened.pathname}`, await endSessionEndpoint(stack));
      assert.equal(
        opened.searchParams.get('id_token_hint'),
        login.answer.auth0!.oAuth.token!.id_token,
      );
    } finally {
      await hook.close();
    }
  });

  it('a revocation the provider refuses: the session is forgotten all the same, exit 1', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    // A client the provider does not know: it refuses the revocation (invalid_client).
    await editSaved(home, (sessions) => sessions.map((s) => ({ ...s, clientId: 'not-a-client' })));
    const run = await runCli(['logout', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    const [line] = run.stderr.split('\n');
    assert.match(
      line!,
      /^demo-user \(Demo User, demo@example.com\) at \S+ \[provider default\]: the provider did not revoke the session's token \(.*invalid_client.*\); the session is forgotten all the same, and the token stays valid at the provider until it expires\.$/,
    );
    assert.deepEqual((await readSaved(home)).sessions, []);
    // Not revoked indeed: the real client's refresh still works.
    const refresh = await refreshAtProvider(stack, login.answer.auth0!.oAuth.token!.refresh_token!);
    assert.equal(refresh.status, 200);
  });

  it('a provider that cannot be reached: forgotten all the same, no URL, exit 1', async () => {
    const home = cacheHome();
    await loginThrough(stack, home);
    // A closed loopback port: discovery is refused at once.
    await editSaved(home, (sessions) =>
      sessions.map((s) => ({ ...s, issuer: 'http://127.0.0.1:9' })),
    );
    const run = await runCli(['logout', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      /^demo-user \(Demo User, demo@example.com\) at http:\/\/127\.0\.0\.1:9 \[provider default\]: the provider did not revoke the session's token \(.+\); the session is forgotten all the same, and the token stays valid at the provider until it expires\.\n$/,
    );
    assert.deepEqual((await readSaved(home)).sessions, []);
  });
});

describe('signOut on the cache', () => {
  const session: StoredSession = {
    providerId: 'default',
    issuer: 'https://id.example.com',
    clientId: 'app',
    subject: 'someone',
    scopes: ['openid', 'offline_access'],
    accessToken: 'access-1',
    accessTokenExpiresAt: Date.now() + 3600_000,
    refreshToken: 'refresh-1',
    idToken: 'id-1',
    savedAt: Date.now(),
  };

  function fileCache(): CredentialCache {
    const directory = emptyDir();
    return new CredentialCache({
      backends: [new FileBackend(directory, 'credentials.json')],
      directory,
      note: () => undefined,
    });
  }

  /** Only what signOut asks of a provider. */
  function provider(
    parts: { hasRevocation: boolean; hasLogout: boolean },
    revoked: Array<[string, TokenTypeHint | undefined]>,
  ): IdentityProvider {
    return {
      ...parts,
      revoke: async (token: string, hint?: TokenTypeHint) => void revoked.push([token, hint]),
      logoutUrl: ({ idTokenHint }: { idTokenHint?: string }) =>
        new URL(`https://id.example.com/logout?id_token_hint=${idTokenHint ?? ''}`),
    } as unknown as IdentityProvider;
  }

  it('a provider without revocation: says so, and the session is forgotten', async () => {
    const cache = fileCache();
    const saved = await cache.save(session);
    const revoked: Array<[string, TokenTypeHint | undefined]> = [];
    const outcome = await signOut(cache, saved, {
      provider: async () => provider({ hasRevocation: false, hasLogout: false }, revoked),
    });
    assert.equal(outcome.kind, 'signed_out');
    assert.deepEqual(outcome.kind === 'signed_out' && outcome.revocation, { kind: 'unsupported' });
    assert.equal(outcome.kind === 'signed_out' && outcome.logoutUrl, undefined);
    assert.deepEqual(revoked, []);
    assert.deepEqual(await cache.list(), []);
  });

  it('revokes the refresh token a refresh saved while it waited, not the one it first read', async () => {
    const cache = fileCache();
    const saved = await cache.save(session);
    const revoked: Array<[string, TokenTypeHint | undefined]> = [];
    const outcome = await signOut(cache, saved, {
      provider: async () => {
        // A `token` run rotates the refresh token before logout takes the lock.
        await cache.save({ ...session, refreshToken: 'refresh-2', idToken: 'id-2' });
        return provider({ hasRevocation: true, hasLogout: true }, revoked);
      },
    });
    assert.deepEqual(revoked, [['refresh-2', 'refresh_token']]);
    assert.equal(
      outcome.kind === 'signed_out' && outcome.logoutUrl?.searchParams.get('id_token_hint'),
      'id-2',
    );
    assert.deepEqual(await cache.list(), []);
  });

  it('without a refresh token, the access token while it may be live; nothing once it expired', async () => {
    const { refreshToken: _r, ...withoutRefresh } = session;
    const cache = fileCache();
    const revoked: Array<[string, TokenTypeHint | undefined]> = [];
    const live = provider({ hasRevocation: true, hasLogout: false }, revoked);
    await signOut(cache, await cache.save(withoutRefresh), { provider: async () => live });
    assert.deepEqual(revoked, [['access-1', 'access_token']]);

    const expired = await cache.save({ ...withoutRefresh, accessTokenExpiresAt: Date.now() - 1 });
    const outcome = await signOut(cache, expired, { provider: async () => live });
    assert.deepEqual(outcome.kind === 'signed_out' && outcome.revocation, { kind: 'nothing' });
    assert.equal(revoked.length, 1);
    assert.deepEqual(await cache.list(), []);
  });

  it('a session another run removed meanwhile is already signed out: nothing revoked', async () => {
    const cache = fileCache();
    const saved = await cache.save(session);
    const revoked: Array<[string, TokenTypeHint | undefined]> = [];
    const outcome = await signOut(cache, saved, {
      provider: async () => {
        await cache.delete(session);
        return provider({ hasRevocation: true, hasLogout: true }, revoked);
      },
    });
    assert.equal(outcome.kind, 'gone');
    assert.deepEqual(revoked, []);
  });
});
