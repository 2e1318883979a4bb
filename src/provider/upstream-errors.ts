/**
 * Every failure of a call to the identity provider becomes a BrokerError here,
 * and only here: discovery, the token and refresh requests, the JWKS, the
 * callback's validation, and each call added later (userinfo, revocation,
 * device authorization, PAR) passes what it catches to `upstreamError` with
 * an `UpstreamCall` that names it.
 *
 * Errors are told apart by class, by oauth4webapi's and jose's stable `code`s,
 * by the shape of oauth4webapi's `cause` and by HTTP status, never by message
 * text. Library messages name a rule, never a value, so they may be shown
 * (`detail`); they are never matched.
 */
import * as oauth from 'oauth4webapi';
import { BrokerError, type BrokerErrorCode } from '../errors.js';
import { oauthErrorCode, sanitize } from './http-util.js';
import type { CallbackCheck } from './types.js';
import { isRecord, networkReason } from '../fault.js';

/** The provider's endpoints the broker calls: a closed set, so it can label a metric. */
export type ProviderEndpoint =
  | 'discovery'
  | 'jwks'
  | 'par'
  | 'token'
  | 'refresh'
  | 'device_authorization'
  | 'device_token'
  | 'revocation'
  | 'userinfo';

/**
 * Told of every finished call to one provider (the metrics' latency
 * histogram): `ok`, or the BrokerError code it ended in.
 */
export type CallObserver = (
  endpoint: ProviderEndpoint,
  outcome: 'ok' | BrokerErrorCode,
  seconds: number,
) => void;

/** One kind of request to the provider, as its errors name it. */
export interface UpstreamCall {
  readonly endpoint: ProviderEndpoint;
  /** The provider's observer, from its configuration; absent, nobody is told. */
  readonly observe?: CallObserver | undefined;
  /** A noun phrase: "did not answer the token request". */
  readonly name: string;
  readonly timeoutMs: number;
  /**
   * The provider judges a request the app asked for (PAR: the authorization
   * request), so the OAuth errors it answers about that request are the
   * app's to fix: 400 with the provider's `error`, not 502. Errors about the
   * broker's client or the provider itself stay 502.
   */
  readonly judgesRequest?: boolean;
  /**
   * Set for discovery: it runs before the broker serves, so its faults are
   * `startup_failed`, phrased for the person starting the broker.
   */
  readonly startup?: {
    readonly issuer: string;
    /** The discovery document's URL. */
    readonly document: string;
  };
}

/** What went wrong, whatever the call. */
type Fault =
  /** A BrokerError of ours raised inside a library call: the body cap, a status our transport judged. */
  | { kind: 'ours'; error: BrokerError }
  | { kind: 'timeout' }
  | { kind: 'unreachable'; reason: string }
  /** The request could not be built (oauth4webapi's argument checks). */
  | { kind: 'unsendable'; detail: string }
  /** `unexplained`: a 4xx whose body is no OAuth error. */
  | { kind: 'status'; status: number; unexplained: boolean; oauthError?: string }
  | { kind: 'not_json' }
  | { kind: 'unparsable'; detail: string }
  /** An OAuth error body (RFC 6749 §5.2). */
  | { kind: 'refused'; status: number; error: string; description: string }
  /** A WWW-Authenticate challenge (RFC 6750 §3, RFC 9449). */
  | { kind: 'challenged'; status: number; error: string | undefined }
  | { kind: 'id_token'; check: string }
  /** An attribute of a JSON answer other than expected (discovery's issuer). */
  | { kind: 'mismatch'; attribute: string; value: unknown }
  | { kind: 'malformed'; detail: string; body?: unknown; badUrl?: true }
  /** None of the above: a bug, or a transport that fails in its own way. */
  | { kind: 'unexpected'; detail: string };

/** The BrokerError for anything a call to the provider threw. */
export function upstreamError(err: unknown, call: UpstreamCall): BrokerError {
  return render(classify(err), call, err);
}

/** An answer that came whole but breaks a rule the broker holds it to (`detail` says which). */
export function invalidAnswer(call: UpstreamCall, detail: string): BrokerError {
  return render({ kind: 'malformed', detail }, call);
}

