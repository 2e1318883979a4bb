/**
 * `pkce-broker service`: the unit and the agent as files (verified by
 * systemd-analyze and plutil where they exist), and the command run as a
 * person runs it, into a temporary home, with a `systemctl` of the test's own
 * on PATH that records what it was asked: nothing touches the real user
 * manager of whoever runs the suite.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { install, status, uninstall, type ManageDeps } from '../src/service/manage.js';
import { serviceTarget, type Command } from '../src/service/platform.js';
import {
  launchdPlist,
  systemdQuote,
  systemdUnit,
  windowsTaskCommand,
  type ServiceSpec,
} from '../src/service/unit.js';
import { BIN, runCli, type CliResult } from './support/cli.js';

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** systemd-analyze verify of a user unit, offline: exit 0 and not one warning. */
function verifyUserUnit(path: string): void {
  const runtime = mkdtempSync(join(tmpdir(), 'pkce-broker-xdg-runtime-'));
  chmodSync(runtime, 0o700);
  const result = spawnSync('systemd-analyze', ['verify', '--user', '--man=no', path], {
    encoding: 'utf8',
    // The user manager's paths come from XDG_RUNTIME_DIR; no running manager is needed.
    env: { ...process.env, XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_LEVEL: 'warning' },
  });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '', 'systemd-analyze warns about the unit');
}

const SPEC: ServiceSpec = {
  node: process.execPath,
  bin: BIN,
  config: '/home/someone/my configs/100% $HOME "broker".json',
};

describe('service files (pure)', () => {
  it('ExecStart words: quoted, with %, $, quotes and backslashes taken literally', () => {
    assert.equal(systemdQuote('/a b/c'), '"/a b/c"');
    assert.equal(systemdQuote('100%'), '"100%%"');
    assert.equal(systemdQuote('$HOME'), '"$$HOME"');
    assert.equal(systemdQuote('say "hi" \\ there'), '"say \\"hi\\" \\\\ there"');
    assert.throws(() => systemdQuote('a\nb'), /line break/);
  });

  it('the systemd unit runs serve --config with this node, restarts on failure, and is hardened', () => {
    const unit = systemdUnit(SPEC);
    assert.match(
      unit,
      new RegExp(
        `^ExecStart="${process.execPath}" "${BIN}" "serve" "--config" "/home/someone/my configs/100%% \\$\\$HOME \\\\"broker\\\\".json"$`,
        'm',
      ),
    );
    for (const setting of [
      'Restart=on-failure',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'PrivateUsers=yes',
      'WantedBy=default.target',
    ])
      assert.match(unit, new RegExp(`^${setting}$`, 'm'));
  });

  it(
    'the systemd unit passes systemd-analyze verify --user',
    { skip: process.platform !== 'linux' && 'systemd is Linux only' },
    async () => {
      assert.ok(
        has('systemd-analyze'),
        'systemd-analyze is missing: CI installs the systemd package (.ci/run)',
      );
      const dir = await mkdtemp(join(tmpdir(), 'pkce-broker-unit-'));
      const path = join(dir, 'pkce-broker.service');
      writeFileSync(path, systemdUnit(SPEC));
      verifyUserUnit(path);
      // The check can fail: a unit whose ExecStart names no program does.
      writeFileSync(path, systemdUnit({ ...SPEC, node: join(dir, 'no-such-node') }));
      const broken = spawnSync('systemd-analyze', ['verify', '--user', '--man=no', path], {
        encoding: 'utf8',
        env: { ...process.env, XDG_RUNTIME_DIR: dir },
      });
      assert.notEqual(broken.status, 0);
    },
  );

  it('the launchd agent is a valid plist: label, arguments, RunAtLoad, KeepAlive', async () => {
    const plist = launchdPlist(SPEC, '/Users/someone/Library/Logs/pkce-broker.log');
    if (has('plutil')) {
      const dir = await mkdtemp(join(tmpdir(), 'pkce-broker-plist-'));
      const path = join(dir, 'local.pkce-broker.plist');
      writeFileSync(path, plist);
      execFileSync('plutil', ['-lint', path]);
    }
    const parsed = parsePlist(plist) as Record<string, unknown>;
    assert.equal(parsed.Label, 'local.pkce-broker');
    assert.deepEqual(parsed.ProgramArguments, [
      process.execPath,
      BIN,
      'serve',
      '--config',
      SPEC.config,
    ]);
    assert.equal(parsed.RunAtLoad, true);
    assert.deepEqual(parsed.KeepAlive, { SuccessfulExit: false });
    assert.equal(parsed.StandardErrorPath, '/Users/someone/Library/Logs/pkce-broker.log');
  });

  it('Windows gets the Task Scheduler line, at logon', () => {
    const line = windowsTaskCommand({
      node: 'C:\\Program Files\\nodejs\\node.exe',
      bin: 'C:\\pb\\bin\\pkce-broker.js',
      config: 'C:\\Users\\me\\pkce-broker.config.json',
    });
    assert.equal(
      line,
      'schtasks /Create /SC ONLOGON /TN pkce-broker /RL LIMITED /TR "\\"C:\\Program Files\\nodejs\\node.exe\\" C:\\pb\\bin\\pkce-broker.js serve --config C:\\Users\\me\\pkce-broker.config.json"',
    );
  });

  it('where each system keeps it', () => {
    const home = '/home/me';
    assert.equal(
      serviceTarget({ platform: 'linux', env: {}, home, uid: 1000 })?.path,
      '/home/me/.config/systemd/user/pkce-broker.service',
    );
    assert.equal(
      serviceTarget({ platform: 'linux', env: { XDG_CONFIG_HOME: '/x' }, home, uid: 1000 })?.path,
      '/x/systemd/user/pkce-broker.service',
    );
    // A relative XDG_CONFIG_HOME is invalid (XDG Base Directory spec) and ignored.
    assert.equal(
      serviceTarget({ platform: 'linux', env: { XDG_CONFIG_HOME: 'x' }, home, uid: 1000 })?.path,
      '/home/me/.config/systemd/user/pkce-broker.service',
    );
    const mac = serviceTarget({ platform: 'darwin', env: {}, home: '/Users/me', uid: 501 });
    assert.equal(mac?.path, '/Users/me/Library/LaunchAgents/local.pkce-broker.plist');
    assert.deepEqual(mac?.start, [
      [
        'launchctl',
        'bootstrap',
        'gui/501',
        '/Users/me/Library/LaunchAgents/local.pkce-broker.plist',
      ],
    ]);
    assert.equal(serviceTarget({ platform: 'win32', env: {}, home, uid: 0 }), undefined);
  });
});

