/**
 * `pkce-broker token` against the bundled provider, the session in the file
 * backend: the saved access token while it lasts (nothing heavy loaded), a
 * refresh once it has run out (the rotated refresh token saved back), two
 * runs at once spending the rotating refresh token once, a refused refresh,
 * and the choice among several sessions.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { emptyDir, runCli, startCli } from './support/cli.js';
import {
  cacheHome,
  editSaved,
  expireAccessTokens,
  loginThrough,
  readSaved,
  type CacheHome,
} from './support/sessions.js';
import { startStack, type Stack } from './support/stack.js';

const FILE = ['--credential-store', 'file'];

/** Counts the refresh grants the provider receives: POST /token after sign-in is only ever one. */
function countTokenRequests(stack: Stack): { count(): number; stop(): void } {
  const port = Number(new URL(stack.devProvider.issuer).port);
  let count = 0;
  const onRequest = (message: unknown): void => {
    const { request, server } = message as { request: IncomingMessage; server: Server };
    if ((server.address() as AddressInfo | null)?.port !== port) return;
    if (request.method === 'POST' && request.url === '/token') count += 1;
  };
  subscribe('http.server.request.start', onRequest);
  return { count: () => count, stop: () => unsubscribe('http.server.request.start', onRequest) };
}

/**
 * An environment whose child records every bare package it imports, to a
 * file: the fast path of `token` must not pay for the broker's libraries.
 */
function recordingImports(home: CacheHome): { env: Record<string, string>; loaded(): string[] } {
  const dir = emptyDir();
  const log = join(dir, 'imports.log');
  writeFileSync(log, '');
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (!/^(node:|\\.|\\/|file:)/.test(specifier)) appendFileSync(${JSON.stringify(log)}, specifier + '\\n');
  return next(specifier, context);
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  return {
    env: { ...home.env, NODE_OPTIONS: `--import=${pathToFileURL(register).href}` },
    loaded: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
  };
}