/**
 * The BrokerError for an ID token whose signature jose would not verify;
 * `header` names the key it asked for. Transport faults of the JWKS fetch
 * inside jose are `call`'s.
 */
export function signatureError(
  err: unknown,
  header: { kid?: unknown },
  call: UpstreamCall,
): BrokerError {
  if (joseCodeOf(err) === 'ERR_JWKS_NO_MATCHING_KEY') {
    const kid =
      typeof header.kid === 'string' ? ` (kid ${sanitize(JSON.stringify(header.kid))})` : '';
    return idTokenError(`no key in the provider's JWKS matches the token's header${kid}`, err);
  }
  return upstreamError(err, call);
}

/** An ID token check failed; `check` says which, without the token. */
export function idTokenError(check: string, cause?: unknown): BrokerError {
  const { code, message, oauthError } = idTokenFault(check);
  return new BrokerError(code, message, { oauthError, ...(cause !== undefined && { cause }) });
}

function idTokenFault(check: string): Description & { oauthError: string } {
  return {
    code: 'provider_error',
    message: `${ID_TOKEN_FAILED}${check}`,
    oauthError: 'invalid_id_token',
  };
}

const ID_TOKEN_FAILED = 'The ID token failed validation: ';

/** Said the same by oauth4webapi's algorithm check and ours. */
export const UNSIGNED_REFUSED = 'alg "none" (unsigned) is refused';

/**
 * An answer whose status oauth4webapi does not judge (or judges without
 * reading the body): the body is read, capped, only for the OAuth `error` it
 * may name. Discovery's body is not read: its status is the whole story.
 */
export async function unexpectedStatus(
  response: Response,
  call: UpstreamCall,
): Promise<BrokerError> {
  let oauthError: string | undefined;
  if (call.startup === undefined) {
    try {
      const body: unknown = await response.json();
      if (isRecord(body) && typeof body['error'] === 'string' && body['error'] !== '')
        oauthError = oauthErrorCode(body['error']);
    } catch {
      // Not JSON, too large, cut short: the status is the fault either way.
    }
  } else {
    await response.body?.cancel().catch(() => undefined);
  }
  return render(
    {
      kind: 'status',
      status: response.status,
      unexplained: false,
      ...(oauthError !== undefined && { oauthError }),
    },
    call,
  );
}

/**
 * oauth4webapi parses any content type that holds JSON (it looks at the type
 * only once parsing failed); JSON served as something else is a misconfigured
 * or hijacked endpoint.
 */
export function expectJson(response: Response, call: UpstreamCall): void {
  const type = contentType(response.headers);
  if (type === 'application/json') return;
  const shown = sanitize(type);
  if (call.startup !== undefined) {
    throw new BrokerError(
      'startup_failed',
      `The discovery document at ${call.startup.document} is served as ${shown || 'no content type'}, not application/json`,
    );
  }
  throw new BrokerError(
    'provider_error',
    `The identity provider answered the ${call.name} with content type ${shown || 'none'}, not application/json`,
  );
}

/** OIDC Discovery §4.3: the document's issuer must be the configured one, exactly. */
export function issuerMismatch(issuer: string, answered: unknown): BrokerError {
  return new BrokerError('startup_failed', issuerMismatchMessage(issuer, answered));
}

function issuerMismatchMessage(issuer: string, answered: unknown): string {
  const shown = typeof answered === 'string' ? sanitize(answered) : 'another issuer';
  return `The issuer ${issuer} answered with issuer ${shown}; they must match exactly`;
}

/** A failed callback: how oauth4webapi's validateAuthResponse refused it. */
export type CallbackProblem = Extract<CallbackCheck, { ok: false }>;

/**
 * What a callback that validateAuthResponse refused becomes. The provider's
 * `error=` is text anyone holding the state can send, and it reaches the app,
 * the callback page and the log: the code is checked and the description made
 * one short printable line here, before the flow stores them.
 */
export function callbackProblem(err: unknown, issuer: string): CallbackProblem {
  if (err instanceof oauth.AuthorizationResponseError) {
    const error = oauthErrorCode(err.error);
    const description = sanitize(err.error_description ?? '');
    return description === ''
      ? { ok: false, kind: 'denied', error }
      : { ok: false, kind: 'denied', error, description };
  }
  return {
    ok: false,
    kind: 'invalid',
    error: 'invalid_request',
    description: callbackReason(err, issuer),
  };
}

