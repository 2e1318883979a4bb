/**
 * The readable outcome of a sign-in, for `demo` and `login`: who signed in,
 * where, with what — and the tokens shortened so that a terminal scrollback
 * or a screenshot never holds a usable one.
 */
import { decodeJwt } from 'jose';
import type { PKCE } from '../protocol/models.js';

/** Enough of a token to tell two apart, never enough to use. */
export function shorten(token: string): string {
  return token.length <= 8 ? '…' : `${token.slice(0, 8)}…`;
}

function idTokenClaims(idToken: string | undefined): Record<string, unknown> {
  if (idToken === undefined) return {};
  try {
    // Already validated by the broker (signature, iss, aud, nonce…); read here only for display.
    return decodeJwt(idToken);
  } catch {
    return {};
  }
}

function humanDuration(seconds: number): string {
  if (seconds % 3600 === 0 && seconds >= 3600) return `${seconds / 3600} h`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export interface SummaryContext {
  /** When the token answer arrived; expiry is shown from here. */
  now?: Date;
  elapsedMs?: number;
}

/** Lines of the summary, each "label   value". */
export function summaryLines(answer: PKCE, context: SummaryContext = {}): string[] {
  const auth0 = answer.auth0;
  // A Descope provider's answer has the same token under `descope`.
  const token = (auth0 ?? answer.descope)?.oAuth?.token;
  const claims = idTokenClaims(token?.id_token);
  const str = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;

  const issuer = str(claims.iss) ?? (auth0?.domain ? `https://${auth0.domain}/` : 'unknown');
  const client = str(auth0?.client);
  const sub = str(claims.sub) ?? str(auth0?.user?.user_id) ?? 'unknown';
  const name = str(claims.name) ?? str(auth0?.user?.name);
  const email = str(claims.email) ?? str(auth0?.user?.email);
  const user = [`sub ${sub}`, name && `name ${name}`, email && `email ${email}`]
    .filter(Boolean)
    .join(' · ');

  const rows: Array<[string, string]> = [
    ['provider', client ? `${issuer} (client ${client})` : issuer],
    ['user', user],
    ['scopes', str(token?.scope) ?? '(not reported by the provider)'],
    ['token type', str(token?.token_type) ?? 'unknown'],
  ];
  if (typeof token?.expires_in === 'number') {
    const at = new Date((context.now ?? new Date()).getTime() + token.expires_in * 1000);
    rows.push([
      'expires',
      `in ${humanDuration(token.expires_in)} (${at.toISOString().replace(/\.\d{3}Z$/, 'Z')})`,
    ]);
  } else {
    rows.push(['expires', 'not reported']);
  }
  rows.push(['refresh token', token?.refresh_token ? 'yes' : 'no']);
  const tokens = [
    token?.access_token && `access ${shorten(token.access_token)}`,
    token?.id_token && `id ${shorten(token.id_token)}`,
    token?.refresh_token && `refresh ${shorten(token.refresh_token)}`,
  ].filter(Boolean);
  rows.push(['tokens', tokens.length > 0 ? tokens.join('  ') : 'none']);

  const took =
    context.elapsedMs === undefined ? '' : ` in ${(context.elapsedMs / 1000).toFixed(1)} s`;
  const who = name ?? sub;
  return [
    `Signed in as ${who}${took}.`,
    ...rows.map(([label, value]) => `  ${label.padEnd(14)} ${value}`),
  ];
}

export function formatSummary(answer: PKCE, context: SummaryContext = {}): string {
  return `${summaryLines(answer, context).join('\n')}\n`;
}
