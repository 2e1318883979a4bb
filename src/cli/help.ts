/** --help text, generated from the option table so it always lists every option. */
import { SERVE_OPTIONS, envName, type OptionSpec } from '../config/options.js';

export function optionsHelp(extra: readonly OptionSpec[] = []): string {
  const rows = [...SERVE_OPTIONS, ...extra].map((spec) => {
    const left = `--${spec.flag}${spec.kind === 'boolean' ? '' : ` ${spec.meta ?? 'VALUE'}`}`;
    const repeat = spec.kind === 'list' ? ' (repeatable)' : '';
    const def = spec.defaultText ? ` [default: ${spec.defaultText}]` : '';
    return `  ${left.padEnd(34)} ${spec.description}${repeat}${def}\n  ${''.padEnd(34)} env: ${envName(spec.flag)}`;
  });
  return `${rows.join('\n')}
  ${'-h, --help'.padEnd(34)} Show this help.
  ${'-v, --version'.padEnd(34)} Print the version of pkce-broker.

Precedence: flags > PKCE_BROKER_* environment > config file > defaults.
`;
}