/** A short reason, with no parameter values, from the cause oauth4webapi attaches to each of its checks. */
function callbackReason(err: unknown, issuer: string): string {
  if (err instanceof oauth.UnsupportedOperationError)
    return 'implicit and hybrid responses are not supported';
  if (!(err instanceof oauth.OperationProcessingError) || err.code !== oauth.INVALID_RESPONSE)
    return 'the callback is not a valid authorization response';
  const cause: unknown = err.cause;
  // A parameter given twice is refused before any check, with no cause.
  if (!isRecord(cause)) return 'the callback repeats a parameter';
  const parameters = cause['parameters'];
  if (!(parameters instanceof URLSearchParams))
    return 'the callback is not a valid authorization response';
  // Without `expected`: the JARM check, then the missing iss (in this order).
  if (!('expected' in cause)) {
    return parameters.has('response')
      ? 'JARM responses are not supported'
      : 'the callback has no iss parameter, which this provider requires (RFC 9207)';
  }
  // With `expected`: the issuer's, then the state's.
  if (cause['expected'] === issuer && parameters.get('iss') !== issuer)
    return "the callback's iss is not the provider's issuer";
  return parameters.has('state')
    ? "the callback's state does not match the flow's"
    : 'the callback has no state';
}

// ---------------------------------------------------------------- classification

function classify(err: unknown): Fault {
  const ours = brokerErrorIn(err);
  if (ours !== undefined) return { kind: 'ours', error: ours };
  if (isTimeout(err)) return { kind: 'timeout' };
  if (err instanceof oauth.ResponseBodyError) {
    return {
      kind: 'refused',
      status: err.status,
      error: err.error,
      description: err.error_description ?? '',
    };
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    const error = err.cause.find((challenge) => challenge.parameters.error !== undefined)
      ?.parameters.error;
    return { kind: 'challenged', status: err.status, error };
  }
  if (err instanceof oauth.OperationProcessingError) return processingFault(err);
  if (err instanceof oauth.UnsupportedOperationError) return unsupportedFault(err);
  const joseCode = joseCodeOf(err);
  if (joseCode !== undefined) return joseFault(err as Error, joseCode);
  if (isArgumentError(err)) return { kind: 'unsendable', detail: (err as Error).message };
  // new URL() on a URL the provider sent (discovery's issuer).
  if (codeOf(err) === 'ERR_INVALID_URL')
    return { kind: 'malformed', detail: 'a URL in it is not a URL', badUrl: true };
  // fetch fails with a TypeError whose cause names the socket error.
  if (err instanceof TypeError) return { kind: 'unreachable', reason: networkReason(err) };
  return { kind: 'unexpected', detail: err instanceof Error ? err.message : String(err) };
}

function processingFault(err: oauth.OperationProcessingError): Fault {
  const cause: unknown = err.cause;
  switch (err.code) {
    case oauth.RESPONSE_IS_NOT_CONFORM:
    case oauth.RESPONSE_IS_NOT_JSON:
      // Both carry the Response: a 200 that is not JSON, or a status the call does not expect.
      if (cause instanceof Response) {
        return cause.status === 200
          ? { kind: 'not_json' }
          : { kind: 'status', status: cause.status, unexplained: cause.status >= 400 };
      }
      break;
    case oauth.PARSE_ERROR:
      // A body cut short by the network fails its parse with undici's TypeError.
      if (cause instanceof TypeError && !isArgumentError(cause))
        return { kind: 'unreachable', reason: networkReason(cause) };
      return { kind: 'unparsable', detail: err.message };
    case oauth.JSON_ATTRIBUTE_COMPARISON:
      if (isRecord(cause) && typeof cause['attribute'] === 'string') {
        const body = cause['body'];
        const attribute = cause['attribute'];
        return { kind: 'mismatch', attribute, value: isRecord(body) ? body[attribute] : undefined };
      }
      break;
    // The only JWTs oauth4webapi checks for the broker are ID tokens.
    case oauth.JWT_CLAIM_COMPARISON:
      return { kind: 'id_token', check: claimMismatch(cause) };
    case oauth.JWT_TIMESTAMP_CHECK:
      return { kind: 'id_token', check: timestampFailure(cause) };
    case oauth.INVALID_RESPONSE:
      // validateJwt passes the token itself when its structure is wrong.
      if (typeof cause === 'string')
        return { kind: 'id_token', check: 'it is not a JWT in JWS compact serialization' };
      if (isRecord(cause) && isRecord(cause['header']))
        return { kind: 'id_token', check: algorithmRefusal(cause['header'], cause['expected']) };
      if (isRecord(cause) && isRecord(cause['claims']))
        return { kind: 'id_token', check: claimProblem(cause['claims']) };
      if (isRecord(cause) && 'body' in cause)
        return { kind: 'malformed', detail: err.message, body: cause['body'] };
      break;
  }
  return { kind: 'malformed', detail: err.message };
}

