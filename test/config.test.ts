/**
 * Configuration: flags > PKCE_BROKER_* environment > config file > defaults,
 * validated once, with messages that name the option and where the bad value
 * came from; and --help that documents every option with its default.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LOGIN_OPTIONS } from '../src/cli/login.js';
import { parseArguments } from '../src/config/args.js';
import { issuerFromAuth0Domain } from '../src/config/auth0-domain.js';
import { DEFAULTS, loadConfig, type LoadConfigInput } from '../src/config/load.js';
import { SERVE_OPTIONS, camelCase, envName } from '../src/config/options.js';
import { BrokerError } from '../src/errors.js';
import { ROOT, emptyDir, runCli } from './support/cli.js';

/** A working directory holding pkce-broker.config.json with `values`, or none. */
function dirWithConfig(values?: Record<string, unknown> | string): string {
  const dir = emptyDir();
  if (values !== undefined) {
    writeFileSync(
      join(dir, 'pkce-broker.config.json'),
      typeof values === 'string' ? values : JSON.stringify(values),
    );
  }
  return dir;
}

function load(
  argv: string[],
  env: Record<string, string> = {},
  cwd = dirWithConfig(),
  extra: Partial<LoadConfigInput> = {},
) {
  return loadConfig({ argv, env, cwd, ...extra });
}

function refused(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof BrokerError);
    assert.equal(error.code, 'config_invalid');
    assert.match(error.message, message);
    return true;
  });
}

describe('configuration precedence', () => {
  it('uses the defaults when nothing is given', () => {
    const { config } = load([]);
    assert.equal(config.port, DEFAULTS.port);
    assert.equal(config.host, '127.0.0.1');
    assert.deepEqual(config.scope, ['openid', 'profile', 'email', 'offline_access']);
    assert.equal(config.open, 'auto');
    assert.equal(config.store, 'memory');
    assert.equal(config.flowTtlSec, 600);
    assert.equal(config.waitTimeoutSec, 300);
    assert.equal(config.maxPendingFlows, 10_000);
    assert.equal(config.issuer, undefined);
    assert.deepEqual(config.appIds, []);
  });

  it('file over default, environment over file, flag over environment — option by option', () => {
    const cwd = dirWithConfig({
      port: 2001,
      waitTimeout: 61,
      flowTtl: 601,
      logLevel: 'debug',
      appId: ['from-file'],
    });
    const env = {
      PKCE_BROKER_PORT: '2002',
      PKCE_BROKER_WAIT_TIMEOUT: '62',
      PKCE_BROKER_APP_ID: 'env-a, env-b',
    };
    const { config } = load(
      ['--port', '2003', '--app-id', 'flag-a', '--app-id', 'flag-b'],
      env,
      cwd,
    );
    assert.equal(config.port, 2003, 'flag beats environment and file');
    assert.equal(config.waitTimeoutSec, 62, 'environment beats file');
    assert.equal(config.flowTtlSec, 601, 'file beats default');
    assert.equal(config.logLevel, 'debug', 'file beats default');
    assert.equal(config.maxWaiters, DEFAULTS.maxWaiters, 'default when nobody says');
    assert.deepEqual(config.appIds, ['flag-a', 'flag-b'], 'a repeated flag replaces the list');

    assert.deepEqual(
      load([], env, cwd).config.appIds,
      ['env-a', 'env-b'],
      'comma-separated in the environment',
    );
    assert.deepEqual(load([], {}, cwd).config.appIds, ['from-file']);
    assert.equal(load([], {}, cwd).config.port, 2001);
  });

  it('reads --config FILE or PKCE_BROKER_CONFIG instead of the working directory file', () => {
    const cwd = dirWithConfig({ port: 2001 });
    const other = join(emptyDir(), 'other.json');
    writeFileSync(other, JSON.stringify({ port: 2004, scope: 'openid email' }));
    assert.equal(load(['--config', other], {}, cwd).config.port, 2004);
    assert.equal(load([], { PKCE_BROKER_CONFIG: other }, cwd).config.port, 2004);
    assert.deepEqual(load(['--config', other], {}, cwd).config.scope, ['openid', 'email']);
    refused(
      () => load(['--config', join(cwd, 'missing.json')], {}, cwd),
      /^Config file .*missing\.json does not exist\.$/,
    );
  });

  it('returns a frozen configuration', () => {
    const { config } = load([]);
    assert.ok(Object.isFrozen(config));
  });

  it('passes a command’s own options through the same precedence (login)', () => {
    const cwd = dirWithConfig({ broker: 'http://127.0.0.1:2001' });
    const extraOptions = LOGIN_OPTIONS;
    assert.equal(load([], {}, cwd, { extraOptions }).extra.broker, 'http://127.0.0.1:2001');
    assert.equal(
      load([], { PKCE_BROKER_BROKER: 'http://127.0.0.1:2002' }, cwd, { extraOptions }).extra.broker,
      'http://127.0.0.1:2002',
    );
    assert.equal(
      load(
        ['--broker', 'http://127.0.0.1:2003'],
        { PKCE_BROKER_BROKER: 'http://127.0.0.1:2002' },
        cwd,
        { extraOptions },
      ).extra.broker,
      'http://127.0.0.1:2003',
    );
    assert.equal(load(['--json'], {}, cwd, { extraOptions }).extra.json, true);
  });

  it('says where each value came from, and nothing for a default', () => {
    const cwd = dirWithConfig({ flowTtl: 601, logLevel: 'warn' });
    const { sources } = load(['--port', '0'], { PKCE_BROKER_LOG_LEVEL: 'debug' }, cwd);
    assert.equal(sources.port, '--port');
    assert.equal(sources.logLevel, 'PKCE_BROKER_LOG_LEVEL', 'the environment beat the file');
    assert.equal(sources.flowTtl, `"flowTtl" in ${join(cwd, 'pkce-broker.config.json')}`);
    assert.equal(sources.host, undefined);
    assert.equal(sources.waitTimeout, undefined);
    assert.equal(
      load([], { PKCE_BROKER_PORT: '' }).sources.port,
      undefined,
      'an empty variable is unset',
    );
  });

  it('parses the command line once: loadConfig takes what parseArguments made of it', () => {
    const specs = [...SERVE_OPTIONS, ...LOGIN_OPTIONS];
    const args = parseArguments(['--port', '2005', '--json', '-h', '--app-id', 'a'], specs);
    assert.deepEqual(args.flags, { port: '2005', json: true, appId: ['a'] });
    assert.equal(args.help, true);
    assert.equal(args.version, false);
    assert.equal(parseArguments(['-v'], []).version, true);
    const loaded = load([], {}, dirWithConfig(), { argv: args, extraOptions: LOGIN_OPTIONS });
    assert.equal(loaded.config.port, 2005);
    assert.equal(loaded.extra.json, true);
    assert.equal(loaded.sources.port, '--port');
  });
});

