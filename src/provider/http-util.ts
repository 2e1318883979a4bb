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
    ? sanitize(body['error'])
    : undefined;
}

/** Provider text goes into messages: keep it one short printable line. */
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