function unsupportedFault(err: oauth.UnsupportedOperationError): Fault {
  const cause: unknown = err.cause;
  // The token itself when it has five parts (JWE) and no decryption is configured.
  if (typeof cause === 'string')
    return { kind: 'id_token', check: 'it is encrypted (JWE), which the broker does not support' };
  if (isRecord(cause) && isRecord(cause['header']))
    return { kind: 'id_token', check: 'its header has a "crit" parameter; refused' };
  return { kind: 'malformed', detail: err.message };
}

/** jose's documented error codes: its classes need not be loaded to tell them apart. */
function joseCodeOf(err: unknown): string | undefined {
  const code = codeOf(err);
  return err instanceof Error &&
    typeof code === 'string' &&
    (code.startsWith('ERR_JOSE_') || /^ERR_JW[SEKT]S?_/.test(code))
    ? code
    : undefined;
}

function joseFault(err: Error, code: string): Fault {
  switch (code) {
    case 'ERR_JWKS_TIMEOUT':
      return { kind: 'timeout' };
    case 'ERR_JWKS_INVALID':
      return { kind: 'malformed', detail: 'it is not a valid JWK set' };
    case 'ERR_JOSE_GENERIC':
      // The JWKS fetch: a body that is not JSON, or one the network cut short.
      if (err.cause instanceof TypeError && !isArgumentError(err.cause))
        return { kind: 'unreachable', reason: networkReason(err.cause) };
      return { kind: 'unparsable', detail: err.message };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { kind: 'id_token', check: "the signature does not verify with the provider's keys" };
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return {
        kind: 'id_token',
        check: "several keys in the provider's JWKS match the token's header and none verifies it",
      };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return { kind: 'id_token', check: 'its alg is not allowed' };
    default:
      return { kind: 'id_token', check: `its signature cannot be verified (${err.message})` };
  }
}

// ---------------------------------------------------------------- ID token checks, named

/** JWT_CLAIM_COMPARISON: `cause.claim` names the claim, `cause.expected` what it should have been. */
function claimMismatch(cause: unknown): string {
  if (!isRecord(cause)) return 'a claim does not have the expected value';
  const claims = isRecord(cause['claims']) ? cause['claims'] : {};
  switch (cause['claim']) {
    case 'iss':
      return `iss ${quote(claims['iss'])} is not the issuer ${quote(cause['expected'])}`;
    case 'aud':
      // Two checks compare aud: containment (with `expected`), and several audiences without azp.
      return 'expected' in cause
        ? 'aud does not contain this client_id'
        : 'aud has several audiences but azp is missing';
    case 'azp':
      return 'azp is not this client_id';
    case 'nonce':
      return "nonce does not match the flow's";
    default:
      return `${quote(cause['claim'])} does not have the expected value`;
  }
}

/** JWT_TIMESTAMP_CHECK: `cause.claim` is the time that is out of range (clock tolerance applied). */
function timestampFailure(cause: unknown): string {
  switch (isRecord(cause) ? cause['claim'] : undefined) {
    case 'exp':
      return 'exp is in the past: the token has expired';
    case 'nbf':
      return 'nbf is in the future';
    case 'auth_time':
      return 'auth_time is too long ago';
    default:
      return 'a time claim is out of range';
  }
}

