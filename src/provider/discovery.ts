/**
 * Discovery (OpenID Connect Discovery 1.0) through oauth4webapi, with the
 * provider's metadata treated as untrusted input: exact issuer, the endpoints
 * the code flow needs, https (or loopback http for a loopback issuer), no
 * shell syntax, S256 offered. Every problem is a one-line `startup_failed`.
 */
import * as oauth from 'oauth4webapi';
import { BrokerError } from '../errors.js';
import {
  brokerErrorIn,
  contentType,
  formatSeconds,
  isTimeout,
  networkReason,
  parseUrl,
  sanitize,
} from './http-util.js';
import { endpointAllowed } from './issuer.js';

/** Characters no provider endpoint needs: controls, whitespace, quotes and shell syntax (`;`, `$`, `|`, backquote…). */
// eslint-disable-next-line no-control-regex
const UNSAFE_ENDPOINT_CHARS = /[\u0000-\u0020\u007f"'`$;|<>\\^{}()]/;

/** Endpoints a provider's discovery document must list for the code flow with ID tokens. */
const REQUIRED_ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const;

export type RequestOptions = oauth.HttpRequestOptions<'GET' | 'POST', URLSearchParams | undefined>;

/**
 * Options of every oauth4webapi request: a timeout each, the transport (whose
 * bodies the caller has capped with limitBodies), http only where allowed.
 */
export function buildRequestOptions(
  transport: typeof fetch,
  issuerUrl: URL,
  timeoutMs: number,
): RequestOptions {
  const options: RequestOptions = { signal: () => AbortSignal.timeout(timeoutMs) };
  options[oauth.customFetch] = (url, init) => transport(url, init as RequestInit);
  // oauth4webapi refuses http:// unless told; issuerProblem() has already limited http to loopback.
  if (issuerUrl.protocol === 'http:') options[oauth.allowInsecureRequests] = true;
  return options;
}

export function discoveryUrlOf(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

export async function discover(
  issuer: string,
  issuerUrl: URL,
  options: RequestOptions,
  timeoutMs: number,
): Promise<oauth.AuthorizationServer> {
  const where = discoveryUrlOf(issuer);
  const response = await fetchDiscovery(issuer, issuerUrl, options, timeoutMs);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new BrokerError(
      'startup_failed',
      `The discovery document at ${where} answered HTTP ${response.status}; check the issuer URL`,
    );
  }

  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(issuerUrl, response);
  } catch (err) {
    throw discoveryError(err, issuer, where);
  }
  // oauth4webapi parses any content type; JSON served as something else is a misconfigured or hijacked endpoint.
  const type = contentType(response.headers);
  if (type !== 'application/json') {
    throw new BrokerError(
      'startup_failed',
      `The discovery document at ${where} is served as ${sanitize(type) || 'no content type'}, not application/json`,
    );
  }
  // oauth4webapi compares the issuers as parsed URLs; OIDC Discovery §4.3 wants the exact string.
  if (as.issuer !== issuer) {
    throw new BrokerError(
      'startup_failed',
      `The issuer ${issuer} answered with issuer ${sanitize(as.issuer)}; they must match exactly`,
    );
  }

  for (const name of REQUIRED_ENDPOINTS) {
    if (as[name] === undefined)
      throw new BrokerError('startup_failed', `The discovery document at ${where} has no ${name}`);
  }
  for (const [name, value] of Object.entries(as)) {
    if (!(name.endsWith('_endpoint') || name === 'jwks_uri')) continue;
    const url = typeof value === 'string' ? parseUrl(value) : undefined;
    if (url === undefined)
      throw new BrokerError(
        'startup_failed',
        `The discovery document at ${where} has a ${name} that is not a URL`,
      );
    // Harmless to a spawn without a shell, but no real endpoint has them and a shell-based opener elsewhere would run them.
    if (UNSAFE_ENDPOINT_CHARS.test(value as string)) {
      throw new BrokerError(
        'startup_failed',
        `The discovery document at ${where} lists a ${name} with whitespace, quotes or shell metacharacters; refused`,
      );
    }
    if (!endpointAllowed(url, issuerUrl)) {
      const rule = issuerUrl.protocol === 'http:' ? 'on loopback, like the issuer' : 'https';
      throw new BrokerError(
        'startup_failed',
        `The discovery document at ${where} lists ${name} ${url.href}, which is not ${rule}`,
      );
    }
  }
  const methods = as.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new BrokerError(
      'startup_failed',
      `The identity provider at ${issuer} does not support PKCE with S256 (code_challenge_methods_supported)`,
    );
  }
  return as;
}

/** The discovery GET, retried once on a transport failure or a 5xx (it is idempotent); never on a 4xx. */
export async function fetchDiscovery(
  issuer: string,
  issuerUrl: URL,
  options: RequestOptions,
  timeoutMs: number,
): Promise<Response> {
  const attempts = 2;
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await oauth.discoveryRequest(issuerUrl, {
        ...options,
        algorithm: 'oidc',
      } as oauth.DiscoveryRequestOptions);
    } catch (err) {
      if (attempt < attempts) continue;
      if (isTimeout(err)) {
        throw new BrokerError(
          'startup_failed',
          `The identity provider at ${issuer} did not answer within ${formatSeconds(timeoutMs)}`,
          { cause: err },
        );
      }
      throw new BrokerError(
        'startup_failed',
        `Cannot reach the identity provider at ${issuer} (${networkReason(err)})`,
        { cause: err },
      );
    }
    if (response.status >= 500 && attempt < attempts) {
      await response.body?.cancel().catch(() => undefined);
      continue;
    }
    return response;
  }
}

export function discoveryError(err: unknown, issuer: string, where: string): BrokerError {
  // The body cap (limitBodies) fails the read with a BrokerError, which oauth4webapi wraps as a parse error.
  const fault = brokerErrorIn(err);
  if (fault !== undefined)
    return new BrokerError('startup_failed', fault.message, { cause: fault });
  const code = err instanceof oauth.OperationProcessingError ? err.code : undefined;
  switch (code) {
    case oauth.PARSE_ERROR:
    case oauth.RESPONSE_IS_NOT_JSON:
      return new BrokerError(
        'startup_failed',
        `The discovery document at ${where} is not valid JSON`,
        { cause: err },
      );
    case oauth.JSON_ATTRIBUTE_COMPARISON: {
      const body = (err as { cause?: { body?: { issuer?: unknown } } }).cause?.body;
      const answered = typeof body?.issuer === 'string' ? body.issuer : 'another issuer';
      return new BrokerError(
        'startup_failed',
        `The issuer ${issuer} answered with issuer ${sanitize(answered)}; they must match exactly`,
        { cause: err },
      );
    }
    case oauth.INVALID_RESPONSE:
      return new BrokerError(
        'startup_failed',
        /issuer/.test((err as Error).message)
          ? `The discovery document at ${where} has no issuer`
          : `The discovery document at ${where} is not a JSON object`,
        { cause: err },
      );
    default:
      // new URL(body.issuer) threw: the document's issuer is not a URL.
      if (err instanceof TypeError)
        return new BrokerError(
          'startup_failed',
          `The discovery document at ${where} has an issuer that is not a URL`,
          { cause: err },
        );
      return new BrokerError(
        'startup_failed',
        `The discovery document at ${where} is not usable (${(err as Error).message})`,
        { cause: err },
      );
  }
}
