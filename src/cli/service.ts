/**
 * `pkce-broker service install|uninstall|status`: the broker as a per-user
 * service that runs `serve --config FILE` with the session.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { requireProvider, type LoadedConfig } from '../config/load.js';
import type { OptionSpec } from '../config/options.js';
import { BrokerError } from '../errors.js';
import { install, status, uninstall, type ManageDeps, type RunResult } from '../service/manage.js';
import { serviceTarget, type Command } from '../service/platform.js';
import { SERVICE_NAME, windowsTaskCommand, type ServiceSpec } from '../service/unit.js';
import type { CommandModule } from './commands.js';

const SUBCOMMANDS = ['install', 'uninstall', 'status'] as const;

export const SERVICE_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'force',
    kind: 'boolean',
    description: 'install: replace a service file that differs from the one it would write.',
  },
  {
    flag: 'no-start',
    kind: 'boolean',
    description:
      'install, uninstall: write or remove the file only, and print the systemctl/launchctl commands instead of running them.',
  },
];

const USAGE = `Usage: pkce-broker service install|uninstall|status --config FILE [options]

Run the broker as your own service, started at login: a systemd user unit on Linux
($XDG_CONFIG_HOME/systemd/user/${SERVICE_NAME}.service), a launchd agent on macOS
(~/Library/LaunchAgents/local.${SERVICE_NAME}.plist), running \`serve --config FILE\`.
  install    write it (the config file must load) and start it
  uninstall  stop it and remove it
  status     whether it is installed as install would write it, and running

Options:
`;

export const command: CommandModule = {
  help: USAGE,
  options: SERVICE_OPTIONS,
  subcommands: SUBCOMMANDS,
  async run(loaded, subcommand) {
    if (subcommand === undefined) {
      process.stderr.write(
        'pkce-broker service: say install, uninstall or status (`pkce-broker service --help`).\n',
      );
      return 2;
    }
    const say = (line: string): void => void process.stdout.write(`${line}\n`);
    const noStart = loaded.extra.noStart === true;
    const target = serviceTarget({
      platform: process.platform,
      env: process.env,
      home: homedir(),
      uid: process.getuid?.() ?? 0,
    });
    if (subcommand === 'uninstall') {
      if (target === undefined) return unsupported(subcommand, undefined);
      return uninstall(deps(target, say), noStart);
    }
    const spec = serviceSpec(loaded);
    if (target === undefined) return unsupported(subcommand, spec);
    if (subcommand === 'status') return status(deps(target, say), spec);
    return install(deps(target, say), { spec, noStart, force: loaded.extra.force === true });
  },
};

/** What the service runs: this node, this pkce-broker, the config file given, once it loads like serve's. */
function serviceSpec(loaded: LoadedConfig): ServiceSpec {
  if (loaded.configFile === undefined) {
    throw new BrokerError(
      'config_invalid',
      'Give --config FILE: the JSON config file the service runs `serve` with (no ./pkce-broker.config.json here).',
    );
  }
  // loadConfig validated every option; serve also needs a provider.
  requireProvider(loaded.config);
  return { node: process.execPath, bin: binPath(), config: loaded.configFile };
}

/** The program that was run (npx and global installs go through a symlink), else this package's. */
function binPath(): string {
  const script = process.argv[1];
  if (script !== undefined && /pkce-broker(\.js)?$/.test(script)) return realpathSync(script);
  return fileURLToPath(new URL('../../bin/pkce-broker.js', import.meta.url));
}

function unsupported(subcommand: string, spec: ServiceSpec | undefined): number {
  const steps =
    subcommand === 'install' && spec !== undefined
      ? windowsTaskCommand(spec)
      : subcommand === 'uninstall'
        ? `schtasks /Delete /TN ${SERVICE_NAME} /F`
        : `schtasks /Query /TN ${SERVICE_NAME}`;
  process.stderr.write(
    `pkce-broker service: no per-user service manager to write to on ${process.platform}. On Windows, run the broker at logon with Task Scheduler (README, "Run as a service"):\n  ${steps}\n`,
  );
  return 1;
}

function deps(
  target: NonNullable<ReturnType<typeof serviceTarget>>,
  say: (line: string) => void,
): ManageDeps {
  return { target, say, run };
}

function run(command: Command): Promise<RunResult> {
  const [file, ...args] = command;
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 127; // ENOENT: no such command
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}
