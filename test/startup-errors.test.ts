/**
 * Start-up faults a person meets, each provoked for real and run as a person
 * runs it (`node bin/pkce-broker.js serve …`): one line on stderr naming the
 * problem and what to do, a nonzero exit, no stack trace.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { BrokerError, ERROR_STATUS, STARTUP_EXIT_CODE } from '../src/errors.js';
import { toProblem } from '../src/http/problem.js';
import { emptyDir, runCli, type CliOptions, type CliResult } from './support/cli.js';

/** Runs `serve` and checks the shape every start-up error shares; returns the line. */
async function serveFails(
  args: string[],
  exitCode: number,
  options: CliOptions = {},
): Promise<string> {
  const result: CliResult = await runCli(['serve', '--log-level', 'silent', ...args], {
    timeoutMs: 15_000,
    ...options,
  });
  assert.equal(result.code, exitCode, `stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n');
  assert.equal(lines.length, 2, `one line and its newline, got: ${JSON.stringify(result.stderr)}`);
  assert.equal(lines[1], '');
  assert.doesNotMatch(result.stderr, /\n\s+at /);
  assert.match(lines[0]!, /^pkce-broker serve: /);
  return lines[0]!.slice('pkce-broker serve: '.length);
}

async function listenOnLoopback(server: Server | ReturnType<typeof createServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A fake issuer whose discovery document is whatever the test says. */
async function fakeIssuer(
  body: (issuer: string) => string,
): Promise<{ issuer: string; server: Server }> {
  let issuer = '';
  const server = createHttpServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(body(issuer));
  });
  const port = await listenOnLoopback(server);
  issuer = `http://127.0.0.1:${port}`;
  return { issuer, server };
}

describe('start-up errors of pkce-broker serve', () => {
  let provider: DevProvider;
  const servers: Array<{ close(): unknown }> = [];
  before(async () => {
    provider = await startDevProvider({});
  });
  after(async () => {
    for (const server of servers) server.close();
    await provider.close();
  });
  const providerArgs = (): string[] => [
    '--issuer',
    provider.issuer,
    '--client-id',
    provider.clientId,
  ];

  it('port already in use: names the port and suggests --port', async () => {
    const blocker = createServer();
    servers.push(blocker);
    const port = await listenOnLoopback(blocker);
    const line = await serveFails([...providerArgs(), '--port', String(port)], 1);
    assert.equal(
      line,
      `Port ${port} on 127.0.0.1 is already in use; choose another with --port (e.g. --port 3000, or --port 0 for any free port).`,
    );
  });

  it('privileged port without privileges: suggests --port 3000 or 0', async (t) => {
    // A real EACCES needs an unprivileged process and a port below the kernel's limit.
    const limit = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    if (limit === 0) {
      t.skip(
        'this kernel lets every process bind every port (ip_unprivileged_port_start = 0): no EACCES to provoke',
      );
      return;
    }
    const options: CliOptions = {};
    if (process.getuid?.() === 0) {
      // As root (CI), run the broker as `nobody`: setpriv drops every privilege, as a normal user has none.
      assert.ok(
        existsSync('/usr/bin/setpriv'),
        'setpriv (util-linux) is needed to run the broker unprivileged',
      );
      const nobody = execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim();
      options.prefix = [
        '/usr/bin/setpriv',
        `--reuid=${nobody}`,
        `--regid=${nobody}`,
        '--clear-groups',
        '--inh-caps=-all',
      ];
      options.cwd = emptyDir();
      chmodSync(options.cwd, 0o755);
    }
    const port = limit - 1;
    const line = await serveFails([...providerArgs(), '--port', String(port)], 1, options);
    assert.equal(
      line,
      `Port ${port} needs elevated privileges; use --port 3000 (or --port 0 for any free port).`,
    );
  });

  it('issuer unreachable', async () => {
    const issuer = `http://127.0.0.1:${await closedPort()}`;
    const line = await serveFails(['--issuer', issuer, '--client-id', 'app', '--port', '0'], 1);
    assert.equal(line, `Cannot reach the identity provider at ${issuer} (ECONNREFUSED)`);
  });

  it('discovery document that is not JSON', async () => {
    const { issuer, server } = await fakeIssuer(() => '<html>maintenance</html>');
    servers.push(server);
    const line = await serveFails(['--issuer', issuer, '--client-id', 'app', '--port', '0'], 1);
    assert.equal(
      line,
      `The discovery document at ${issuer}/.well-known/openid-configuration is not valid JSON`,
    );
  });

  it('discovery document without authorization_endpoint', async () => {
    const { issuer, server } = await fakeIssuer((iss) =>
      JSON.stringify({ issuer: iss, token_endpoint: `${iss}/token`, jwks_uri: `${iss}/jwks` }),
    );
    servers.push(server);
    const line = await serveFails(['--issuer', issuer, '--client-id', 'app', '--port', '0'], 1);
    assert.equal(
      line,
      `The discovery document at ${issuer}/.well-known/openid-configuration has no authorization_endpoint`,
    );
  });

  it('http:// issuer that is not loopback', async () => {
    const line = await serveFails(
      ['--issuer', 'http://login.example.com/', '--client-id', 'app'],
      1,
    );
    assert.equal(
      line,
      'The issuer http://login.example.com/ uses http://, which is only allowed on loopback (127.0.0.1, ::1, localhost); use https://',
    );
  });

  it('missing --client-id (a configuration error: exit 2)', async () => {
    const line = await serveFails(['--issuer', provider.issuer], 2);
    assert.match(line, /^Missing --client-id: /);
  });

  it('missing --issuer', async () => {
    const line = await serveFails(['--client-id', 'app'], 2);
    assert.match(line, /^Missing --issuer URL \(or --auth0-domain DOMAIN\)/);
  });

  it('an unknown option', async () => {
    const line = await serveFails(['--prot', '3000'], 2);
    assert.match(line, /^Unknown option '--prot'.* Run with --help to see the options\.$/);
  });
});

describe('start-up faults are no HTTP answers', () => {
  it('have an exit code each (2: fix the options, 1: the rest) and no HTTP status', () => {
    assert.deepEqual(STARTUP_EXIT_CODE, { config_invalid: 2, startup_failed: 1 });
    for (const code of Object.keys(STARTUP_EXIT_CODE)) assert.equal(code in ERROR_STATUS, false);
    assert.ok(Object.values(ERROR_STATUS).every((status) => status >= 400 && status <= 599));
  });

  it('one that reaches the problem renderer anyway is a 500 that shows nothing of it', () => {
    for (const code of ['config_invalid', 'startup_failed'] as const) {
      const problem = toProblem(new BrokerError(code, 'Cannot reach Redis at redis://10.0.0.1'));
      assert.equal(problem.status, 500, code);
      assert.equal(problem.title, 'Internal Server Error');
      assert.equal(problem.detail, 'The broker failed to handle this request.');
    }
  });
});
