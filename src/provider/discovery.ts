/**
 * Discovery (OpenID Connect Discovery 1.0) through oauth4webapi, with the
 * provider's metadata treated as untrusted input: exact issuer, the endpoints
 * the code flow needs, https (or loopback http for a loopback issuer), no
 * shell syntax, S256 offered. Every problem is a one-line `startup_failed`.
 */
import * as oauth from 'oauth4webapi';
import { BrokerError } from '../errors.js';
import {
  expectJson,
  issuerMismatch,
  upstreamError,
  unexpectedStatus,
  type UpstreamCall,
} from './upstream-errors.js';
import { multiTenantIssuer } from './entra.js';
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

/**
 * Discovery failures that say the provider could not be reached (no answer,
 * a timeout, a 5xx after the retry), as opposed to a configuration mistake
 * (4xx, an invalid document, another issuer). Both are `startup_failed`; the
 * registry keeps a provider of several that is only unreachable, and a
 * WeakSet says which without reading message text.
 */
const unreachable = new WeakSet<Error>();

export function isUnreachable(error: unknown): boolean {
  return error instanceof Error && unreachable.has(error);
}

function markUnreachable<E extends Error>(error: E): E {
  unreachable.add(error);
  return error;
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
  const as = await fetchMetadata(issuer, issuerUrl, options, timeoutMs);
  refuseProblems(as, issuer, issuerUrl);
  return as;
}

/**
 * A document the broker kept (discovery-cache.ts) judged as a fresh one is:
 * a JSON object, the exact issuer, then metadataProblems. What a fresh
 * answer gets from oauth4webapi's parse (an object with a string issuer) is
 * checked here, as the kept one never went through it.
 */
export function acceptKeptMetadata(
  metadata: unknown,
  issuer: string,
  issuerUrl: URL,
): oauth.AuthorizationServer {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new BrokerError(
      'startup_failed',
      `The kept discovery document of ${issuer} is not an object`,
    );
  const as = metadata as oauth.AuthorizationServer;
  requireExactIssuer(issuer, as);
  refuseProblems(as, issuer, issuerUrl);
  return as;
}

function refuseProblems(as: oauth.AuthorizationServer, issuer: string, issuerUrl: URL): void {
  const [problem] = metadataProblems(as, issuer, issuerUrl);
  if (problem !== undefined) throw new BrokerError('startup_failed', problem.message);
}

/** OIDC Discovery §4.3: the document names exactly the configured issuer (Entra's multi-tenant ones, Microsoft's: entra.ts). */
function requireExactIssuer(issuer: string, as: oauth.AuthorizationServer): void {
  const expected = multiTenantIssuer(issuer) ?? issuer;
  if (as.issuer !== expected) throw issuerMismatch(issuer, as.issuer);
}

/**
 * The discovery document, fetched and parsed by oauth4webapi, with the exact
 * issuer; what it lists is judged by metadataProblems.
 */
export async function fetchMetadata(
  issuer: string,
  issuerUrl: URL,
  options: RequestOptions,
  timeoutMs: number,
): Promise<oauth.AuthorizationServer> {
  const where = discoveryUrlOf(issuer);
  const call: UpstreamCall = {
    endpoint: 'discovery',
    name: 'discovery request',
    timeoutMs,
    startup: { issuer, document: where },
  };
  const response = await fetchDiscovery(issuerUrl, options, call);
  if (response.status >= 500) throw markUnreachable(await unexpectedStatus(response, call));
  if (response.status !== 200) throw await unexpectedStatus(response, call);

  // Microsoft's multi-tenant documents name a template or a tenant, never the configured URL (entra.ts).
  const expected = multiTenantIssuer(issuer) ?? issuer;
  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(new URL(expected), response);
  } catch (err) {
    throw upstreamError(err, call);
  }
  // After parsing: for a body that is not JSON at all, "not valid JSON" is the clearer message.
  expectJson(response, call);
  // oauth4webapi compares the issuers as parsed URLs; OIDC Discovery §4.3 wants the exact string.
  requireExactIssuer(issuer, as);
  return as;
}

/** A rule a discovery document breaks: an endpoint (missing, not a URL, unsafe, not https) or PKCE without S256. */
export interface MetadataProblem {
  readonly rule: 'endpoint' | 's256';
  /** The metadata field at fault, e.g. `token_endpoint`. */
  readonly field: string;
  readonly message: string;
}

/**
 * Every rule the document breaks, in the order discover() checks them: it
 * refuses the first, `pkce-broker doctor` reports them all.
 */
export function metadataProblems(
  as: oauth.AuthorizationServer,
  issuer: string,
  issuerUrl: URL,
): MetadataProblem[] {
  const where = discoveryUrlOf(issuer);
  const problems: MetadataProblem[] = [];
  const endpoint = (field: string, message: string): void => {
    problems.push({ rule: 'endpoint', field, message });
  };
  for (const name of REQUIRED_ENDPOINTS) {
    if (as[name] === undefined) endpoint(name, `The discovery document at ${where} has no ${name}`);
  }
  for (const [name, value] of Object.entries(as)) {
    if (!(name.endsWith('_endpoint') || name === 'jwks_uri')) continue;
    const url = typeof value === 'string' ? parseUrl(value) : undefined;
    if (url === undefined) {
      endpoint(name, `The discovery document at ${where} has a ${name} that is not a URL`);
      continue;
    }
    // Harmless to a spawn without a shell, but no real endpoint has them and a shell-based opener elsewhere would run them.
    if (UNSAFE_ENDPOINT_CHARS.test(value as string)) {
      endpoint(
        name,
        `The discovery document at ${where} lists a ${name} with whitespace, quotes or shell metacharacters; refused`,
      );
      continue;
    }
    if (!endpointAllowed(url, issuerUrl)) {
      const rule = issuerUrl.protocol === 'http:' ? 'on loopback, like the issuer' : 'https';
      endpoint(
        name,
        `The discovery document at ${where} lists ${name} ${url.href}, which is not ${rule}`,
      );
    }
  }
  const methods = as.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    problems.push({
      rule: 's256',
      field: 'code_challenge_methods_supported',
      message: `The identity provider at ${issuer} does not support PKCE with S256 (code_challenge_methods_supported)`,
    });
  }
  return problems;
}

/** The discovery GET, retried once on a transport failure or a 5xx (it is idempotent); never on a 4xx. */
async function fetchDiscovery(
  issuerUrl: URL,
  options: RequestOptions,
  call: UpstreamCall,
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
      throw markUnreachable(upstreamError(err, call));
    }
    if (response.status >= 500 && attempt < attempts) {
      await response.body?.cancel().catch(() => undefined);
      continue;
    }
    return response;
  }
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
