/**
 * `pkce-broker login` as a child process, against a running broker (the
 * in-process stack) with a scripted browser following the URL the broker
 * opens; with a broker of its own (--issuer); and Ctrl-C mid-wait, after
 * which the broker holds no flow.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signIn } from '../src/cli/sign-in.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startDevProvider } from '../src/devprovider/provider.js';
import type { PKCE } from '../src/protocol/models.js';
import { emptyDir, runCli, startCli } from './support/cli.js';
import { cacheHome } from './support/sessions.js';
import { postJson, startStack, type Stack } from './support/stack.js';
import { startUrlHook } from './support/url-hook.js';
import { withoutPackage } from './support/without-package.js';

/** The paths of the requests a broker logged as completed (its log at debug, one JSON object a line). */
function requestPaths(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      const url = (JSON.parse(line) as { req?: { url?: unknown } }).req?.url;
      return typeof url === 'string' ? [url.split('?')[0]!] : [];
    });
}

const WAITING = 'Waiting for you to finish in the browser… (Ctrl-C to cancel)';

describe('pkce-broker login against a running broker', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
  });

  it('shows the sign-in URL, waits, and prints the token answer with --json', async () => {
    const login = startCli(['login', '--broker', stack.broker.url, '--json']);
    const opened = await stack.nextAuthorizeUrl();
    const { callbackResponse } = await scriptedLogin(opened);
    assert.equal(callbackResponse.status, 200);
    const { code, stdout, stderr } = await login.exited;
    assert.equal(code, 0, stderr);

    // The URL login showed is the one the broker opened (GET /pkce/authorize-url), and the wait was announced.
    assert.ok(stderr.includes(`\n  ${opened.href}\n`), stderr);
    assert.ok(
      stderr.includes(`${WAITING}\n`),
      'stderr is not a TTY: one plain line, no spinner frames',
    );
    assert.equal(stderr.includes('\r'), false);

    const answer = JSON.parse(stdout) as PKCE;
    const token = answer.auth0!.oAuth.token!;
    assert.equal(token.token_type, 'Bearer');
    assert.ok(token.access_token.length > 20);
    assert.ok(token.id_token);
    assert.equal(answer.auth0!.user?.user_id, stack.devProvider.user.sub);
    assert.equal(await stack.broker.store.size(), 0);
  });

  it('prints the summary, tokens shortened, and writes the whole answer to --output with mode 0600', async () => {
    const file = join(emptyDir(), 'tokens.json');
    const login = startCli(['login', '--broker', stack.broker.url, '--output', file]);
    await scriptedLogin(await stack.nextAuthorizeUrl());
    const { code, stdout, stderr } = await login.exited;
    assert.equal(code, 0, stderr);

    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as PKCE;
    const token = saved.auth0!.oAuth.token!;
    assert.match(stdout, /^Signed in as Demo User in \d+\.\d s\.\n/);
    assert.match(
      stdout,
      /\n {2}user {11}sub demo-user · name Demo User · email demo@example.com\n/,
    );
    assert.match(stdout, /\n {2}refresh token {2}yes\n/);
    assert.ok(stdout.includes(`access ${token.access_token.slice(0, 8)}…`));
    assert.ok(stdout.includes(`  saved to       ${file} (mode 0600, tokens in full)\n`));
    for (const secret of [token.access_token, token.id_token!, token.refresh_token!]) {
      assert.equal(stdout.includes(secret), false, 'no token is printed whole');
    }
  });

  it('Ctrl-C mid-wait cancels: exit 130, one line, and the broker forgets the flow', async () => {
    const login = startCli(['login', '--broker', stack.broker.url]);
    const opened = await stack.nextAuthorizeUrl();
    await login.waitFor('stderr', /Waiting for you to finish in the browser/);
    const state = opened.searchParams.get('state')!;
    assert.equal(await stack.broker.store.size(), 1);
    const watch = new AbortController();
    const forgotten = stack.broker.store.waitForOutcome(state, watch.signal);

    login.child.kill('SIGINT');
    const { code, stdout, stderr } = await login.exited;
    assert.equal(code, 130);
    assert.equal(stdout, '');
    assert.ok(
      stderr.endsWith(
        `${WAITING}\npkce-broker login: cancelled; the broker has forgotten this sign-in.\n`,
      ),
      stderr,
    );
    assert.deepEqual(await forgotten, { kind: 'gone' });
    assert.equal(await stack.broker.store.size(), 0);
  });

  it('GET /pkce/authorize-url answers only for a flow waiting for the browser', async () => {
    const unknown = await stack.api('/pkce/authorize-url?state=not-a-pending-flow');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'not_found');
    assert.equal((await stack.api('/pkce/authorize-url')).status, 400);

    // A challenge alone has no sign-in URL yet; POST /pkce/code makes one.
    const challenge = ((await (await stack.api('/pkce/challenge')).json()) as PKCE).challenge!;
    const path = `/pkce/authorize-url?state=${encodeURIComponent(challenge.state)}`;
    assert.equal((await stack.api(path)).status, 404);
    const code = stack.api('/pkce/code', postJson({ state: challenge.state }));
    const opened = await stack.nextAuthorizeUrl();
    const answer = await stack.api(path);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await answer.json(), { authorize_url: opened.href });
    assert.equal((await stack.api('/pkce/clear', { method: 'POST' })).status, 204);
    assert.equal((await code).status, 409);
    const gone = await stack.api(path);
    assert.equal(gone.status, 404);
  });

  it('sends the verifier of its challenge with the code (the flow is its own)', async () => {
    const sent = new Map<string, unknown>();
    let challenged: PKCE['challenge'];
    const watching: typeof fetch = async (input, init) => {
      const path = new URL(String(input)).pathname;
      if (typeof init?.body === 'string') sent.set(path, JSON.parse(init.body));
      const response = await fetch(input, init);
      if (path === '/pkce/challenge')
        challenged = ((await response.clone().json()) as PKCE).challenge;
      return response;
    };
    const answer = await signIn({
      broker: stack.broker.url,
      fetch: watching,
      async onAuthorizeUrl(url, signal) {
        assert.equal(url.href, (await stack.nextAuthorizeUrl()).href);
        await scriptedLogin(url, { signal });
      },
    });
    assert.ok(answer.auth0?.oAuth.token?.access_token);
    assert.ok(challenged?.verifier);
    assert.deepEqual(sent.get('/pkce/token'), {
      grant_type: 'authorization_code',
      code: (sent.get('/pkce/token') as { code: string }).code,
      code_verifier: challenged.verifier,
    });
  });

  it('says in one line when there is no broker to talk to', async () => {
    const closed = await startStack({ logLevel: 'silent' });
    const url = closed.broker.url;
    await closed.close();
    const { code, stderr } = await runCli(['login', '--broker', url]);
    assert.equal(code, 1);
    assert.equal(
      stderr,
      `pkce-broker login: Cannot reach the broker at ${url} (ECONNREFUSED): start one with \`pkce-broker serve\` or \`pkce-broker dev\`, or point --broker at yours.\n`,
    );
  });
});