describe('configuration validation', () => {
  it('refuses unknown keys in the config file, naming the key and the file', () => {
    const cwd = dirWithConfig({ port: 2001, clientID: 'typo' });
    refused(
      () => load([], {}, cwd),
      /^Config file .*pkce-broker\.config\.json: unknown key "clientID"\.$/,
    );
  });

  it('refuses a config file that is not a JSON object', () => {
    refused(
      () => load([], {}, dirWithConfig('{ port: 1 ')),
      /pkce-broker\.config\.json is not valid JSON/,
    );
    refused(
      () => load([], {}, dirWithConfig('[1, 2]')),
      /pkce-broker\.config\.json must hold a JSON object\./,
    );
    refused(
      () => load([], {}, dirWithConfig({ appId: 7 })),
      /"appId" must be a string or an array of strings\./,
    );
  });

  it('names the source of a bad value: flag, environment variable or config file key', () => {
    refused(
      () => load(['--port', '70000']),
      /^--port must be a whole number from 0 to 65535, got "70000" \(from --port\)\.$/,
    );
    refused(
      () => load([], { PKCE_BROKER_PORT: 'eighty' }),
      /got "eighty" \(from PKCE_BROKER_PORT\)\.$/,
    );
    refused(
      () => load([], {}, dirWithConfig({ flowTtl: 5 })),
      /^--flow-ttl must be a whole number from 10 to 86400, got "5" \(from "flowTtl" in .*pkce-broker\.config\.json\)\.$/,
    );
    refused(
      () => load([], { PKCE_BROKER_ISSUER: 'not a url' }),
      /^--issuer must be an absolute URL, got "not a url" \(from PKCE_BROKER_ISSUER\)\.$/,
    );
    refused(
      () => load(['--redirect-uri', 'ftp://x/cb']),
      /^--redirect-uri must be an http\(s\) URL, got "ftp:\/\/x\/cb" \(from --redirect-uri\)\.$/,
    );
  });

  it('explains what to do for values that cannot work', () => {
    refused(
      () => load(['--log-level', 'loud']),
      /^--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud" \(from --log-level\)\.$/,
    );
    refused(
      () => load(['--store', 'redis://h:6379']),
      /--store-key .* is required with a Redis store: generate one with `openssl rand -hex 32`\./,
    );
    refused(
      () => load(['--issuer', 'https://a/', '--auth0-domain', 'b.auth0.com']),
      /^Give either --issuer or --auth0-domain, not both\.$/,
    );
    refused(
      () => load(['--allow-origin', 'https://app.example.com/path']),
      /^--allow-origin must be an origin/,
    );
    refused(() => load(['--port']), /Run with --help to see the options\.$/);
    refused(
      () => load(['3000']),
      /^Unexpected argument '3000'\..* Run with --help to see the options\.$/,
    );
  });
});

