/** --help text, generated from the option table so it always lists every option. */
import { SERVE_OPTIONS, envName, type OptionSpec } from '../config/options.js';

export function optionsHelp(extra: readonly OptionSpec[] = [], only?: ReadonlySet<string>): string {
  const specs = [...SERVE_OPTIONS, ...extra].filter((s) => !only || only.has(s.flag));
  const rows = specs.map((spec) => {
    const left = `--${spec.flag}${spec.kind === 'boolean' ? '' : ` ${spec.meta ?? 'VALUE'}`}`;
    const repeat = spec.kind === 'list' ? ' (repeatable)' : '';
    const def = spec.defaultText ? ` [default: ${spec.defaultText}]` : '';
    return `  ${left.padEnd(34)} ${spec.description}${repeat}${def}\n  ${''.padEnd(34)} env: ${envName(spec.flag)}`;
  });
  return `${rows.join('\n')}\n  ${'-h, --help'.padEnd(34)} Show this help.\n\nPrecedence: flags > PKCE_BROKER_* environment > config file > defaults.\n`;
}
