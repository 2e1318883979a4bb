/**
 * `pkce-broker doctor`: the pure judgements (a discovery document, the
 * authorize endpoint's answer, the token endpoint's, the signing keys), then
 * the command as a person runs it, against the bundled provider (every check
 * passes) and against a provider of the tests' own with faults to name.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type * as oauth from 'oauth4webapi';
import { judgeAuthorizeAnswer } from '../src/doctor/authorize.js';
import { judgeClientAuth } from '../src/doctor/client-auth.js';
import { usableSigningKeys } from '../src/doctor/jwks.js';
import { evaluateDiscovery } from '../src/doctor/metadata.js';
import type { CheckResult } from '../src/doctor/types.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { metadataProblems } from '../src/provider/discovery.js';
import { runCli, type CliResult } from './support/cli.js';
import { startStack } from './support/stack.js';

const ISSUER = 'https://idp.example.com/';

function metadata(overrides: Record<string, unknown> = {}): oauth.AuthorizationServer {
  return {
    issuer: ISSUER,
    authorization_endpoint: 'https://idp.example.com/authorize',
    token_endpoint: 'https://idp.example.com/oauth/token',
    jwks_uri: 'https://idp.example.com/.well-known/jwks.json',
    code_challenge_methods_supported: ['S256'],
    response_modes_supported: ['query', 'form_post'],
    authorization_response_iss_parameter_supported: true,
    pushed_authorization_request_endpoint: 'https://idp.example.com/par',
    device_authorization_endpoint: 'https://idp.example.com/device',
    revocation_endpoint: 'https://idp.example.com/revoke',
    end_session_endpoint: 'https://idp.example.com/logout',
    ...overrides,
  } as oauth.AuthorizationServer;
}

function evaluate(
  as: oauth.AuthorizationServer,
  settings: {
    issuer?: string;
    par?: 'auto' | 'always' | 'never';
    responseMode?: 'auto' | 'query';
  } = {},
): Map<string, CheckResult> {
  const issuer = settings.issuer ?? ISSUER;
  const checks = evaluateDiscovery(
    as,
    { issuer, par: settings.par ?? 'auto', responseMode: settings.responseMode ?? 'auto' },
    metadataProblems(as, issuer, new URL(issuer)),
  );
  return new Map(checks.map((check) => [check.id, check]));
}

describe('doctor: a discovery document judged (pure)', () => {
  it('a provider offering everything passes every check', () => {
    const checks = evaluate(metadata());
    assert.deepEqual(
      [...checks.values()].filter((check) => check.status !== 'ok'),
      [],
    );
    assert.deepEqual(
      [...checks.keys()],
      [
        'endpoints',
        's256',
        'response_mode',
        'iss_parameter',
        'par',
        'device_flow',
        'revocation',
        'end_session',
      ],
    );
  });

  it('names every plain-http endpoint and the missing S256, as the broker would refuse them', () => {
    const checks = evaluate(
      metadata({
        token_endpoint: 'http://idp.example.com/oauth/token',
        revocation_endpoint: 'http://idp.example.com/revoke',
        code_challenge_methods_supported: ['plain'],
      }),
    );
    const endpoints = checks.get('endpoints')!;
    assert.equal(endpoints.status, 'fail');
    assert.match(
      endpoints.detail,
      /token_endpoint http:\/\/idp\.example\.com\/oauth\/token, which is not https/,
    );
    assert.match(endpoints.detail, /revocation_endpoint http:\/\/idp\.example\.com\/revoke/);
    assert.ok(endpoints.fix);
    assert.equal(checks.get('s256')!.status, 'fail');
    assert.match(checks.get('s256')!.detail, /\["plain"\]/);
  });

  it('a missing required endpoint fails, a missing optional one warns with what it means', () => {
    const as = metadata();
    delete (as as Record<string, unknown>).jwks_uri;
    delete (as as Record<string, unknown>).revocation_endpoint;
    delete (as as Record<string, unknown>).device_authorization_endpoint;
    delete (as as Record<string, unknown>).end_session_endpoint;
    const checks = evaluate(as);
    assert.equal(checks.get('endpoints')!.status, 'fail');
    assert.match(checks.get('endpoints')!.detail, /has no jwks_uri/);
    for (const id of ['revocation', 'device_flow', 'end_session']) {
      assert.equal(checks.get(id)!.status, 'warn', id);
    }
    assert.match(checks.get('revocation')!.detail, /POST \/pkce\/revoke answers 400/);
  });

  it('a loopback http provider passes with a warning; S256 unlisted warns', () => {
    const issuer = 'http://127.0.0.1:4000';
    const as = metadata({
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      pushed_authorization_request_endpoint: `${issuer}/par`,
      device_authorization_endpoint: `${issuer}/device`,
      revocation_endpoint: `${issuer}/revoke`,
      end_session_endpoint: `${issuer}/logout`,
      code_challenge_methods_supported: undefined,
    });
    const checks = evaluate(as, { issuer });
    assert.equal(checks.get('endpoints')!.status, 'warn');
    assert.match(checks.get('endpoints')!.detail, /loopback/);
    assert.equal(checks.get('s256')!.status, 'warn');
  });

  it('response mode, iss parameter and PAR: warns where the provider offers less, fails --par always without PAR', () => {
    const checks = evaluate(
      metadata({
        response_modes_supported: ['query'],
        authorization_response_iss_parameter_supported: undefined,
        pushed_authorization_request_endpoint: undefined,
      }),
      { par: 'always' },
    );
    assert.equal(checks.get('response_mode')!.status, 'warn');
    assert.match(checks.get('response_mode')!.detail, /query/);
    assert.equal(checks.get('iss_parameter')!.status, 'warn');
    assert.equal(checks.get('par')!.status, 'fail');
    assert.match(checks.get('par')!.detail, /--par always/);
    assert.equal(
      evaluate(metadata({ pushed_authorization_request_endpoint: undefined })).get('par')!.status,
      'warn',
    );
    assert.match(evaluate(metadata(), { par: 'never' }).get('par')!.detail, /not used/);
  });
});

describe('doctor: the authorize endpoint’s answer judged (pure)', () => {
  const redirect = 'http://127.0.0.1:1000/pkce/response/code';
  const judge = (status: number, location?: string, body = ''): CheckResult =>
    judgeAuthorizeAnswer(
      {
        status,
        ...(location !== undefined && {
          location: new URL(location, 'https://idp.example.com/authorize'),
        }),
        body,
      },
      redirect,
    );

  it('a redirect to the provider’s login or interaction page: accepted', () => {
    const check = judge(303, '/interaction/abc');
    assert.equal(check.status, 'ok');
    assert.match(check.detail, /accepted/);
  });

  it('a redirect back to the redirect URI with error: the URI accepted, the request refused', () => {
    const check = judge(
      302,
      `${redirect}?error=invalid_scope&error_description=no+such+scope&state=x`,
    );
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /accepted, but .*invalid_scope \(no such scope\)/);
  });

  it('a redirect to the provider’s own error page: refused', () => {
    const check = judge(302, '/error?error=invalid_request&error_description=bad+redirect_uri');
    assert.equal(check.status, 'fail');
    assert.match(check.fix!, /Register http:\/\/127\.0\.0\.1:1000\/pkce\/response\/code/);
  });

  it('a 4xx error page: refused, naming the OAuth error it shows', () => {
    const check = judge(400, undefined, '<p class="error">redirect_uri_mismatch</p>');
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /HTTP 400, a page naming redirect_uri_mismatch/);
    assert.match(judge(400, undefined, 'invalid_client').fix!, /--client-id/);
  });

  it('a form_post page posting an error to the redirect URI: the request refused', () => {
    const body = `<form method="post" action="${redirect}"><input type="hidden" name="error" value="unauthorized_client"/></form>`;
    const check = judge(200, undefined, body);
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /unauthorized_client/);
  });

  it('a 200 page: cannot tell (warn), a 5xx: fail', () => {
    assert.equal(judge(200, undefined, '<form action="/login">').status, 'warn');
    assert.equal(judge(503).status, 'fail');
  });
});

describe('doctor: the client at the token endpoint and the signing keys (pure)', () => {
  it('invalid_grant to a made-up refresh token means the client authenticated; invalid_client names the secret', () => {
    assert.equal(judgeClientAuth('invalid_grant', '', false, 'none').status, 'ok');
    const noSecret = judgeClientAuth('invalid_client', '', false, 'none');
    assert.equal(noSecret.status, 'fail');
    assert.match(noSecret.fix!, /PKCE_BROKER_CLIENT_SECRET/);
    assert.equal(judgeClientAuth('invalid_client', '', true, 'post').status, 'fail');
    assert.equal(judgeClientAuth('unauthorized_client', '', false, 'none').status, 'warn');
    assert.equal(judgeClientAuth(undefined, 'timeout', false, 'none').status, 'warn');
  });

  it('counts public signing keys only: not symmetric, not for encryption, of an algorithm of their type', async () => {
    const rsa = await exportJWK((await generateKeyPair('RS256')).publicKey);
    const ec = await exportJWK((await generateKeyPair('ES256')).publicKey);
    const keys: JWK[] = [
      { ...rsa, kid: 'a' },
      { ...ec, kid: 'b', alg: 'ES256' },
      { ...rsa, kid: 'c', use: 'enc' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'd' },
      { ...ec, kid: 'e', alg: 'RS256' },
    ];
    assert.deepEqual(await usableSigningKeys(keys, ['RS256', 'ES256']), ['RS256', 'ES256']);
    assert.deepEqual(await usableSigningKeys(keys.slice(2), ['RS256']), []);
  });
});

// ---------------------------------------------------------------- the command

async function listen(server: Server | ReturnType<typeof createServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: bound once, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function doctor(args: string[]): Promise<CliResult> {
  return runCli(['doctor', ...args], { timeoutMs: 30_000 });
}

/** The line of a check (`✔ Title: …`) without its title, and the fix under it, if any. */
function line(output: string, title: string): string {
  const lines = output.split('\n');
  const at = lines.findIndex((text) => text.slice(2).startsWith(`${title}:`));
  assert.notEqual(at, -1, `no line for ${title} in:\n${output}`);
  const fix = lines[at + 1]?.startsWith('    → ') ? `\n${lines[at + 1]}` : '';
  // The mark, then what follows the title: `✔ 1 usable signing key…`.
  return `${lines[at]!.slice(0, 2)}${lines[at]!.slice(2 + title.length + 2)}${fix}`;
}