describe('service install / uninstall of a launchd agent (in-process, launchctl recorded)', () => {
  it('writes the agent, bootstraps it, and boots it out before removing it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'pkce-broker-mac-'));
    const target = serviceTarget({ platform: 'darwin', env: {}, home, uid: 501 })!;
    const ran: Command[] = [];
    const said: string[] = [];
    const deps: ManageDeps = {
      target,
      run: async (command) => {
        ran.push(command);
        return { code: 0, output: '' };
      },
      say: (line) => said.push(line),
    };
    assert.equal(await install(deps, { spec: SPEC, noStart: false, force: false }), 0);
    assert.equal(readFileSync(target.path, 'utf8'), target.render(SPEC));
    assert.deepEqual(ran.at(-1), ['launchctl', 'bootstrap', 'gui/501', target.path]);
    assert.equal(await status(deps, SPEC), 0);
    assert.equal(await uninstall(deps, false), 0);
    assert.equal(existsSync(target.path), false);
    assert.ok(
      ran.some((command) => command.join(' ') === 'launchctl bootout gui/501/local.pkce-broker'),
    );
  });
});

// ---------------------------------------------------------------- the command

interface Home {
  home: string;
  xdg: string;
  unit: string;
  config: string;
  /** The systemctl calls, one line of arguments each. */
  calls(): string[];
  run(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

/** A temporary HOME and XDG_CONFIG_HOME, a valid config file, and a recording systemctl first on PATH. */
async function temporaryHome(): Promise<Home> {
  const home = await mkdtemp(join(tmpdir(), 'pkce-broker-home-'));
  const xdg = join(home, 'xdg');
  const bin = join(home, 'fake-bin');
  mkdirSync(bin);
  const log = join(home, 'systemctl.log');
  writeFileSync(
    join(bin, 'systemctl'),
    `#!/bin/sh\necho "$*" >> '${log}'\nif [ -n "$FAKE_SYSTEMCTL_DOWN" ]; then echo 'Failed to connect to bus' >&2; exit 1; fi\necho "fake systemctl $*"\n`,
    { mode: 0o755 },
  );
  const config = join(home, 'broker.json');
  writeFileSync(
    config,
    JSON.stringify({ issuer: 'https://example.eu.auth0.com/', clientId: 'abc', port: 3000 }),
  );
  return {
    home,
    xdg,
    unit: join(xdg, 'systemd', 'user', 'pkce-broker.service'),
    config,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    run: (args, env = {}) =>
      runCli(['service', ...args], {
        cwd: home,
        env: { HOME: home, XDG_CONFIG_HOME: xdg, PATH: `${bin}:${process.env.PATH ?? ''}`, ...env },
        timeoutMs: 30_000,
      }),
  };
}

describe(
  'pkce-broker service on Linux',
  { skip: process.platform !== 'linux' && 'Linux only' },
  () => {
    it('install writes a unit that verifies and runs systemctl --user daemon-reload, enable --now', async () => {
      const home = await temporaryHome();
      const result = await home.run(['install', '--config', home.config]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`Wrote ${home.unit}: runs ${BIN} serve --config ${home.config}`),
      );
      assert.match(
        readFileSync(home.unit, 'utf8'),
        new RegExp(
          `^ExecStart="${process.execPath}" "${BIN}" "serve" "--config" "${home.config}"$`,
          'm',
        ),
      );
      verifyUserUnit(home.unit);
      assert.deepEqual(home.calls(), [
        '--user show-environment',
        '--user daemon-reload',
        '--user enable --now pkce-broker',
      ]);
      assert.match(result.stdout, /Ran: systemctl --user enable --now pkce-broker/);
    });

    it('install --no-start, or without a user manager, prints the commands instead of running them', async () => {
      const home = await temporaryHome();
      const noStart = await home.run(['install', '--config', home.config, '--no-start']);
      assert.equal(noStart.code, 0, noStart.stderr);
      assert.match(
        noStart.stdout,
        /Not run \(--no-start\).*: systemctl --user daemon-reload && systemctl --user enable --now pkce-broker/,
      );
      assert.deepEqual(home.calls(), []);

      const down = await home.run(['install', '--config', home.config], {
        FAKE_SYSTEMCTL_DOWN: '1',
      });
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, /is up to date/);
      assert.match(
        down.stdout,
        /does not answer here.*run: systemctl --user daemon-reload && systemctl --user enable --now pkce-broker/,
      );
      assert.deepEqual(home.calls(), ['--user show-environment']);
    });

    it('refuses to replace a different unit without --force', async () => {
      const home = await temporaryHome();
      mkdirSync(join(home.xdg, 'systemd', 'user'), { recursive: true });
      writeFileSync(home.unit, '[Service]\nExecStart=/usr/bin/something-else\n');
      const refused = await home.run(['install', '--config', home.config, '--no-start']);
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /exists and differs .*--force/);
      assert.equal(
        readFileSync(home.unit, 'utf8'),
        '[Service]\nExecStart=/usr/bin/something-else\n',
      );
      const status = await home.run(['status', '--config', home.config]);
      assert.equal(status.code, 1);

      const forced = await home.run(['install', '--config', home.config, '--no-start', '--force']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /Replaced /);
      verifyUserUnit(home.unit);
    });