describe('--auth0-domain', () => {
  it('is the issuer https://DOMAIN/ with the host in lower case, end to end through loadConfig', () => {
    assert.equal(
      load(['--auth0-domain', 'Tenant.EU.Auth0.com']).config.issuer,
      'https://tenant.eu.auth0.com/',
    );
    assert.equal(
      load([], { PKCE_BROKER_AUTH0_DOMAIN: 'https://Tenant.Auth0.com/' }).config.issuer,
      'https://tenant.auth0.com/',
    );
  });

  it('accepts a bare host, a port, or an https URL without path', () => {
    for (const [domain, issuer] of [
      ['tenant.auth0.com', 'https://tenant.auth0.com/'],
      ['  Tenant.EU.Auth0.com ', 'https://tenant.eu.auth0.com/'],
      ['auth.example.com:8443', 'https://auth.example.com:8443/'],
      ['auth.example.com:443', 'https://auth.example.com/'],
      ['https://tenant.auth0.com', 'https://tenant.auth0.com/'],
      ['HTTPS://tenant.auth0.com/', 'https://tenant.auth0.com/'],
      ['my-tenant.us.auth0.com', 'https://my-tenant.us.auth0.com/'],
    ]) {
      assert.equal(issuerFromAuth0Domain(domain!), issuer, domain);
    }
  });

  it('refuses anything but a host name, naming where the value came from', () => {
    for (const bad of [
      '',
      'http://tenant.auth0.com',
      'tenant.auth0.com/path',
      'tenant.auth0.com?x=1',
      'tenant.auth0.com#x',
      'user@tenant.auth0.com',
      'https://',
      'tenant..auth0.com',
      '-tenant.auth0.com',
      'tenant_x.auth0.com',
      'tenant.auth0.com:0',
      'tenant.auth0.com:70000',
      'tenant.auth0.com\\evil.example',
    ]) {
      assert.equal(issuerFromAuth0Domain(bad), undefined, bad);
    }
    refused(
      () => load(['--auth0-domain', 'tenant.auth0.com/path']),
      /^--auth0-domain must be a host name such as example\.eu\.auth0\.com, got "tenant\.auth0\.com\/path" \(from --auth0-domain\)\.$/,
    );
  });
});

describe('configuration errors at the command line', () => {
  it('a bad value in the working directory config file stops serve with one line naming it (exit 2)', async () => {
    const cwd = dirWithConfig({
      issuer: 'https://login.example.com/',
      clientId: 'app',
      waitTimeout: 0,
    });
    const { code, stdout, stderr } = await runCli(['serve'], { cwd, timeoutMs: 15_000 });
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      `pkce-broker serve: --wait-timeout must be a whole number from 1 to 86400, got "0" (from "waitTimeout" in ${join(cwd, 'pkce-broker.config.json')}).\n`,
    );
  });
});

describe('--help', () => {
  it('serve --help documents every option, its environment variable and its default', async () => {
    const { code, stdout, stderr } = await runCli(['serve', '--help']);
    assert.equal(code, 0, stderr);
    for (const spec of SERVE_OPTIONS) {
      const line = stdout
        .split('\n')
        .find((l) => l.startsWith(`  --${spec.flag} `) || l === `  --${spec.flag}`);
      assert.ok(line, `--${spec.flag} is listed`);
      if (spec.defaultText)
        assert.ok(
          line.includes(`[default: ${spec.defaultText}]`),
          `--${spec.flag} shows its default: ${line}`,
        );
      assert.ok(stdout.includes(`env: ${envName(spec.flag)}`), `${envName(spec.flag)} is listed`);
    }
    // Every default shown is the one applied: the text of each numeric default matches DEFAULTS.
    for (const spec of SERVE_OPTIONS.filter((s) => s.kind === 'integer' && s.defaultText)) {
      assert.equal(
        String((DEFAULTS as Record<string, unknown>)[camelCase(spec.flag)]),
        spec.defaultText,
        spec.flag,
      );
    }
  });

  it('login --help adds its own options with their defaults', async () => {
    const { code, stdout } = await runCli(['login', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^ {2}--broker URL +.*\[default: http:\/\/localhost:1000\]$/m);
    assert.match(stdout, /^ {2}--json +Print the PKCE token answer/m);
    assert.match(stdout, /^ {2}--output FILE +.*mode 0600/m);
    assert.match(stdout, /^ {2}--issuer URL /m);
  });

  it('every command answers --help from its option table, before reading any config file', async () => {
    const cwd = dirWithConfig('{ not json');
    for (const command of ['serve', 'dev', 'demo', 'login']) {
      const { code, stdout, stderr } = await runCli([command, '--help'], { cwd });
      assert.equal(code, 0, `${command}: ${stderr}`);
      assert.match(stdout, new RegExp(`^Usage: pkce-broker ${command} `), command);
      assert.match(stdout, /^ {2}--store-key HEX +/m, command);
      assert.match(stdout, /^ {2}-v, --version +/m, command);
    }
  });

  it('--version prints the version of package.json, before or after a command', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const args of [['--version'], ['-v'], ['serve', '--version']]) {
      const { code, stdout } = await runCli(args);
      assert.equal(code, 0, args.join(' '));
      assert.equal(stdout, `${version}\n`, args.join(' '));
    }
  });

  it('lists demo and login among the commands', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^ {2}demo {5}Sign in as the demo user/m);
    assert.match(stdout, /^ {2}login {4}Sign in from the terminal/m);
  });
});
