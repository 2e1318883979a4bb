/**
 * The one error type of the broker. Every failure that reaches a caller is a
 * BrokerError with a stable `code`; the HTTP layer renders it as RFC 9457
 * problem+json in one place (src/http/problem.ts), the CLI as one line.
 */

/** Stable codes of HTTP answers, with the status each maps to. */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_grant: 400,
  invalid_callback: 400,
  /** POST /pkce/revoke for a provider without a revocation_endpoint (RFC 7009). */
  revocation_unsupported: 400,
  unauthorized_app: 401,
  /** The provider has no device_authorization_endpoint (RFC 8628). */
  device_flow_unsupported: 400,
  access_denied: 403,
  forbidden_origin: 403,
  not_found: 404,
  method_not_allowed: 405,
  flow_cleared: 409,
  /** Another POST /pkce/code waits on this flow, or the flow is one its starter alone may see. */
  flow_busy: 409,
  /** The device code expired before the user finished (RFC 8628 §3.5). */
  expired_token: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  misdirected_request: 421,
  too_many_flows: 429,
  too_many_waiters: 429,
  /** One flow's budget of a costly request is spent for now (src/http/limits.ts). */
  too_many_requests: 429,
  internal: 500,
  provider_error: 502,
  provider_unavailable: 502,
  /** A configured provider that was unreachable at start and has not been discovered since. */
  provider_down: 503,
  store_unavailable: 503,
  shutting_down: 503,
  wait_timeout: 504,
  provider_timeout: 504,
} as const;

/**
 * Faults that keep the broker from starting (options, port, discovery, Redis at
 * connect), with the exit code of the command line: 2 for a configuration
 * mistake the person fixes in the options, 1 for the rest. They are never an
 * HTTP answer.
 */
export const STARTUP_EXIT_CODE = {
  config_invalid: 2,
  startup_failed: 1,
} as const;

export type HttpErrorCode = keyof typeof ERROR_STATUS;
export type StartupErrorCode = keyof typeof STARTUP_EXIT_CODE;
export type BrokerErrorCode = HttpErrorCode | StartupErrorCode;

export function isStartupErrorCode(code: string): code is StartupErrorCode {
  return Object.hasOwn(STARTUP_EXIT_CODE, code);
}

export interface BrokerErrorOptions {
  /** The OAuth `error` value, where one applies (RFC 6749 §5.2, §4.1.2.1). */
  oauthError?: string;
  /** Seconds after which a retry may succeed (sent as Retry-After). */
  retryAfter?: number;
  cause?: unknown;
}

export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  readonly status: number;
  readonly oauthError: string | undefined;
  readonly retryAfter: number | undefined;
  /** Whether the message may be shown to a caller; 5xx detail stays in the log. */
  readonly expose: boolean;

  constructor(code: BrokerErrorCode, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BrokerError';
    this.code = code;
    // A start-up fault that reaches an HTTP answer anyway is a bug: a 500 whose detail stays in the log.
    this.status = isStartupErrorCode(code) ? 500 : ERROR_STATUS[code];
    this.oauthError = options.oauthError;
    this.retryAfter = options.retryAfter;
    // Provider and store faults are described by us, not echoed from upstream, so they may be shown.
    this.expose =
      this.status < 500 ||
      code.startsWith('provider_') ||
      code === 'store_unavailable' ||
      code === 'shutting_down' ||
      code === 'wait_timeout';
  }
}

export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError;
}
