/**
 * `pkce-broker doctor`: checks the provider the way `serve` will use it and
 * prints a checklist; exit 0 only when a sign-in can work.
 */
import { CALLBACK_PATH } from '../http/callback-path.js';
import { requireProvider, type BrokerConfig } from '../config/load.js';
import type { OptionSpec } from '../config/options.js';
import type { ProviderSpec } from '../config/providers.js';
import { BrokerError } from '../errors.js';
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
  {
    flag: 'provider',
    kind: 'string',
    meta: 'ID',
    description:
      'Check only this configured provider (its id; `default` for the one given by flags). Default: every one.',
  },
];

/** One configured provider's settings, as startBroker would use them. */
export function providerSettings(
  spec: ProviderSpec,
  config: Readonly<BrokerConfig>,
): DoctorProviderSettings {
  return {
    id: spec.id,
    issuer: spec.issuer,
    clientId: spec.clientId,
    ...(spec.clientSecret !== undefined && { clientSecret: spec.clientSecret }),
    ...(spec.audience !== undefined && { audience: spec.audience }),
    scope: spec.scope ?? config.scope,
    // As startBroker: the loopback callback on the bound port, unknown before start with --port 0.
    redirectUri:
      config.redirectUri ??
      (config.port === 0 ? undefined : `http://127.0.0.1:${config.port}${CALLBACK_PATH}`),
    responseMode: spec.responseMode ?? config.responseMode,
    par: spec.par ?? config.par,
    timeoutMs: config.providerTimeoutSec * 1000,
  };
}

/** Every configured provider's settings (the flags' and the config file's), or the one `--provider` names. */
export function configuredProviderSettings(
  config: Readonly<BrokerConfig>,
  only?: string,
): DoctorProviderSettings[] {
  const specs = requireProvider(config);
  const chosen = only === undefined ? specs : specs.filter((spec) => spec.id === only);
  if (chosen.length === 0) {
    throw new BrokerError(
      'config_invalid',
      `--provider ${only}: no such provider; configured: ${specs.map((spec) => spec.id).join(', ')}.`,
    );
  }
  return chosen.map((spec) => providerSettings(spec, config));
}

export const command: CommandModule = {
  help: 'Usage: pkce-broker doctor --issuer URL --client-id ID [options]\n       pkce-broker doctor --config FILE [--provider ID] [options]\n\nCheck each configured identity provider the way `serve` will use it, and say what to fix: one line per check, ✔ ok, ! works with less, ✖ a sign-in cannot work. Exit 0 when a sign-in can work with every provider checked.\n\nOptions:\n',
  options: DOCTOR_OPTIONS,
  async run({ config, extra }) {
    const json = extra.json === true;
    const only = typeof extra.provider === 'string' ? extra.provider : undefined;
    const providers = configuredProviderSettings(config, only);
    const show = (check: CheckResult): void => {
      if (!json) process.stdout.write(formatCheck(check));
    };
    const checks: CheckResult[] = [];
    for (const settings of providers) {
      if (!json)
        process.stdout.write(
          `Checking ${settings.id === 'default' ? '' : `"${settings.id}": `}${settings.issuer} (client ${settings.clientId}) as \`pkce-broker serve\` would use it…\n`,
        );
      checks.push(...(await checkProvider(settings, show)));
    }
    // Once: the port is the broker's, whatever the number of providers.
    const port = await checkPort(config.host, config.port, providers[0]!.timeoutMs);
    show(port);
    checks.push(port);
    const ok = signInCanWork(checks);
    process.stdout.write(
      json ? `${JSON.stringify({ ok, checks }, null, 2)}\n` : formatVerdict(checks),
    );
    return ok ? 0 : 1;
  },
};