describe('pkce-broker doctor against the bundled provider', () => {
  let provider: DevProvider;
  let port: number;
  before(async () => {
    provider = await startDevProvider();
    port = await freePort();
    provider.setRedirectUris([`http://127.0.0.1:${port}/pkce/response/code`]);
  });
  after(() => provider.close());

  for (const par of ['auto', 'never']) {
    it(`passes every check and exits 0 (--par ${par}: ${par === 'auto' ? 'a push' : 'a GET of the authorize URL'})`, async () => {
      const result = await doctor([
        '--issuer',
        provider.issuer,
        '--client-id',
        provider.clientId,
        '--port',
        String(port),
        '--par',
        par,
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.doesNotMatch(result.stdout, /^✖/m);
      for (const title of [
        'Discovery document',
        'Issuer',
        'PKCE with S256',
        'Signing keys (JWKS)',
        'Redirect URI',
        'Client at the token endpoint',
        'Port',
      ])
        assert.match(line(result.stdout, title), /^✔ /, title);
      assert.match(
        line(result.stdout, 'Redirect URI'),
        par === 'auto' ? /request_uri/ : /sign-in page \(HTTP 303\)/,
      );
      assert.match(result.stdout, /A sign-in can work/);
    });
  }

  it("checks every provider of a config file's list and the port once; --provider picks one", async () => {
    const second = await startDevProvider({ clientId: 'client-second' });
    second.setRedirectUris([`http://127.0.0.1:${port}/pkce/response/code`]);
    const dir = mkdtempSync(join(tmpdir(), 'pkce-broker-doctor-'));
    const config = join(dir, 'broker.json');
    writeFileSync(
      config,
      JSON.stringify({
        port,
        par: 'never',
        providers: [
          { id: 'first', issuer: provider.issuer, clientId: provider.clientId },
          // A client the provider does not know: this provider's checks fail, the first's pass.
          { id: 'second', issuer: second.issuer, clientId: 'no-such-client' },
        ],
      }),
    );
    try {
      const all = await doctor(['--config', config, '--json']);
      assert.equal(all.code, 1, all.stdout + all.stderr);
      const { checks } = JSON.parse(all.stdout) as {
        checks: Array<CheckResult & { provider?: string }>;
      };
      const of = (id: string) => checks.filter((check) => check.provider === id);
      assert.ok(of('first').length > 3);
      assert.ok(
        of('first').every((check) => check.status !== 'fail'),
        JSON.stringify(of('first')),
      );
      assert.ok(of('second').some((check) => check.status === 'fail'));
      assert.equal(checks.filter((check) => check.id === 'port').length, 1);

      const one = await doctor(['--config', config, '--provider', 'first']);
      assert.equal(one.code, 0, one.stdout + one.stderr);
      assert.match(one.stdout, /Checking "first": /);
      assert.doesNotMatch(one.stdout, /second/);

      const unknown = await doctor(['--config', config, '--provider', 'third']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /--provider third: no such provider; configured: first, second/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await second.close();
    }
  });

  it('names a redirect URI the provider refuses, both ways, and exits 1', async () => {
    const other = await freePort();
    for (const par of ['auto', 'never']) {
      const result = await doctor([
        '--issuer',
        provider.issuer,
        '--client-id',
        provider.clientId,
        '--port',
        String(other),
        '--par',
        par,
      ]);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      const redirect = line(result.stdout, 'Redirect URI');
      assert.match(redirect, /^✖ /);
      // The GET's error page names its code; the push's JSON error (invalid_request) says redirect_uri.
      assert.match(
        redirect,
        par === 'auto' ? /invalid_request: redirect_uri did not match/ : /invalid_redirect_uri/,
      );
      assert.match(
        redirect,
        new RegExp(`→ Register http://127\\.0\\.0\\.1:${other}/pkce/response/code`),
      );
    }
  });

  it('a client secret the public client does not take is named at the token endpoint', async () => {
    const result = await doctor([
      '--issuer',
      provider.issuer,
      '--client-id',
      provider.clientId,
      '--port',
      String(port),
      '--client-secret',
      'not-this-clients',
    ]);
    assert.equal(result.code, 1);
    assert.match(line(result.stdout, 'Client at the token endpoint'), /^✖ .*invalid_client/);
    assert.doesNotMatch(result.stdout + result.stderr, /not-this-clients/);
  });

  it('--json prints { ok, checks } and nothing else', async () => {
    const result = await doctor([
      '--issuer',
      provider.issuer,
      '--client-id',
      provider.clientId,
      '--port',
      String(port),
      '--json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: CheckResult[] };
    assert.equal(report.ok, true);
    const ids = report.checks.map((check) => check.id);
    assert.deepEqual(ids, [
      'discovery',
      'issuer',
      'endpoints',
      's256',
      'response_mode',
      'iss_parameter',
      'par',
      'device_flow',
      'revocation',
      'end_session',
      'jwks',
      'redirect_uri',
      'client_auth',
      'port',
    ]);
    for (const check of report.checks) {
      assert.ok(['ok', 'warn', 'fail'].includes(check.status));
      assert.equal(typeof check.title, 'string');
      assert.equal(typeof check.detail, 'string');
      assert.equal(check.provider, check.id === 'port' ? undefined : 'default');
    }
  });
});

describe('pkce-broker doctor against a provider of the tests’ own', () => {
  let server: Server;
  let issuer: string;
  const seen: URL[] = [];
  before(async () => {
    const jwk = await exportJWK((await generateKeyPair('RS256')).publicKey);
    server = createHttpServer((request, response) => {
      const url = new URL(request.url ?? '/', issuer);
      seen.push(url);
      if (url.pathname === '/.well-known/openid-configuration') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            // Plain http away from loopback: the broker refuses it, and nothing is sent there.
            token_endpoint: 'http://idp.example.test/token',
            jwks_uri: `${issuer}/jwks`,
            code_challenge_methods_supported: ['plain'],
            response_types_supported: ['code'],
          }),
        );
      } else if (url.pathname === '/jwks') {
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ keys: [{ ...jwk, kid: 'k1', alg: 'RS256', use: 'sig' }] }));
      } else if (url.pathname === '/authorize') {
        // Registered: only https://app.example.com/callback.
        response
          .writeHead(400, { 'content-type': 'text/html' })
          .end('<h1>Error</h1><p>redirect_uri_mismatch</p>');
      } else response.writeHead(404).end();
    });
    issuer = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  it('names the plain-http endpoint, the missing S256 and the refused redirect URI, and exits 1', async () => {
    const port = await freePort();
    const result = await doctor(['--issuer', issuer, '--client-id', 'app', '--port', String(port)]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      line(result.stdout, 'Endpoints'),
      /^✖ .*token_endpoint http:\/\/idp\.example\.test\/token, which is not on loopback/,
    );
    assert.match(line(result.stdout, 'PKCE with S256'), /^✖ .*\["plain"\]/);
    assert.match(
      line(result.stdout, 'Redirect URI'),
      /^✖ .*HTTP 400, a page naming redirect_uri_mismatch/,
    );
    assert.match(line(result.stdout, 'Signing keys (JWKS)'), /^✔ 1 usable signing key/);
    assert.match(
      line(result.stdout, 'Client at the token endpoint'),
      /^! not tried: its token_endpoint is refused above/,
    );
    assert.match(result.stdout, /A sign-in cannot work: 3 checks failed/);
    const authorize = seen.find((url) => url.pathname === '/authorize');
    assert.equal(
      authorize?.searchParams.get('redirect_uri'),
      `http://127.0.0.1:${port}/pkce/response/code`,
    );
    assert.equal(authorize?.searchParams.get('code_challenge_method'), 'S256');
  });

  it('an issuer that does not match its document is named, and nothing else is tried', async () => {
    const result = await doctor(['--issuer', `${issuer}/`, '--client-id', 'app', '--json']);
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: CheckResult[] };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.checks.map((check) => [check.id, check.status]),
      [
        ['discovery', 'fail'],
        ['port', report.checks[1]!.status],
      ],
    );
    assert.match(report.checks[0]!.detail, /must match exactly/);
  });
});

describe('pkce-broker doctor: the port', () => {
  it('a port another program holds fails; one a broker holds says so', async () => {
    const stack = await startStack();
    const squatter = createServer();
    const busy = await listen(squatter);
    try {
      const taken = await doctor([
        '--issuer',
        stack.devProvider.issuer,
        '--client-id',
        stack.devProvider.clientId,
        '--port',
        String(busy),
        '--redirect-uri',
        stack.broker.redirectUri,
      ]);
      assert.equal(taken.code, 1);
      assert.match(
        line(taken.stdout, 'Port'),
        new RegExp(`^✖ 127\\.0\\.0\\.1:${busy} is in use by another program\\n    → `),
      );

      const broker = await doctor([
        '--issuer',
        stack.devProvider.issuer,
        '--client-id',
        stack.devProvider.clientId,
        '--port',
        String(stack.broker.port),
      ]);
      assert.equal(broker.code, 0, broker.stdout);
      assert.match(
        line(broker.stdout, 'Port'),
        new RegExp(
          `^! a pkce-broker already listens on 127\\.0\\.0\\.1:${stack.broker.port} \\(provider ${stack.devProvider.issuer}\\)`,
        ),
      );
    } finally {
      squatter.close();
      await stack.close();
    }
  });
});
