/**
 * What is a secret and how it is hidden, in one place: the secret names, the
 * text scrubber the logger runs over every line, URLs as shown to people
 * (credentials and secret parameters hidden) and the truncation of long log
 * text. The logger (logging.ts), configuration errors (config/load.ts) and the
 * Redis store's messages (store/redis-connection.ts) all use these.
 *
 * Every rule here runs on text an attacker chooses (a request path is logged),
 * so every rule is linear in its input: see the note on each.
 */

/** What a hidden value is replaced with. */
export const REDACTED = '[redacted]';

/** Names whose values are secret wherever they appear: JSON keys, query or form parameters. */
export const SECRET_NAMES = [
  'code',
  'code_verifier',
  'verifier',
  'state',
  'nonce',
  // RFC 9126: it stands for the pushed request (state, nonce) until the browser uses it.
  'request_uri',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'client_secret',
  'password',
  'authorization',
  'cookie',
  'set-cookie',
  'x-application-id',
  'storeKey',
  'store_key',
  // camelCase spellings of the same values, as internal objects carry them
  'codeVerifier',
  'accessToken',
  'refreshToken',
  'idToken',
  'clientSecret',
  'client_assertion',
  'proxy-authorization',
  'x-api-key',
  'api_key',
  'apiKey',
] as const;

const namesPattern = SECRET_NAMES.map((n) => n.replace(/[-_]/g, '[-_]')).join('|');

// Linearity of the regular expressions below: each one can start only at a
// fixed prefix (a delimiter and a secret name, a scheme word, `//`), and what
// follows the prefix is a single character class or an unambiguous
// alternation, so a failed attempt costs at most the run it scanned, and the
// runs scanned from two different starts do not overlap (a run stops at the
// very characters a later start needs). test/log-leak.test.ts pins the cost
// of adversarial inputs against plain text of the same length.

/** `name=value` in query strings and form bodies. */
const PARAM_PATTERN = new RegExp(`([?&;\\s"]|^)(${namesPattern})=([^&#"\\s\\\\]*)`, 'gi');
/** `"name":"value"` in serialised JSON, at any depth. */
const JSON_PATTERN = new RegExp(`("(?:${namesPattern})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi');
/** The same inside a JSON string that holds JSON (`\"code\":\"…\"`), e.g. a body quoted in a message. */
const ESCAPED_JSON_PATTERN = new RegExp(
  `(\\\\"(?:${namesPattern})\\\\"\\s*:\\s*)\\\\"(?:(?!\\\\").)*\\\\"`,
  'gi',
);
/** Credentials in HTTP authentication syntax, e.g. a header quoted in an error message. */
const AUTH_SCHEME_PATTERN = /\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}/g;
/**
 * The userinfo of an authority (`//user:password@host`), up to its last `@`
 * as the WHATWG URL parser reads it; also after a mistyped `scheme:/`. Stops
 * at a quote so that it never spans two fields of a JSON log line; JSON
 * escapes are stepped over whole.
 */
const USERINFO_PATTERN = /(:\/\/?|\/\/)(?:[^\s/?#"\\]|\\.)*@/g;

/** The characters of a compact JWS/JWE segment (base64url). */
const SEGMENT_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
  SEGMENT_CHAR[c.charCodeAt(0)] = 1;
const DOT = 0x2e;
const JWT_START = 'eyJ';
const MIN_SEGMENT = 5;

function segmentEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && SEGMENT_CHAR[text.charCodeAt(i)] === 1) i++;
  return i;
}

/**
 * Compact JWS/JWE anywhere (access and ID tokens): `eyJ` and at least 5
 * base64url characters, a dot, at least 5 more, a dot, and the rest of the
 * run. A scanner, not a regular expression: a JS regex (no possessive or
 * atomic groups) retries from every `eyJ` inside a run it already scanned, so
 * `eyJeyJeyJ…` cost time quadratic in its length (150 ms for a 15 KB request
 * path); a lookbehind that starts only at a run's beginning would miss a
 * token glued to other characters (`%3DeyJ…` in a percent-encoded URL).
 * Leftmost-first like the regex: the first `eyJ` of a run has the longest
 * first segment and the same dots after it, so when it fails every later
 * `eyJ` of that run fails too, and the scan moves on past the run.
 */
function redactJwts(text: string): string {
  let at = text.indexOf(JWT_START);
  if (at === -1) return text;
  let out = '';
  let copied = 0;
  while (at !== -1) {
    const first = segmentEnd(text, at + JWT_START.length);
    if (first - at - JWT_START.length >= MIN_SEGMENT && text.charCodeAt(first) === DOT) {
      const second = segmentEnd(text, first + 1);
      if (second - first - 1 >= MIN_SEGMENT && text.charCodeAt(second) === DOT) {
        const end = segmentEnd(text, second + 1);
        out += text.slice(copied, at) + REDACTED;
        copied = end;
        at = text.indexOf(JWT_START, end);
        continue;
      }
    }
    at = text.indexOf(JWT_START, first);
  }
  return out + text.slice(copied);
}

/** Hides every secret the rules above recognise, in any text (a log line, a message, a URL). */
export function scrubText(text: string): string {
  return redactJwts(text)
    .replace(AUTH_SCHEME_PATTERN, `$1 ${REDACTED}`)
    .replace(JSON_PATTERN, `$1"${REDACTED}"`)
    .replace(ESCAPED_JSON_PATTERN, `$1\\"${REDACTED}\\"`)
    .replace(PARAM_PATTERN, `$1$2=${REDACTED}`)
    .replace(USERINFO_PATTERN, `$1${REDACTED}@`);
}

/**
 * A URL as shown to people (a log line, a configuration or connection error):
 * user and password hidden, the values of secret query parameters redacted,
 * everything else kept. Textual on purpose: a value that is not a valid URL
 * (a mistyped --store) is shown too, and must not leak its password either.
 */
export function redactUrl(url: string): string {
  return scrubText(url);
}

/**
 * Characters a secret is made of (RFC 7636 unreserved, base64 and
 * percent-encoding), and the backslash that starts the `\"` closing a quoted
 * one: the run of them at a cut is stepped back over.
 */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=%\\')
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
/**
 * How far a cut steps back at most. A secret the cut falls in keeps at least
 * this many characters hidden (≥ 640 bits for base64url) — far beyond guessing
 * — while a long path without delimiters still shows its beginning.
 */
const MAX_STEP_BACK = 128;

/**
 * `text` cut to at most `max` characters, with a marker saying how much was
 * cut. Scrub after truncating: the cut can fall inside a secret whose closing
 * quote or delimiter the scrubber needs, so the run of secret characters the
 * cut falls in is dropped too (up to MAX_STEP_BACK characters), and what is
 * kept of a cut `name=value` still starts with its name, which scrubs it.
 */
export function truncateForLog(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const floor = Math.max(0, max - MAX_STEP_BACK);
  while (end > floor && TOKEN_CHAR[text.charCodeAt(end - 1)] === 1) end--;
  // Never split a surrogate pair: a lone half is not valid UTF-8 in the log.
  const last = text.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end--;
  // The marker starts with a space: no scrubbing rule reads it as part of a value.
  return `${text.slice(0, end)} …[${text.length - end} more characters]`;
}
