/**
 * `pkce-broker demo`, the README's main-job command, run as a person runs it:
 * a child process that must sign in with no human and no display, print the
 * summary and exit 0 — or fail with one line. Plus the summary's formatting.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { summaryLines, shorten } from '../src/cli/summary.js';
import { MODEL_SCHEMA, type PKCE } from '../src/protocol/models.js';
import { runCli } from './support/cli.js';
import { withoutPackage } from './support/without-package.js';

interface LogLine {
  level?: number;
  msg?: string;
  req?: { url?: string };
}

describe('pkce-broker demo', () => {
  it('signs in as the demo user headless and prints the summary', async () => {
    const { code, stdout, stderr } = await runCli(['demo']);
    assert.equal(code, 0, `stderr: ${stderr}`);
    assert.equal(stderr, '');
    const lines = stdout.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      /^pkce-broker demo: provider auth0 http:\/\/127\.0\.0\.1:\d+, broker http:\/\/127\.0\.0\.1:\d+; signing in as demo/,
    );
    assert.match(lines[1]!, /^Signed in as Demo User in \d+\.\d s\.$/);
    const rows = Object.fromEntries(
      lines.slice(2).map((line) => {
        const match = /^ {2}(\S+(?: \S+)?) {2,}(.*)$/.exec(line);
        assert.ok(match, `summary row: ${JSON.stringify(line)}`);
        return [match[1]!, match[2]!];
      }),
    );
    assert.match(rows.provider!, /^http:\/\/127\.0\.0\.1:\d+ \(client pkce-broker-demo\)$/);
    assert.equal(rows.user, 'sub demo-user · name Demo User · email demo@example.com');
    assert.equal(rows.scopes, 'openid profile email offline_access');
    assert.equal(rows['token type'], 'Bearer');
    assert.match(rows.expires!, /^in 1 h \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/);
    assert.equal(rows['refresh token'], 'yes');
    assert.match(rows.tokens!, /^access \S{8}… {2}id eyJ\S{5}… {2}refresh \S{8}…$/);
  });

  it('--provider descope signs in at the Descope-shaped provider and prints the Descope answer', async () => {
    const { code, stdout, stderr } = await runCli(['demo', '--provider', 'descope']);
    assert.equal(code, 0, `stderr: ${stderr}`);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^pkce-broker demo: provider descope http:\/\/127\.0\.0\.1:\d+,/);
    const answer = lines.find((line) => line.startsWith('  answer'));
    assert.ok(answer, stdout);
    const user = JSON.parse(/descope {2}user (\{.*\})$/.exec(answer)![1]!) as Record<
      string,
      unknown
    >;
    assert.equal(user['userId'], 'demo-user');
    assert.equal(user['email'], 'demo@example.com');
    assert.deepEqual(user['loginIds'], ['demo']);
    const refused = await runCli(['demo', '--provider', 'okta']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--provider must be auth0 or descope/);
  });

  it('takes the sign-in URL from its in-process broker, and keeps oidc-provider notices in the log', async () => {
    const { code, stderr } = await runCli(['demo', '--log-level', 'debug']);
    assert.equal(code, 0, stderr);
    const lines = stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as LogLine);
    const paths = lines.flatMap((line) => (line.req?.url ? [line.req.url.split('?')[0]] : []));
    assert.ok(paths.includes('/pkce/challenge') && paths.includes('/pkce/token'), stderr);
    // No GET /pkce/authorize-url: startBroker's openAuthorizeUrl handed the URL over directly.
    assert.equal(paths.includes('/pkce/authorize-url'), false);
    // oidc-provider 9 warns on a runtime older than Node 22 LTS ("Jod"): at debug in the log, not on the terminal.
    const lts = process.release.lts;
    if (lts === undefined || lts < 'Jod') {
      const notice = lines.find((line) => line.msg?.startsWith('oidc-provider WARNING: '));
      assert.match(notice?.msg ?? '', /Unsupported runtime/);
      assert.equal(notice?.level, 20, 'debug');
    }
  });

  it('without oidc-provider (an optional dependency) says so in one line', async () => {
    const { code, stdout, stderr } = await runCli(['demo'], {
      env: withoutPackage('oidc-provider'),
    });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      /^pkce-broker demo: The bundled provider needs the optional dependency oidc-provider, which cannot be loaded: .*\n$/,
    );
    assert.equal(stderr.split('\n').length, 2);
  });

  it('fails with one line and a nonzero exit when a step fails (its port is taken)', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, stdout, stderr } = await runCli(['demo', '--port', String(port)]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.equal(
        stderr,
        `pkce-broker demo: Port ${port} on 127.0.0.1 is already in use; choose another with --port (e.g. --port 3000, or --port 0 for any free port).\n`,
      );
    } finally {
      blocker.close();
    }
  });
});

describe('the sign-in summary', () => {
  const answer = (token: Record<string, unknown>): PKCE => ({
    schema: MODEL_SCHEMA,
    auth0: {
      domain: 'login.example.com',
      client: 'cli',
      audience: '',
      redirects: {},
      oAuth: {
        token: { access_token: 'A'.repeat(40), token_type: 'Bearer', expires_in: 90, ...token },
      },
      user: { user_id: 'auth0|42', name: 'Ada', email: 'ada@example.com' },
    },
  });

  it('shortens tokens so that none is ever printed whole', () => {
    assert.equal(shorten('abcdefghijklmnop'), 'abcdefgh…');
    assert.equal(shorten('short'), '…');
    const text = summaryLines(answer({ refresh_token: 'R'.repeat(30) })).join('\n');
    assert.equal(text.includes('A'.repeat(9)), false);
    assert.equal(text.includes('R'.repeat(9)), false);
    assert.match(text, /access AAAAAAAA… {2}refresh RRRRRRRR…/);
  });

  it('falls back to the answer when there is no ID token, and says when no refresh token came', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const lines = summaryLines(answer({ scope: 'openid read' }), { now });
    assert.equal(lines[0], 'Signed in as Ada.');
    assert.ok(lines.includes('  provider       https://login.example.com/ (client cli)'));
    assert.ok(lines.includes('  user           sub auth0|42 · name Ada · email ada@example.com'));
    assert.ok(lines.includes('  scopes         openid read'));
    assert.ok(lines.includes('  expires        in 90 s (2030-01-01T00:01:30Z)'));
    assert.ok(lines.includes('  refresh token  no'));
  });
});
