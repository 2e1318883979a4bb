/**
 * Small helpers shared by discovery and the provider client: how a failed
 * request is described, and how provider text is made safe to show.
 */
import { BrokerError } from '../errors.js';

/**
 * A BrokerError raised inside a library call (e.g. by the body cap while
 * oauth4webapi or jose read a body) and wrapped by it as the cause of its own error.
 */
export function brokerErrorIn(err: unknown): BrokerError | undefined {
  for (let current = err, depth = 0; depth < 5; current = (current as Error).cause, depth++) {
    if (current instanceof BrokerError) return current;
    if (!(current instanceof Error)) return undefined;
  }
  return undefined;
}

export function isTimeout(err: unknown): boolean {
  for (
    let current = err, depth = 0;
    current instanceof Error && depth < 5;
    current = current.cause, depth++
  ) {
    if (current.name === 'TimeoutError') return true;
  }
  return false;
}

/** oauth4webapi's own argument checks (CodedTypeError), as opposed to fetch's TypeError. */
export function isArgumentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_INVALID_ARG');
}

/** ECONNREFUSED, ENOTFOUND, … from undici's error chain, else the message. */
export function networkReason(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('ERR_INVALID_ARG')) return code;
    if (current instanceof AggregateError) {
      const first: unknown = current.errors[0];
      const inner = (first as { code?: unknown } | undefined)?.code;
      if (typeof inner === 'string') return inner;
    }
    current = current.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

export function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

export function contentType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function oauthErrorOf(body: unknown): string | undefined {
  return isRecord(body) && typeof body['error'] === 'string' && body['error'] !== ''
    ? oauthErrorCode(body['error'])
    : undefined;
}

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

export function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