    it('writes nothing unless the config file exists and loads as serve would', async () => {
      const home = await temporaryHome();
      const missing = await home.run([
        'install',
        '--config',
        join(home.home, 'nope.json'),
        '--no-start',
      ]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /does not exist/);
      writeFileSync(
        home.config,
        JSON.stringify({ issuer: 'https://example.eu.auth0.com/', clientId: 'abc', prot: 3000 }),
      );
      const unknown = await home.run(['install', '--config', home.config, '--no-start']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown key "prot"/);
      writeFileSync(home.config, JSON.stringify({ port: 3000 }));
      const noProvider = await home.run(['install', '--config', home.config, '--no-start']);
      assert.equal(noProvider.code, 2);
      assert.match(noProvider.stderr, /Missing --issuer/);
      const noConfig = await home.run(['install', '--no-start']);
      assert.equal(noConfig.code, 2);
      assert.match(noConfig.stderr, /Give --config FILE/);
      assert.equal(existsSync(home.unit), false);
      assert.deepEqual(home.calls(), []);
    });

    it('installs a config whose providers are only in its "providers" list', async () => {
      const home = await temporaryHome();
      writeFileSync(
        home.config,
        JSON.stringify({
          port: 3000,
          providers: [
            { id: 'acme', issuer: 'https://acme.eu.auth0.com/', clientId: 'abc' },
            { id: 'desc', descopeProjectId: 'P2abc', clientId: 'def' },
          ],
        }),
      );
      const result = await home.run(['install', '--config', home.config, '--no-start']);
      assert.equal(result.code, 0, result.stderr);
      verifyUserUnit(home.unit);
      // An entry without a client id is still refused, as serve would.
      writeFileSync(
        home.config,
        JSON.stringify({ providers: [{ id: 'acme', issuer: 'https://acme.eu.auth0.com/' }] }),
      );
      const broken = await home.run(['install', '--config', home.config, '--no-start', '--force']);
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /providers\[0\]/);
    });

    it('status reports it, uninstall stops and removes it', async () => {
      const home = await temporaryHome();
      assert.equal((await home.run(['status', '--config', home.config])).code, 3);
      assert.equal((await home.run(['install', '--config', home.config, '--no-start'])).code, 0);
      const status = await home.run(['status', '--config', home.config]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^Installed: .* runs serve --config /m);
      assert.match(status.stdout, /fake systemctl --user status --no-pager pkce-broker/);

      const removed = await home.run(['uninstall']);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(existsSync(home.unit), false);
      assert.deepEqual(home.calls().slice(-4), [
        '--user show-environment',
        '--user disable --now pkce-broker',
        '--user show-environment',
        '--user daemon-reload',
      ]);
      const again = await home.run(['uninstall']);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /No service installed/);
    });

    it('without install, uninstall or status it says which', async () => {
      const home = await temporaryHome();
      const result = await home.run([]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /say install, uninstall or status/);
      const help = await home.run(['--help']);
      assert.match(help.stdout, /--no-start/);
    });
  },
);

