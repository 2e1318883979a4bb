/**
 * What the broker checks of an ID token beyond oauth4webapi. oauth4webapi
 * checks the claims of every ID token in a token answer (iss, aud, azp with
 * several audiences, exp, nbf, iat's and sub's presence, nonce, and the alg
 * against the provider's list) but not its signature: TLS authenticates the
 * token endpoint. The broker hands the token to apps, so it verifies the
 * signature here, with jose, against the provider's JWKS, and adds the few
 * claim checks oauth4webapi leaves out.
 *
 * This module, and jose with it, loads on the first token exchange (oidc.ts).
 */
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import type { IDToken } from 'oauth4webapi';
import type { IdTokenClaims } from './types.js';
import {
  idTokenError,
  signatureError,
  UNSIGNED_REFUSED,
  type UpstreamCall,
} from './upstream-errors.js';

export interface SignatureCheck {
  /** Resolves the verification key from the token's header (jose's createRemoteJWKSet). */
  keys: JWTVerifyGetKey;
  /** The JWKS request, as its faults name it. */
  jwksCall: UpstreamCall;
  clientId: string;
  /** Confidential clients only: the secret that verifies HS* ID tokens. Without it HS* is refused. */
  clientSecret?: string;
  /** Seconds of clock skew tolerated, as oauth4webapi tolerates it on exp and nbf. */
  clockToleranceSec: number;
}

/**
 * Verifies the signature of `idToken`, whose claims oauth4webapi validated
 * (`claims`), and returns them; else throws a BrokerError `provider_error`
 * (oauthError `invalid_id_token`) naming the check, or the JWKS fetch's fault.
 */
export async function verifyIdToken(
  idToken: string,
  claims: IDToken,
  check: SignatureCheck,
): Promise<IdTokenClaims> {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(idToken);
  } catch (cause) {
    throw idTokenError('its header cannot be read', cause);
  }
  const alg = header.alg ?? '';
  // oauth4webapi accepts any alg the provider lists, `none` and HS* included.
  if (alg.toLowerCase() === 'none') throw idTokenError(UNSIGNED_REFUSED);
  const symmetric = alg.startsWith('HS');
  if (symmetric && check.clientSecret === undefined) {
    throw idTokenError(`alg ${alg} is symmetric, which a public client cannot verify; refused`);
  }
  try {
    if (symmetric)
      await compactVerify(idToken, new TextEncoder().encode(check.clientSecret), {
        algorithms: [alg],
      });
    else await compactVerify(idToken, check.keys, { algorithms: [alg] });
  } catch (err) {
    throw signatureError(err, header, check.jwksCall);
  }
  checkMissedClaims(claims, check);
  return claims as IdTokenClaims;
}

/** OIDC Core §3.1.3.7 checks that oauth4webapi's processing does not make. */
function checkMissedClaims(claims: IDToken, check: SignatureCheck): void {
  const now = Math.floor(Date.now() / 1000);
  // Step 10: oauth4webapi only requires iat to be a number.
  if (claims.iat > now + check.clockToleranceSec) throw idTokenError('iat is in the future');
  // §2: sub is a non-empty string; oauth4webapi checks only that it is a string.
  if (claims.sub === '') throw idTokenError('sub is empty');
  // Step 5: oauth4webapi looks at azp only when there are several audiences.
  if (claims.azp !== undefined && claims.azp !== check.clientId)
    throw idTokenError('azp is not this client_id');
}
