/**
 * The files that run `pkce-broker serve --config FILE` with the session
 * (pure): a systemd user unit (Linux) and a launchd agent (macOS).
 */

export interface ServiceSpec {
  /** Absolute path of the node binary (process.execPath). */
  readonly node: string;
  /** Absolute path of bin/pkce-broker.js. */
  readonly bin: string;
  /** Absolute path of the config file. */
  readonly config: string;
}

export const SERVICE_NAME = 'pkce-broker';
/** launchd's label: "local." is the prefix for agents a person installs for themselves. */
export const LAUNCHD_LABEL = 'local.pkce-broker';

export function serveArguments(spec: ServiceSpec): string[] {
  return [spec.node, spec.bin, 'serve', '--config', spec.config];
}

/**
 * A systemd user unit. The hardening is what a per-user service manager can
 * apply without privileges: NoNewPrivileges and the seccomp-based Restrict*
 * settings work anywhere; PrivateTmp needs a mount namespace, which a user
 * manager can only make inside a user namespace, hence PrivateUsers (the
 * broker needs no other user's files). Left out: MemoryDenyWriteExecute (V8's
 * JIT writes code), ProtectHome (the config file and credentials live there)
 * and PrivateNetwork (it serves on loopback and calls the provider).
 */
export function systemdUnit(spec: ServiceSpec): string {
  return `# Written by \`pkce-broker service install\`; \`pkce-broker service uninstall\` removes it.
[Unit]
Description=pkce-broker: OAuth sign-in broker for local apps

[Service]
Type=exec
ExecStart=${serveArguments(spec).map(systemdQuote).join(' ')}
Restart=on-failure
RestartSec=2s
UMask=0077
NoNewPrivileges=yes
PrivateUsers=yes
PrivateTmp=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=default.target
`;
}

/**
 * One word of ExecStart= (systemd.service(5), "Command lines"): double-quoted,
 * with backslash and quote escaped, and `%` (specifiers) and `$` (variables)
 * doubled so that a path holding them is taken literally.
 */
export function systemdQuote(word: string): string {
  if (/[\n\r\0]/.test(word))
    throw new TypeError(`Cannot put a line break in ExecStart=: ${JSON.stringify(word)}`);
  const escaped = word
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('%', '%%')
    .replaceAll('$', '$$$$');
  return `"${escaped}"`;
}

/**
 * A launchd agent: started at login (RunAtLoad) and started again when it
 * exits with a failure (KeepAlive/SuccessfulExit false: a clean stop stays
 * stopped), output in ~/Library/Logs.
 */
export function launchdPlist(spec: ServiceSpec, logFile: string): string {
  const args = serveArguments(spec)
    .map((word) => `    <string>${xmlEscape(word)}</string>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`pkce-broker service install\`; \`pkce-broker service uninstall\` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Background</string>
  <key>Umask</key>
  <integer>63</integer>
  <key>StandardOutPath</key>
  <string>${xmlEscape(logFile)}</string>
  <key>StandardErrorPath</key>
  <string>${xmlEscape(logFile)}</string>
</dict>
</plist>
`;
}

function xmlEscape(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/**
 * The Task Scheduler command that starts the broker at logon on Windows,
 * which has no per-user service manager to write a file for.
 */
export function windowsTaskCommand(spec: ServiceSpec): string {
  const run = serveArguments(spec)
    .map((word) => (/[\s"]/.test(word) ? `\\"${word}\\"` : word))
    .join(' ');
  return `schtasks /Create /SC ONLOGON /TN ${SERVICE_NAME} /RL LIMITED /TR "${run}"`;
}
