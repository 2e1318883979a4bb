/**
 * Where each system keeps a per-user service and the commands that manage it
 * (pure): systemd's user manager on Linux, launchd's GUI domain on macOS.
 */
import { join } from 'node:path';
import {
  LAUNCHD_LABEL,
  SERVICE_NAME,
  launchdPlist,
  systemdUnit,
  type ServiceSpec,
} from './unit.js';

export type Command = readonly [string, ...string[]];

export interface ServiceTarget {
  readonly kind: 'systemd' | 'launchd';
  /** The unit or agent file. */
  readonly path: string;
  /** Its content for a spec. */
  render(spec: ServiceSpec): string;
  /** Whether the service manager can be talked to (else commands are printed, not run). */
  readonly probe: Command;
  /** After the file is written: load it, enable it at login, start it now. */
  readonly start: readonly Command[];
  /** Before the file is removed: stop it and take it out of login. */
  readonly stop: readonly Command[];
  /** After the file is removed. */
  readonly afterRemove: readonly Command[];
  readonly status: Command;
}

export interface PlatformInput {
  readonly platform: NodeJS.Platform;
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
  /** Numeric user id, for launchd's gui/UID domain. */
  readonly uid: number;
}

/** The target for this system, or undefined where there is none to write (Windows, others). */
export function serviceTarget(input: PlatformInput): ServiceTarget | undefined {
  if (input.platform === 'linux') {
    // systemd.unit(5): the user manager reads $XDG_CONFIG_HOME/systemd/user, ~/.config when unset or relative.
    const xdg = input.env.XDG_CONFIG_HOME;
    const configHome = xdg !== undefined && xdg.startsWith('/') ? xdg : join(input.home, '.config');
    const unit = `${SERVICE_NAME}.service`;
    const systemctl = (...args: string[]): Command => ['systemctl', '--user', ...args];
    return {
      kind: 'systemd',
      path: join(configHome, 'systemd', 'user', unit),
      render: systemdUnit,
      probe: systemctl('show-environment'),
      start: [systemctl('daemon-reload'), systemctl('enable', '--now', SERVICE_NAME)],
      stop: [systemctl('disable', '--now', SERVICE_NAME)],
      afterRemove: [systemctl('daemon-reload')],
      status: systemctl('status', '--no-pager', SERVICE_NAME),
    };
  }
  if (input.platform === 'darwin') {
    const domain = `gui/${input.uid}`;
    const path = join(input.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
    const logFile = join(input.home, 'Library', 'Logs', `${SERVICE_NAME}.log`);
    return {
      kind: 'launchd',
      path,
      render: (spec) => launchdPlist(spec, logFile),
      probe: ['launchctl', 'print', domain],
      start: [['launchctl', 'bootstrap', domain, path]],
      stop: [['launchctl', 'bootout', `${domain}/${LAUNCHD_LABEL}`]],
      afterRemove: [],
      status: ['launchctl', 'print', `${domain}/${LAUNCHD_LABEL}`],
    };
  }
  return undefined;
}

/** A command as a person would type it (shown when it is not run, or fails). */
export function shellLine(command: Command): string {
  return command
    .map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}
