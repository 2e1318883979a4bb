/**
 * ID token validation, OIDC Core §3.1.3.7, with jose. Pure apart from the key
 * resolver (a remote JWKS in production, a local set in tests).
 *
 * oauth4webapi checks the claims of an ID token from the token endpoint but not
 * its signature (TLS authenticates the endpoint); we verify both, so a token
 * that is later handed to an app has been checked end to end.
 */
import { compactVerify, decodeProtectedHeader, errors } from 'jose';
import type { JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import { BrokerError } from '../errors.js';
import { constantTimeEqual } from '../protocol/pkce.js';
import { brokerErrorIn } from './http-util.js';
import { expectedAlgorithms, skipNonceCheck } from './id-token-policy.js';
import type { IdTokenClaims } from './types.js';

export { expectedAlgorithms, skipNonceCheck } from './id-token-policy.js';

export interface IdTokenExpectations {
  /** The issuer identifier exactly as discovered. */
  issuer: string;
  clientId: string;
  /** The nonce sent in the authorization request, or `skipNonceCheck`. */
  nonce: string | typeof skipNonceCheck;
  /** Resolves the verification key from the token's header (e.g. jose's createRemoteJWKSet). */
  keys: JWTVerifyGetKey;
  /**
   * Accepted `alg` values. Default: the provider's `id_token_signing_alg_values_supported`
   * without `none`, else `['RS256']` (OIDC Core §15.1 / Discovery). `none` is never accepted.
   */
  algorithms?: readonly string[];
  /** The provider's discovery metadata, used for the default `algorithms`. */
  metadata?: Readonly<Record<string, unknown>>;
  /** Confidential clients only: the secret that verifies HS* ID tokens. Without it HS* is refused. */
  clientSecret?: string;
  /** Seconds of clock skew tolerated on exp / iat / nbf. Default 30. */
  clockToleranceSec?: number;
  /** Current time in seconds since the epoch (tests). Default: the system clock. */
  now?: number;
}

const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

function invalid(check: string, cause?: unknown): BrokerError {
  return new BrokerError('provider_error', `The ID token failed validation: ${check}`, {
    oauthError: 'invalid_id_token',
    cause,
  });
}

function isSymmetric(alg: string): boolean {
  return alg.startsWith('HS');
}

/**
 * Validates `idToken` and returns its claims, or throws a BrokerError
 * `provider_error` (oauthError `invalid_id_token`) whose message names the
 * check that failed. Failures to fetch the provider's keys surface as
 * `provider_timeout` / `provider_unavailable` / `provider_error`.
 */
export async function validateIdToken(
  idToken: string,
  options: IdTokenExpectations,
): Promise<IdTokenClaims> {
  const tolerance = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  const algorithms = expectedAlgorithms(options);

  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(idToken);
  } catch (cause) {
    throw invalid('it is not a JWS in compact serialization', cause);
  }
  if (idToken.split('.').length !== 3)
    throw invalid(
      'it is not a JWS in compact serialization (encrypted ID tokens are not supported)',
    );
  const alg = header.alg;
  if (typeof alg !== 'string' || alg === '') throw invalid('the header has no alg');
  if (alg.toLowerCase() === 'none') throw invalid('alg "none" (unsigned) is refused');
  if (isSymmetric(alg) && options.clientSecret === undefined) {
    throw invalid(`alg ${alg} is symmetric, which a public client cannot verify; refused`);
  }
  if (!algorithms.includes(alg)) {
    throw invalid(
      `alg ${alg} is not one of the expected algorithms (${algorithms.join(', ') || 'none'})`,
    );
  }

  let payloadBytes: Uint8Array;
  try {
    const verified = isSymmetric(alg)
      ? await compactVerify(idToken, new TextEncoder().encode(options.clientSecret), {
          algorithms: [alg],
        })
      : await compactVerify(idToken, options.keys, { algorithms: [alg] });
    payloadBytes = verified.payload;
  } catch (cause) {
    throw keyOrSignatureError(cause, header);
  }

  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes));
  } catch (cause) {
    throw invalid('the payload is not JSON', cause);
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw invalid('the payload is not a JSON object');
  }
  return checkClaims(claims as Record<string, unknown>, options, tolerance);
}

