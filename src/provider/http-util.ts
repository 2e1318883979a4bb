/**
 * Provider text made safe to pass on: an OAuth `error` code an app can branch
 * on, and one short printable line of description. Every provider string that
 * reaches a message, a problem, the callback page or the log goes through here.
 */

/** What an unusable provider `error` becomes: the provider failed in a way it did not name. */
const UNNAMED_PROVIDER_ERROR = 'server_error';

/**
 * Every code of RFC 6749 (§4.1.2.1, §5.2), OIDC Core §3.1.2.6 and the IANA
 * OAuth Extensions Error registry has this shape. RFC 6749's syntax also allows
 * spaces, `<`, quotes and any length, which no real code uses.
 */
const OAUTH_ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * A provider's OAuth `error` as the broker passes it on. Unknown codes of
 * that shape are kept: providers send extension codes an app can act on
 * (`org_internal`, `user_cancelled_authorize`, RFC 8707 `invalid_target`), and
 * replacing them would call a policy refusal a server fault. Anything else
 * becomes `server_error`.
 */
export function oauthErrorCode(value: string): string {
  return OAUTH_ERROR_CODE.test(value) ? value : UNNAMED_PROVIDER_ERROR;
}

/** Whitespace, controls (C0, DEL, C1: ESC of ANSI sequences, NEL), format characters (bidi overrides) and lone surrogates. */
const UNSHOWABLE = /[\s\p{Z}\p{Cc}\p{Cf}\p{Cs}]+/gu;
const MAX_TEXT_CHARS = 300;

/**
 * Provider text goes into messages, problems and the callback page: one
 * printable line of at most 300 characters (code points), "…" included.
 */
export function sanitize(text: string): string {
  const line = text.replace(UNSHOWABLE, ' ').trim();
  if (line.length <= MAX_TEXT_CHARS) return line;
  // 2 × 301 UTF-16 units hold at least 301 code points: enough to tell, without splitting the whole text.
  const chars = Array.from(line.slice(0, (MAX_TEXT_CHARS + 1) * 2));
  return chars.length > MAX_TEXT_CHARS ? `${chars.slice(0, MAX_TEXT_CHARS - 1).join('')}…` : line;
}
