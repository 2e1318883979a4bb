/**
 * The one parse of a command line: its words against the option table, into
 * the values given as flags (by camelCase option name) and the two flags every
 * command has, --help and --version. Pure; loadConfig layers these values over
 * the environment and the config file.
 */
import { parseArgs } from 'node:util';
import { BrokerError } from '../errors.js';
import { camelCase, type OptionSpec } from './options.js';

export type RawValue = string | string[] | boolean | number;

export interface ParsedArgs {
  /** Only the options given on the command line, by camelCase name. */
  readonly flags: Readonly<Record<string, RawValue>>;
  readonly help: boolean;
  readonly version: boolean;
}

export function parseArguments(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      // A stray word (`serve 3000`) is a mistake to point out, not something to ignore.
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        ...Object.fromEntries(
          specs.map((spec) => [
            spec.flag,
            {
              type: spec.kind === 'boolean' ? 'boolean' : 'string',
              multiple: spec.kind === 'list',
            },
          ]),
        ),
        // Not parseArgs' allowNegative: that would give every boolean a --no- form, and login has a --no-browser of its own.
        ...Object.fromEntries(
          specs
            .filter((spec) => spec.negatable === true)
            .map((spec) => [`no-${spec.flag}`, { type: 'boolean' as const }]),
        ),
      },
    });
  } catch (error) {
    const message = ((error as Error).message.split('\n')[0] ?? 'Invalid arguments').replace(
      /([^.])$/,
      '$1.',
    );
    throw new BrokerError('config_invalid', `${message} Run with --help to see the options.`);
  }
  const values = parsed.values as Record<string, RawValue | undefined>;
  const flags: Record<string, RawValue> = {};
  for (const spec of specs) {
    const value = values[spec.flag];
    if (value !== undefined) flags[camelCase(spec.flag)] = value;
    if (spec.negatable !== true || values[`no-${spec.flag}`] === undefined) continue;
    if (value !== undefined)
      throw new BrokerError(
        'config_invalid',
        `Give either --${spec.flag} or --no-${spec.flag}, not both.`,
      );
    flags[camelCase(spec.flag)] = false;
  }
  return Object.freeze({
    flags: Object.freeze(flags),
    help: values.help === true,
    version: values.version === true,
  });
}
