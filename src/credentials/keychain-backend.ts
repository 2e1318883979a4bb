/**
 * Sessions in the system keychain through @napi-rs/keyring (an optional
 * dependency): Keychain on macOS, Credential Manager on Windows, the Secret
 * Service (GNOME Keyring, KWallet) on Linux. One item per account, service
 * `pkce-broker`, the item's secret a whole session record; the keychain
 * protects it (encrypted at rest, unlocked with the person's login).
 */
import { BrokerError } from '../errors.js';
import type { CredentialBackend } from './backend.js';
import {
  keyName,
  parseSession,
  serialiseSession,
  type SessionKey,
  type StoredSession,
} from './session.js';

type Keyring = typeof import('@napi-rs/keyring');

export const KEYCHAIN_SERVICE = 'pkce-broker';
/** An account no session has (a session's name holds spaces): only ever read, to see the keychain answer. */
const PROBE_ACCOUNT = 'probe';

/**
 * On Linux the Secret Service only: the binding's fallback, the kernel
 * keyring, forgets everything at logout and reboot.
 */
const ENTRY_OPTIONS = { linux: { store: 'secret-service' as const } };

export type KeychainProbe = { ok: true; backend: KeychainBackend } | { ok: false; reason: string };

/**
 * Whether a keychain answers here, with one read of an item that does not
 * exist: where there is none (no Secret Service on a headless Linux, no
 * session bus, no binding for this platform) it fails fast.
 */
export async function probeKeychain(): Promise<KeychainProbe> {
  let keyring: Keyring;
  try {
    keyring = await import('@napi-rs/keyring');
  } catch {
    return { ok: false, reason: 'the optional package @napi-rs/keyring is not installed' };
  }
  try {
    await new keyring.AsyncEntry(KEYCHAIN_SERVICE, PROBE_ACCOUNT, ENTRY_OPTIONS).getPassword();
  } catch (error) {
    return { ok: false, reason: keyringReason(error) };
  }
  return { ok: true, backend: new KeychainBackend(keyring) };
}

export class KeychainBackend implements CredentialBackend {
  readonly kind = 'keychain' as const;
  readonly where: string;
  readonly #keyring: Keyring;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
    this.where = `the system keychain (${keychainName()}, service "${KEYCHAIN_SERVICE}")`;
  }

  async list(): Promise<StoredSession[]> {
    const items = await this.#call(() => this.#keyring.findCredentialsAsync(KEYCHAIN_SERVICE));
    return items.flatMap(({ password }) => parseSession(password) ?? []);
  }

  async put(session: StoredSession): Promise<void> {
    // Same account, same item: saving again replaces it.
    await this.#call(() => this.#entry(session).setPassword(serialiseSession(session)));
  }

  async delete(key: SessionKey): Promise<boolean> {
    return this.#call(() => this.#entry(key).deleteCredential());
  }

  #entry(key: SessionKey): InstanceType<Keyring['AsyncEntry']> {
    return new this.#keyring.AsyncEntry(KEYCHAIN_SERVICE, keyName(key), ENTRY_OPTIONS);
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new BrokerError(
        'store_unavailable',
        `The system keychain failed: ${keyringReason(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}

function keychainName(): string {
  if (process.platform === 'darwin') return 'macOS Keychain';
  if (process.platform === 'win32') return 'Windows Credential Manager';
  return 'Secret Service';
}

/** The binding's message, on one line (it names the platform's fault, never a secret). */
function keyringReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.trim() || 'unknown error';
}