/** The header's alg is not one oauth4webapi expects (`expected`: the provider's list, or its default). */
function algorithmRefusal(header: Record<string, unknown>, expected: unknown): string {
  const alg = header['alg'];
  if (typeof alg !== 'string' || alg === '') return 'the header has no alg';
  if (alg.toLowerCase() === 'none') return UNSIGNED_REFUSED;
  const list = Array.isArray(expected) ? expected.map(String).join(', ') : String(expected);
  return `alg ${sanitize(alg)} is not one of the expected algorithms (${sanitize(list)})`;
}

const NUMERIC_CLAIMS = ['exp', 'iat', 'nbf'];
const PRESENT_CLAIMS = ['aud', 'exp', 'iat', 'iss', 'sub'];

/**
 * INVALID_RESPONSE with the claims as cause: a claim oauth4webapi requires is
 * missing or of the wrong type. The cause does not say which, so the claims
 * are looked at in the order oauth4webapi checks them (types, presence, sub,
 * nonce, auth_time) and the first fault named.
 */
function claimProblem(claims: Record<string, unknown>): string {
  for (const name of NUMERIC_CLAIMS) {
    if (claims[name] !== undefined && typeof claims[name] !== 'number')
      return `${name} is not a number`;
  }
  if (claims['iss'] !== undefined && typeof claims['iss'] !== 'string')
    return 'iss is not a string';
  const aud = claims['aud'];
  if (aud !== undefined && typeof aud !== 'string' && !Array.isArray(aud))
    return 'aud is malformed';
  for (const name of PRESENT_CLAIMS) if (claims[name] === undefined) return `${name} is missing`;
  if (typeof claims['sub'] !== 'string') return 'sub is not a string';
  if (claims['nonce'] === undefined) return 'nonce is missing';
  if (claims['auth_time'] !== undefined && typeof claims['auth_time'] !== 'number')
    return 'auth_time is not a number';
  return 'a claim is missing or malformed';
}

// ---------------------------------------------------------------- rendering

/** `cause`: what the library threw, kept for the log (whose serializer scrubs secrets), never shown. */
function render(fault: Fault, call: UpstreamCall, cause?: unknown): BrokerError {
  if (fault.kind === 'ours') {
    return call.startup === undefined
      ? fault.error
      : new BrokerError('startup_failed', fault.error.message, { cause: fault.error });
  }
  const { code, message, oauthError } =
    call.startup === undefined
      ? describeRequestFault(fault, call)
      : describeStartupFault(fault, call, call.startup);
  return new BrokerError(code, message, {
    ...(oauthError !== undefined && { oauthError }),
    ...(cause !== undefined && { cause }),
  });
}

/** OAuth errors that blame the broker's client registration or the provider, never the request (RFC 6749 §5.2, §4.1.2.1). */
const NOT_THE_REQUEST = new Set([
  'invalid_client',
  'unauthorized_client',
  'server_error',
  'temporarily_unavailable',
]);

interface Description {
  code: BrokerErrorCode;
  message: string;
  oauthError?: string | undefined;
}

function describeRequestFault(
  fault: Exclude<Fault, { kind: 'ours' }>,
  call: UpstreamCall,
): Description {
  const answer = `The identity provider's answer to the ${call.name}`;
  switch (fault.kind) {
    case 'timeout':
      return {
        code: 'provider_timeout',
        message: `The identity provider did not answer the ${call.name} within ${formatSeconds(call.timeoutMs)}`,
      };
    case 'unreachable':
      return {
        code: 'provider_unavailable',
        message: `Cannot reach the identity provider for the ${call.name} (${fault.reason})`,
      };
    case 'unsendable':
      return {
        code: 'invalid_request',
        message: `The ${call.name} cannot be made: ${fault.detail}`,
        oauthError: 'invalid_request',
      };
    case 'status':
      return {
        code: 'provider_error',
        message: `The identity provider answered ${fault.status} to the ${call.name}${fault.unexplained ? ' without an OAuth error' : ''}`,
        oauthError: fault.oauthError,
      };
    case 'refused': {
      const description = fault.description === '' ? '' : `: ${sanitize(fault.description)}`;
      // RFC 6749 §5.2: the grant (code, refresh token) is what is wrong; the app asks again.
      if (fault.error === 'invalid_grant') {
        return {
          code: 'invalid_grant',
          message: `The identity provider refused the grant (invalid_grant)${description}`,
          oauthError: 'invalid_grant',
        };
      }
      const oauthError = oauthErrorCode(fault.error);
      return {
        code:
          call.judgesRequest === true && !NOT_THE_REQUEST.has(oauthError)
            ? 'invalid_request'
            : 'provider_error',
        message: `The identity provider answered ${fault.status} to the ${call.name}: ${sanitize(fault.error)}${description}`,
        oauthError,
      };
    }
    case 'challenged':
      return {
        code: 'provider_error',
        message: `The identity provider answered ${fault.status} to the ${call.name} with an authentication challenge${fault.error === undefined ? '' : ` (${sanitize(fault.error)})`}`,
        oauthError: fault.error === undefined ? undefined : oauthErrorCode(fault.error),
      };
    case 'id_token':
      return idTokenFault(fault.check);
    case 'not_json':
      return { code: 'provider_error', message: `${answer} is not valid JSON` };
    case 'mismatch':
      return {
        code: 'provider_error',
        message: `${answer} is not valid: its ${fault.attribute} is not the expected one`,
      };
    case 'unparsable':
    case 'malformed':
      return { code: 'provider_error', message: `${answer} is not valid: ${fault.detail}` };
    case 'unexpected':
      return { code: 'provider_error', message: `The ${call.name} failed: ${fault.detail}` };
  }
}