/** The plist subset launchdPlist writes (dict, key, string, array, true, false, integer), parsed. */
function parsePlist(text: string): unknown {
  const tokens = [
    ...text
      .replace(/<\?xml[^>]*>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->/g, '')
      .matchAll(/<(\/?)(\w+)(?:\s[^>]*?)?(\/?)>([^<]*)/g),
  ];
  let at = 0;
  const unescape = (s: string): string =>
    s
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&quot;', '"')
      .replaceAll('&amp;', '&');
  const value = (): unknown => {
    const [, close, tag, selfClosing, text] = tokens[at++]!;
    assert.equal(close, '', `unexpected </${tag}>`);
    if (selfClosing === '/') {
      assert.ok(tag === 'true' || tag === 'false', `unexpected <${tag}/>`);
      return tag === 'true';
    }
    if (tag === 'string' || tag === 'integer') {
      assert.equal(tokens[at++]![2], tag);
      return tag === 'integer' ? Number(text) : unescape(text!);
    }
    if (tag === 'array' || tag === 'dict' || tag === 'plist') {
      const items: unknown[] = [];
      const dict: Record<string, unknown> = {};
      while (tokens[at]![1] !== '/') {
        if (tag === 'dict') {
          const [, , keyTag, , key] = tokens[at++]!;
          assert.equal(keyTag, 'key');
          at++;
          dict[unescape(key!)] = value();
        } else items.push(value());
      }
      assert.equal(tokens[at++]![2], tag);
      return tag === 'dict' ? dict : tag === 'plist' ? items[0] : items;
    }
    throw new Error(`unexpected <${tag}>`);
  };
  return value();
}
