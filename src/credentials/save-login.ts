/**
 * What `login` does with a successful sign-in: saves the session in the
 * cache (unless --no-save) and says once, on stderr, where it went.
 */
import type { RawValue } from '../config/args.js';
import type { PKCE } from '../protocol/models.js';
import { sessionFromAnswer } from './from-answer.js';
import { openCredentialCache } from './open.js';
import { isSet, storeChoice } from './options.js';
import { DEFAULT_PROVIDER_ID } from './session.js';

export interface SaveLoginOptions {
  /** The options of the command (--no-save, --credential-store), by camelCase name. */
  extra: Readonly<Record<string, RawValue | undefined>>;
  /** The provider's id in the broker (the registry's); `default` today. */
  providerId?: string;
  /** Default: process.stderr. */
  stderr?: { write(text: string): unknown };
  /** Default: the OS's configuration directory. */
  directory?: string;
}

/**
 * Never fails the sign-in: the tokens were had and shown; a session that
 * cannot be saved is said in one line.
 */
export async function saveLogin(answer: PKCE, options: SaveLoginOptions): Promise<void> {
  if (isSet(options.extra.noSave)) return;
  const stderr = options.stderr ?? process.stderr;
  const made = sessionFromAnswer(answer, options.providerId ?? DEFAULT_PROVIDER_ID, Date.now());
  if (!made.ok) {
    stderr.write(`Session not saved: ${made.reason}.\n`);
    return;
  }
  try {
    const cache = await openCredentialCache({
      choice: storeChoice(options.extra),
      ...(options.directory !== undefined && { directory: options.directory }),
      note: (line) => stderr.write(`${line}\n`),
    });
    const saved = await cache.save(made.session);
    const why =
      saved.store === 'file' && cache.keychainMissing !== undefined
        ? ` (no system keychain here: ${cache.keychainMissing}; the file is readable only by you)`
        : '';
    const refresh =
      made.session.refreshToken === undefined
        ? ' It holds no refresh token: sign in again once the access token expires.'
        : '';
    stderr.write(
      `Session saved in ${saved.where}${why}: \`pkce-broker token\` prints its access token.${refresh}\n`,
    );
  } catch (error) {
    stderr.write(`Session not saved: ${(error as Error).message}\n`);
  }
}