function describeStartupFault(
  fault: Exclude<Fault, { kind: 'ours' }>,
  call: UpstreamCall,
  { issuer, document }: NonNullable<UpstreamCall['startup']>,
): Description {
  const fail = (message: string): Description => ({ code: 'startup_failed', message });
  const unusable = `The discovery document at ${document}`;
  switch (fault.kind) {
    case 'timeout':
      return fail(
        `The identity provider at ${issuer} did not answer within ${formatSeconds(call.timeoutMs)}`,
      );
    case 'unreachable':
      return fail(`Cannot reach the identity provider at ${issuer} (${fault.reason})`);
    case 'status':
    case 'refused':
    case 'challenged':
      return fail(`${unusable} answered HTTP ${fault.status}; check the issuer URL`);
    case 'not_json':
    case 'unparsable':
      return fail(`${unusable} is not valid JSON`);
    case 'mismatch':
      return fail(
        fault.attribute === 'issuer'
          ? issuerMismatchMessage(issuer, fault.value)
          : `${unusable} has an unexpected ${fault.attribute}`,
      );
    case 'malformed':
      if (fault.badUrl === true) return fail(`${unusable} has an issuer that is not a URL`);
      if ('body' in fault && !isRecord(fault.body)) return fail(`${unusable} is not a JSON object`);
      if (isRecord(fault.body) && typeof fault.body['issuer'] !== 'string')
        return fail(`${unusable} has no issuer`);
      return fail(`${unusable} is not usable (${fault.detail})`);
    case 'unsendable':
    case 'id_token':
    case 'unexpected':
      return fail(`${unusable} cannot be used (${'detail' in fault ? fault.detail : fault.check})`);
  }
}

// ---------------------------------------------------------------- inspecting errors

/**
 * A BrokerError raised inside a library call (e.g. by the body cap while
 * oauth4webapi or jose read a body) and wrapped by it as the cause of its own error.
 */
function brokerErrorIn(err: unknown): BrokerError | undefined {
  for (let current = err, depth = 0; depth < 5; current = (current as Error).cause, depth++) {
    if (current instanceof BrokerError) return current;
    if (!(current instanceof Error)) return undefined;
  }
  return undefined;
}

/** AbortSignal.timeout's reason, however deep a library wrapped it. */
function isTimeout(err: unknown): boolean {
  for (
    let current = err, depth = 0;
    current instanceof Error && depth < 5;
    current = current.cause, depth++
  ) {
    if (current.name === 'TimeoutError') return true;
  }
  return false;
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null | undefined)?.code;
}

/** oauth4webapi's own argument checks (CodedTypeError), as opposed to fetch's TypeError. */
function isArgumentError(err: unknown): boolean {
  const code = codeOf(err);
  return err instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_INVALID_ARG');
}

/** The media type, lower-cased: oauth4webapi's getContentType keeps case and spaces, which RFC 9110 §8.3.1 ignores. */
function contentType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function quote(value: unknown): string {
  return sanitize(JSON.stringify(value) ?? String(value));
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