describe('pkce-broker token', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
  });

  it('prints the saved access token and nothing else, loading none of the broker', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    const refreshes = countTokenRequests(stack);
    const imports = recordingImports(home);
    try {
      const run = await runCli(['token', ...FILE], { env: imports.env });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${login.answer.auth0!.oAuth.token!.access_token}\n`);
      assert.equal(run.stderr, '');
      assert.equal(refreshes.count(), 0);
    } finally {
      refreshes.stop();
    }
    const loaded = imports.loaded();
    for (const heavy of [
      'fastify',
      'pino',
      'oidc-provider',
      'oauth4webapi',
      'jose',
      'proper-lockfile',
      'redis',
    ])
      assert.equal(
        loaded.some((p) => p === heavy || p.startsWith(`${heavy}/`)),
        false,
        `${heavy} loaded on the cached path: ${loaded.join(', ')}`,
      );
  });

  it('--json prints the token answer, without the refresh token', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    const token = login.answer.auth0!.oAuth.token!;
    const run = await runCli(['token', '--json', ...FILE], { env: home.env });
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(answer.access_token, token.access_token);
    assert.equal(answer.id_token, token.id_token);
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.sub, stack.devProvider.user.sub);
    assert.ok(typeof answer.expires_in === 'number' && answer.expires_in > 3000);
    assert.equal(run.stdout.includes(token.refresh_token!), false);
  });

  it('refreshes an access token that has run out, once, and saves the rotated refresh token', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    const first = login.answer.auth0!.oAuth.token!;
    await expireAccessTokens(home);

    const refreshes = countTokenRequests(stack);
    let refreshed: string;
    try {
      const run = await runCli(['token', ...FILE], { env: home.env });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      refreshed = run.stdout.trim();
      assert.notEqual(refreshed, first.access_token);
      assert.equal(refreshes.count(), 1);
      const [saved] = (await readSaved(home)).sessions;
      assert.equal(saved!.accessToken, refreshed);
      assert.notEqual(saved!.refreshToken, first.refresh_token, 'oidc-provider rotated it');
      assert.ok((saved!.accessTokenExpiresAt as number) > Date.now() + 3000_000);

      // The next run takes the saved one; the one after expiry spends the rotated refresh token.
      const again = await runCli(['token', ...FILE], { env: home.env });
      assert.equal(again.stdout.trim(), refreshed);
      assert.equal(refreshes.count(), 1);
      await expireAccessTokens(home);
      const third = await runCli(['token', ...FILE], { env: home.env });
      assert.equal(third.code, 0, third.stderr);
      assert.notEqual(third.stdout.trim(), refreshed);
      assert.equal(refreshes.count(), 2);
    } finally {
      refreshes.stop();
    }
  });

  it('two runs at once spend a rotating refresh token once, and both print the token', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    await expireAccessTokens(home);
    const refreshes = countTokenRequests(stack);
    try {
      const runs = await Promise.all([
        startCli(['token', ...FILE], { env: home.env }).exited,
        startCli(['token', ...FILE], { env: home.env }).exited,
      ]);
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      // Without the lock, the second spends the rotated-away token: oidc-provider refuses it.
      assert.equal(refreshes.count(), 1);
      assert.equal(runs[0]!.stdout, runs[1]!.stdout);
      assert.notEqual(runs[0]!.stdout.trim(), login.answer.auth0!.oAuth.token!.access_token);
      assert.equal((await readSaved(home)).sessions[0]!.accessToken, runs[0]!.stdout.trim());
    } finally {
      refreshes.stop();
    }
  });

  it('a refused refresh (revoked at the provider) exits 1 with one line and forgets the session', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    const revoked = await fetch(`${stack.devProvider.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: login.answer.auth0!.oAuth.token!.refresh_token!,
        client_id: stack.devProvider.clientId,
      }),
    });
    assert.equal(revoked.status, 200);
    await expireAccessTokens(home);

    const run = await runCli(['token', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'pkce-broker token: not signed in to default as demo-user (the provider refused the saved refresh token; session removed): run pkce-broker login\n',
    );
    assert.deepEqual((await readSaved(home)).sessions, []);
    const status = await runCli(['status', ...FILE], { env: home.env });
    assert.equal(status.code, 1);
  });

  it('refuses a refreshed ID token that names another subject, and saves nothing of it', async () => {
    const home = cacheHome();
    await loginThrough(stack, home);
    // The saved account is not the one the provider's refresh answer names.
    await editSaved(home, (sessions) => sessions.map((s) => ({ ...s, subject: 'impostor' })));
    await expireAccessTokens(home);
    const run = await runCli(['token', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'pkce-broker token: not signed in to default as impostor (the refreshed ID token names another subject; session removed): run pkce-broker login\n',
    );
    assert.deepEqual((await readSaved(home)).sessions, []);
  });

  it('with no session: exit 1, one line', async () => {
    const home = cacheHome();
    const run = await runCli(['token', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'pkce-broker token: not signed in to any provider: run pkce-broker login\n',
    );
    const other = await runCli(['token', '--provider', 'work', ...FILE], { env: home.env });
    assert.equal(other.stderr, 'pkce-broker token: not signed in to work: run pkce-broker login\n');
  });

  it('several sessions and no --account: exit 1 listing them; --account picks one', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home);
    await editSaved(home, (sessions) => [
      ...sessions,
      { ...sessions[0]!, subject: 'second-user', name: 'Second', accessToken: 'second-token' },
    ]);
    const run = await runCli(['token', ...FILE], { env: home.env });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      `pkce-broker token: 2 sessions match; name one with --account SUB (and --provider ID):
  demo-user (Demo User, demo@example.com) at ${stack.devProvider.issuer} [provider default]
  second-user (Second, demo@example.com) at ${stack.devProvider.issuer} [provider default]
`,
    );
    const picked = await runCli(['token', '--account', 'demo-user', ...FILE], { env: home.env });
    assert.equal(picked.stdout, `${login.answer.auth0!.oAuth.token!.access_token}\n`);
    const status = await runCli(['status', ...FILE], { env: home.env });
    assert.match(status.stdout, /^2 sessions saved:\n/);
    assert.equal(status.stdout.includes('second-token'), false);
  });
});
