/**
 * `pkce-broker doctor`: checks the provider the way `serve` will use it and
 * prints a checklist; exit 0 only when a sign-in can work.
 */
import { CALLBACK_PATH } from '../broker.js';
import { requireProvider, type BrokerConfig } from '../config/load.js';
import type { OptionSpec } from '../config/options.js';
import { formatCheck, formatVerdict, signInCanWork } from '../doctor/format.js';
import { checkPort } from '../doctor/port.js';
import { checkProvider } from '../doctor/provider.js';
import type { CheckResult, DoctorProviderSettings } from '../doctor/types.js';
import type { CommandModule } from './commands.js';

export const DOCTOR_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'json',
    kind: 'boolean',
    description:
      'Print the results as JSON ({ ok, checks: [{ id, status, title, detail, fix?, provider? }] }).',
  },
];

/** One provider's settings from the flags' configuration (the `default` provider). */
export function defaultProviderSettings(config: Readonly<BrokerConfig>): DoctorProviderSettings {
  const { issuer, clientId } = requireProvider(config);
  return {
    id: 'default',
    issuer,
    clientId,
    ...(config.clientSecret !== undefined && { clientSecret: config.clientSecret }),
    ...(config.audience !== undefined && { audience: config.audience }),
    scope: config.scope,
    // As startBroker: the loopback callback on the bound port, unknown before start with --port 0.
    redirectUri:
      config.redirectUri ??
      (config.port === 0 ? undefined : `http://127.0.0.1:${config.port}${CALLBACK_PATH}`),
    responseMode: config.responseMode,
    par: config.par,
    timeoutMs: config.providerTimeoutSec * 1000,
  };
}

export const command: CommandModule = {
  help: 'Usage: pkce-broker doctor --issuer URL --client-id ID [options]\n\nCheck the identity provider the way `serve` will use it, and say what to fix: one line per check, ✔ ok, ! works with less, ✖ a sign-in cannot work. Exit 0 when a sign-in can work.\n\nOptions:\n',
  options: DOCTOR_OPTIONS,
  async run({ config, extra }) {
    const json = extra.json === true;
    const settings = defaultProviderSettings(config);
    const show = (check: CheckResult): void => {
      if (!json) process.stdout.write(formatCheck(check));
    };
    if (!json)
      process.stdout.write(
        `Checking ${settings.issuer} (client ${settings.clientId}) as \`pkce-broker serve\` would use it…\n`,
      );
    const checks = await checkProvider(settings, show);
    const port = await checkPort(config.host, config.port, settings.timeoutMs);
    show(port);
    checks.push(port);
    const ok = signInCanWork(checks);
    process.stdout.write(
      json ? `${JSON.stringify({ ok, checks }, null, 2)}\n` : formatVerdict(checks),
    );
    return ok ? 0 : 1;
  },
};
