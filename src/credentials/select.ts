/**
 * Which saved session a command means: by --provider and --account, and the
 * one-line refusals when none or several match.
 */
import { BrokerError } from '../errors.js';
import type { SavedSession } from './cache.js';
import { describeSession } from './session.js';

export interface SessionQuery {
  providerId?: string;
  /** The subject (`sub`). */
  account?: string;
}

export function matching(saved: readonly SavedSession[], query: SessionQuery): SavedSession[] {
  return saved.filter(
    ({ session }) =>
      (query.providerId === undefined || session.providerId === query.providerId) &&
      (query.account === undefined || session.subject === query.account),
  );
}

/**
 * The one session the query names; a BrokerError (exit 1) naming the fix
 * otherwise. `orElse` adds another way out to the "several match" line
 * (logout's "or all of them with --all").
 */
export function pickSession(
  saved: readonly SavedSession[],
  query: SessionQuery,
  orElse?: string,
): SavedSession {
  const found = matching(saved, query);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw notSignedIn(query);
  throw new BrokerError(
    'invalid_request',
    `${found.length} sessions match; name one with --account SUB${query.providerId === undefined ? ' (and --provider ID)' : ''}${orElse === undefined ? '' : `, ${orElse}`}:\n${found
      .map(({ session }) => `  ${describeSession(session)}`)
      .join('\n')}`,
  );
}

/** "not signed in to X: run pkce-broker login", with why where there is more to say. */
export function notSignedIn(query: SessionQuery, why?: string): BrokerError {
  const to = query.providerId ?? 'any provider';
  const as = query.account === undefined ? '' : ` as ${query.account}`;
  return new BrokerError(
    'not_found',
    `not signed in to ${to}${as}${why === undefined ? '' : ` (${why})`}: run pkce-broker login`,
  );
}