function keyOrSignatureError(cause: unknown, header: ProtectedHeaderParameters): BrokerError {
  // Ours, possibly wrapped by jose: e.g. the body cap failing its read of the JWKS.
  const ours = brokerErrorIn(cause);
  if (ours !== undefined) return ours;
  if (cause instanceof errors.JWSSignatureVerificationFailed)
    return invalid("the signature does not verify with the provider's keys", cause);
  if (cause instanceof errors.JWKSNoMatchingKey) {
    const kid =
      typeof header.kid === 'string' ? ` (kid ${JSON.stringify(header.kid.slice(0, 100))})` : '';
    return invalid(`no key in the provider's JWKS matches the token's header${kid}`, cause);
  }
  if (cause instanceof errors.JWKSMultipleMatchingKeys)
    return invalid(
      "several keys in the provider's JWKS match the token's header and none verifies it",
      cause,
    );
  if (cause instanceof errors.JOSEAlgNotAllowed)
    return invalid(`alg ${header.alg} is not allowed`, cause);
  if (cause instanceof errors.JWKSTimeout) {
    return new BrokerError(
      'provider_timeout',
      'The identity provider did not answer the request for its signing keys (JWKS) in time',
      { cause },
    );
  }
  if (cause instanceof errors.JWKSInvalid)
    return new BrokerError(
      'provider_error',
      "The identity provider's JWKS is not a valid key set",
      { cause },
    );
  if (
    cause instanceof errors.JOSENotSupported ||
    cause instanceof errors.JWSInvalid ||
    cause instanceof errors.JWKInvalid
  ) {
    return invalid(`it cannot be verified (${(cause as Error).message})`, cause);
  }
  if (cause instanceof errors.JOSEError) {
    // e.g. "Expected 200 OK from the JSON Web Key Set HTTP response"
    return new BrokerError(
      'provider_error',
      `The identity provider's JWKS could not be fetched: ${cause.message}`,
      { cause },
    );
  }
  if (cause instanceof Error && cause.name === 'TimeoutError') {
    return new BrokerError(
      'provider_timeout',
      'The identity provider did not answer the request for its signing keys (JWKS) in time',
      { cause },
    );
  }
  if (cause instanceof TypeError) {
    return new BrokerError(
      'provider_unavailable',
      'Cannot reach the identity provider to fetch its signing keys (JWKS)',
      { cause },
    );
  }
  return invalid('its signature could not be verified', cause);
}

function checkClaims(
  claims: Record<string, unknown>,
  options: IdTokenExpectations,
  tolerance: number,
): IdTokenClaims {
  const now = options.now ?? Math.floor(Date.now() / 1000);

  // iss: exact string equality with the discovered issuer (§3.1.3.7 step 2).
  if (typeof claims['iss'] !== 'string') throw invalid('iss is missing');
  if (claims['iss'] !== options.issuer)
    throw invalid(`iss ${JSON.stringify(claims['iss'])} is not the issuer ${options.issuer}`);

  // aud must contain client_id; several audiences need azp (steps 3–5).
  const aud = claims['aud'];
  const audiences =
    typeof aud === 'string'
      ? [aud]
      : Array.isArray(aud) && aud.every((a) => typeof a === 'string')
        ? (aud as string[])
        : undefined;
  if (audiences === undefined || audiences.length === 0)
    throw invalid('aud is missing or malformed');
  if (!audiences.includes(options.clientId)) throw invalid('aud does not contain this client_id');
  const azp = claims['azp'];
  if (audiences.length > 1 && azp === undefined)
    throw invalid('aud has several audiences but azp is missing');
  if (azp !== undefined && azp !== options.clientId) throw invalid('azp is not this client_id');

  // exp / iat / nbf (steps 9–10), with tolerance for clock skew.
  const exp = claims['exp'];
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw invalid('exp is missing or not a number');
  if (exp <= now - tolerance) throw invalid('exp is in the past: the token has expired');
  const iat = claims['iat'];
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    throw invalid('iat is missing or not a number');
  if (iat > now + tolerance) throw invalid('iat is in the future');
  const nbf = claims['nbf'];
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + tolerance))
    throw invalid('nbf is malformed or in the future');

  // sub (OIDC Core §2: REQUIRED, a non-empty string).
  const sub = claims['sub'];
  if (typeof sub !== 'string' || sub === '') throw invalid('sub is missing or empty');

  // nonce (step 11): equal to the flow's, compared in constant time.
  if (options.nonce !== skipNonceCheck) {
    const nonce = claims['nonce'];
    if (typeof nonce !== 'string') throw invalid('nonce is missing');
    if (!constantTimeEqual(nonce, options.nonce)) throw invalid("nonce does not match the flow's");
  }

  return claims as IdTokenClaims;
}
