/**
 * Sessions in one JSON file under the user's configuration directory, for
 * machines without a usable keychain. Protected by the file system alone: the
 * directory is created 0700 and the file 0600 before any secret is written;
 * a file others may read is refused, not used. Every write replaces the file
 * whole (a new file renamed over the old one), so a reader sees the old or the
 * new sessions, never half of them. Writers are serialised by the cache's lock.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerError } from '../errors.js';
import { writePrivateFileAtomically } from '../private-file.js';
import type { CredentialBackend } from './backend.js';
import {
  parseSession,
  sameAccount,
  serialiseSession,
  type SessionKey,
  type StoredSession,
} from './session.js';

const FILE_VERSION = 1;

export class FileBackend implements CredentialBackend {
  readonly kind = 'file' as const;
  readonly where: string;
  readonly #directory: string;
  readonly #file: string;

  constructor(directory: string, file: string) {
    this.#directory = directory;
    this.#file = file;
    this.where = join(directory, file);
  }

  async list(): Promise<StoredSession[]> {
    const text = await this.#read();
    if (text === undefined) return [];
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw this.#unreadable('it is not JSON');
    }
    const sessions = (document as { sessions?: unknown } | null)?.sessions;
    if ((document as { version?: unknown }).version !== FILE_VERSION || !Array.isArray(sessions))
      throw this.#unreadable(`it is not a version ${FILE_VERSION} credentials file`);
    return sessions.flatMap((record: unknown) => parseSession(record) ?? []);
  }

  async put(session: StoredSession): Promise<void> {
    const others = (await this.list()).filter((s) => !sameAccount(s, session));
    await this.#write([...others, session]);
  }

  async delete(key: SessionKey): Promise<boolean> {
    const sessions = await this.list();
    const kept = sessions.filter((s) => !sameAccount(s, key));
    if (kept.length === sessions.length) return false;
    await this.#write(kept);
    return true;
  }

  /** The file's text, or undefined where there is none; refused when others may read it. */
  async #read(): Promise<string | undefined> {
    let handle;
    try {
      handle = await open(this.where, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.#unreadable((error as Error).message);
    }
    try {
      // The mode of the file opened, not of whatever the path names a moment later.
      const { mode } = await handle.stat();
      // Windows has no such mode bits; there the file inherits the profile directory's ACL.
      if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
        throw new BrokerError(
          'config_invalid',
          `${this.where} is open to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}), so its tokens are not used: run \`chmod 600 ${this.where}\` (or sign in again after deleting it).`,
        );
      }
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  }

  async #write(sessions: readonly StoredSession[]): Promise<void> {
    const text = `${JSON.stringify(
      { version: FILE_VERSION, sessions: sessions.map((s) => JSON.parse(serialiseSession(s))) },
      null,
      2,
    )}\n`;
    await writePrivateFileAtomically(this.#directory, this.#file, text);
  }

  #unreadable(reason: string): BrokerError {
    return new BrokerError(
      'config_invalid',
      `Cannot read the credentials file ${this.where}: ${reason}.`,
    );
  }
}
