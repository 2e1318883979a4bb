/**
 * Which store the cache uses: `auto` takes the system keychain where one
 * answers (probed once per run) and keeps the private file beside it for what
 * the keychain refuses; with no keychain, the file (login says so where it
 * saves). `keychain` and `file` force one (--credential-store).
 */
import { BrokerError } from '../errors.js';
import type { CredentialBackend } from './backend.js';
import { CredentialCache } from './cache.js';
import { FileBackend } from './file-backend.js';
import { probeKeychain } from './keychain-backend.js';
import { CREDENTIALS_FILE, configDirectory } from './paths.js';

export const STORE_CHOICES = ['auto', 'keychain', 'file'] as const;
export type StoreChoice = (typeof STORE_CHOICES)[number];

export interface OpenCacheOptions {
  choice: StoreChoice;
  /** Default: the OS's configuration directory (paths.ts). */
  directory?: string;
  /** Where the one-line notes go (stderr). */
  note: (line: string) => void;
}

export async function openCredentialCache(options: OpenCacheOptions): Promise<CredentialCache> {
  const directory = options.directory ?? configDirectory();
  const file = new FileBackend(directory, CREDENTIALS_FILE);
  const backends: CredentialBackend[] = [];
  let keychainMissing: string | undefined;
  if (options.choice !== 'file') {
    const probe = await probeKeychain();
    if (probe.ok) backends.push(probe.backend);
    else if (options.choice === 'keychain')
      throw new BrokerError(
        'config_invalid',
        `--credential-store keychain: no system keychain answers here (${probe.reason}); use --credential-store file or auto.`,
      );
    else keychainMissing = probe.reason;
  }
  if (options.choice !== 'keychain') backends.push(file);
  return new CredentialCache({
    backends,
    directory,
    note: options.note,
    ...(keychainMissing !== undefined && { keychainMissing }),
  });
}