describe('pkce-broker login against a running broker that pushes (PAR)', () => {
  it('shows a URL built afresh, with a request_uri of its own, and signs in through it', async () => {
    const stack = await startStack({ logLevel: 'warn', argv: ['--par', 'auto'] });
    try {
      const login = startCli(['login', '--broker', stack.broker.url, '--json']);
      const opened = await stack.nextAuthorizeUrl();
      const [, href] = await login.waitFor('stderr', /\n {2}(http\S+)\n/);
      const shown = new URL(href!);
      assert.equal(shown.origin + shown.pathname, opened.origin + opened.pathname);
      assert.match(
        shown.searchParams.get('request_uri') ?? '',
        /^urn:ietf:params:oauth:request_uri:/,
      );
      assert.notEqual(
        shown.searchParams.get('request_uri'),
        opened.searchParams.get('request_uri'),
      );
      const { callbackResponse } = await scriptedLogin(shown);
      assert.equal(callbackResponse.status, 200);
      const { code, stdout, stderr } = await login.exited;
      assert.equal(code, 0, stderr);
      assert.ok((JSON.parse(stdout) as PKCE).auth0?.oAuth.token?.id_token);
    } finally {
      await stack.close();
    }
  });
});

describe('pkce-broker login with a broker of its own', () => {
  it('starts a broker from the serve options, opens the URL with --open, and signs in', async () => {
    const provider = await startDevProvider({});
    const hook = await startUrlHook();
    try {
      // Without oidc-provider (an optional dependency): login and serve never load it.
      const login = startCli(
        [
          'login',
          '--issuer',
          provider.issuer,
          '--client-id',
          provider.clientId,
          '--port',
          '0',
          '--open',
          hook.openCommand,
          '--log-level',
          'debug',
          // The test learns the broker's callback from the URL, which a pushed request (PAR) leaves out.
          '--par',
          'never',
        ],
        { env: withoutPackage('oidc-provider') },
      );
      const opened = await hook.next();
      // The broker's port is chosen at start; the provider learns its callback now.
      provider.setRedirectUris([opened.searchParams.get('redirect_uri')!]);
      const { callbackResponse } = await scriptedLogin(opened);
      assert.equal(callbackResponse.status, 200);
      const { code, stdout, stderr } = await login.exited;
      assert.equal(code, 0, stderr);
      assert.ok(stderr.includes(opened.href));
      // Its own broker hands it the URL in-process (startBroker's openAuthorizeUrl): nothing asks over HTTP.
      const paths = requestPaths(stderr);
      assert.ok(paths.includes('/pkce/token'), stderr);
      assert.equal(paths.includes('/pkce/authorize-url'), false);
      assert.match(stdout, /^Signed in as Demo User in /);
      assert.match(
        stdout,
        new RegExp(
          `\\n {2}provider {7}${provider.issuer.replace(/[.]/g, '\\.')} \\(client ${provider.clientId}\\)\\n`,
        ),
      );
    } finally {
      await hook.close();
      await provider.close();
    }
  });

  it('starts its own broker from a config file\'s "providers" list; --provider picks one and the session is saved under its id', async () => {
    const [first, second] = await Promise.all([
      startDevProvider({ clientId: 'client-first' }),
      startDevProvider({ clientId: 'client-second' }),
    ]);
    const hook = await startUrlHook();
    const dir = emptyDir();
    const home = cacheHome();
    const config = join(dir, 'broker.json');
    await writeFile(
      config,
      JSON.stringify({
        providers: [
          { id: 'first', issuer: first.issuer, clientId: first.clientId },
          { id: 'second', issuer: second.issuer, clientId: second.clientId },
        ],
      }),
    );
    try {
      const login = startCli(
        [
          'login',
          '--config',
          config,
          '--provider',
          'second',
          '--port',
          '0',
          '--open',
          hook.openCommand,
          '--par',
          'never',
          '--credential-store',
          'file',
        ],
        { env: home.env },
      );
      const opened = await hook.next();
      // The seed's domain chose the second provider: its authorize endpoint got the browser.
      assert.equal(opened.origin, new URL(second.issuer).origin);
      second.setRedirectUris([opened.searchParams.get('redirect_uri')!]);
      const { callbackResponse } = await scriptedLogin(opened);
      assert.equal(callbackResponse.status, 200);
      const { code, stdout, stderr } = await login.exited;
      assert.equal(code, 0, stderr);
      assert.match(stdout, new RegExp(`\\(client ${second.clientId}\\)`));
      const saved = JSON.parse(await readFile(home.file, 'utf8')) as unknown;
      assert.match(JSON.stringify(saved), /"providerId":"second"/);

      const unknown = await runCli(['login', '--config', config, '--provider', 'third']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /--provider third: no such provider; configured: first, second/);
    } finally {
      await hook.close();
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('refuses --broker together with --issuer', async () => {
    const { code, stderr } = await runCli([
      'login',
      '--broker',
      'http://127.0.0.1:1000',
      '--issuer',
      'https://login.example.com/',
      '--client-id',
      'x',
    ]);
    assert.equal(code, 2);
    assert.equal(
      stderr,
      'pkce-broker login: Give either --broker (a running broker) or --issuer/--auth0-domain (start one here), not both.\n',
    );
  });
});
