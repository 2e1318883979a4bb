/**
 * What `pkce-broker doctor` checks and reports: one result per check, for
 * people (one line with ✔/✖/!) and for scripts (--json).
 */
import type { ParChoice, ResponseModeChoice } from '../provider/choices.js';

export type CheckStatus = 'ok' | 'fail' | 'warn';

/** Stable names a script can branch on. */
export type CheckId =
  | 'discovery'
  | 'issuer'
  | 'endpoints'
  | 's256'
  | 'response_mode'
  | 'iss_parameter'
  | 'par'
  | 'device_flow'
  | 'revocation'
  | 'end_session'
  | 'jwks'
  | 'redirect_uri'
  | 'client_auth'
  | 'port';

export interface CheckResult {
  readonly id: CheckId;
  /** `fail`: a sign-in cannot work until it is fixed; `warn`: it can, with what the detail says. */
  readonly status: CheckStatus;
  readonly title: string;
  readonly detail: string;
  /** What to do, for a fail or a warn. */
  readonly fix?: string;
  /** The provider's id (config `id`, `default` for the flags'); absent for broker-wide checks. */
  readonly provider?: string;
}

/** One provider's settings, as `serve` would use them. */
export interface DoctorProviderSettings {
  readonly id: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly audience?: string;
  readonly scope: readonly string[];
  /** The callback registered at the provider; undefined when it is not known before start (--port 0). */
  readonly redirectUri: string | undefined;
  readonly responseMode: ResponseModeChoice;
  readonly par: ParChoice;
  readonly timeoutMs: number;
  /** Transport, for tests. Default: the global fetch. */
  readonly fetch?: typeof fetch;
}

export function result(
  id: CheckId,
  status: CheckStatus,
  title: string,
  detail: string,
  fix?: string,
): CheckResult {
  return fix === undefined ? { id, status, title, detail } : { id, status, title, detail, fix };
}
