/**
 * The cache's cross-process lock: one lock directory beside the credentials
 * (proper-lockfile: an atomic mkdir, kept fresh while held, taken over when
 * its holder died). Whoever reads a session to spend its refresh token, or
 * rewrites the credentials file, holds it: a rotating refresh token is spent
 * once, and two writers never lose each other's sessions.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerError } from '../errors.js';

/** Long enough for a holder's refresh (discovery and token request, each with a 10 s timeout). */
const WAIT = { retries: 120, factor: 1.2, minTimeout: 20, maxTimeout: 250 } as const;
/** A holder that died leaves its lock for this long (proper-lockfile's minimum is 5 s). */
const STALE_MS = 10_000;

export async function withLock<T>(directory: string, work: () => Promise<T>): Promise<T> {
  const created = await mkdir(directory, { recursive: true, mode: 0o700 });
  if (created !== undefined) await chmod(directory, 0o700);
  const { default: lockfile } = await import('proper-lockfile');
  let compromised: Error | undefined;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(join(directory, 'credentials'), {
      realpath: false,
      lockfilePath: join(directory, 'credentials.lock'),
      stale: STALE_MS,
      retries: WAIT,
      // The default throws from a timer, which would end the process with a stack trace.
      onCompromised: (error) => {
        compromised = error;
      },
    });
  } catch (error) {
    throw new BrokerError(
      'store_unavailable',
      `Another pkce-broker holds the credentials lock ${join(directory, 'credentials.lock')} and did not let go: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    const result = await work();
    if (compromised !== undefined)
      throw new BrokerError(
        'store_unavailable',
        `The credentials lock was lost while held: ${compromised.message}`,
      );
    return result;
  } finally {
    await release().catch(() => undefined);
  }
}
