/**
 * Reading faults that come from outside: what a failed `fetch` says about the
 * network, and whether a parsed JSON value is an object. Shared by the
 * provider client, the CLI's broker client and the bundled provider.
 */

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null | undefined)?.code;
}

/**
 * ECONNREFUSED, ENOTFOUND, … from undici's error chain (fetch wraps the
 * socket's error in `cause`, sometimes in an AggregateError), else the message.
 */
export function networkReason(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = codeOf(current);
    if (typeof code === 'string' && !code.startsWith('ERR_INVALID_ARG')) return code;
    if (current instanceof AggregateError) {
      const inner = codeOf(current.errors[0]);
      if (typeof inner === 'string') return inner;
    }
    current = current.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
