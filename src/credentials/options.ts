/**
 * The command-line options of the credential cache, shared by login, token
 * and status (and by logout), and the reading of their values.
 */
import type { RawValue } from '../config/args.js';
import type { OptionSpec } from '../config/options.js';
import { BrokerError } from '../errors.js';
import { STORE_CHOICES, type StoreChoice } from './open.js';

export const CREDENTIAL_STORE_OPTION: OptionSpec = {
  flag: 'credential-store',
  kind: 'string',
  meta: 'auto|keychain|file',
  defaultText: 'auto',
  description:
    'Where sessions are kept: the system keychain where one answers, else a private file; or force one.',
};

export const NO_SAVE_OPTION: OptionSpec = {
  flag: 'no-save',
  kind: 'boolean',
  description: 'Do not keep the session for `pkce-broker token` (it is saved by default).',
};

export const PROVIDER_OPTION: OptionSpec = {
  flag: 'provider',
  kind: 'string',
  meta: 'ID',
  description: 'Only sessions with this provider (its id; `default` for the one given by flags).',
};

export const ACCOUNT_OPTION: OptionSpec = {
  flag: 'account',
  kind: 'string',
  meta: 'SUB',
  description: 'The account (its subject, `sub`) where several are signed in.',
};

type Extra = Readonly<Record<string, RawValue | undefined>>;

export function storeChoice(extra: Extra): StoreChoice {
  const value = extra.credentialStore ?? 'auto';
  if (typeof value === 'string' && (STORE_CHOICES as readonly string[]).includes(value))
    return value as StoreChoice;
  throw new BrokerError(
    'config_invalid',
    `--credential-store must be ${STORE_CHOICES.join(', ')}, got "${String(value)}".`,
  );
}

/** A boolean option's value: a flag, or its environment variable / config key as text. */
export function isSet(value: RawValue | undefined): boolean {
  return value === true || (typeof value === 'string' && /^(1|true|yes)$/i.test(value));
}

/** A string option's value, where one was given. */
export function text(value: RawValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
