/**
 * PKCE (RFC 7636) and the random values of a flow. Pure: no I/O beyond the CSPRNG.
 * node:crypto is used on purpose: WebCrypto's async digest costs far more per call
 * on the hot path of GET /pkce/challenge.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** RFC 7636 §4.1: 43..128 characters of ALPHA / DIGIT / "-" / "." / "_" / "~". */
const VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;

/** 32 random bytes give a 43-character base64url string: the RFC's minimum length, full entropy. */
const RANDOM_BYTES = 32;

export function randomToken(bytes = RANDOM_BYTES): string {
  return randomBytes(bytes).toString('base64url');
}

export function generateVerifier(): string {
  return randomToken();
}

export function isValidVerifier(verifier: string): boolean {
  return VERIFIER_PATTERN.test(verifier);
}

/** BASE64URL(SHA256(ASCII(code_verifier))), RFC 7636 §4.2. */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * Compares two strings in time that depends only on their lengths' maximum, so
 * neither a prefix match nor the length of the secret leaks through timing.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  const length = Math.max(left.length, right.length, 1);
  const paddedLeft = Buffer.alloc(length);
  const paddedRight = Buffer.alloc(length);
  left.copy(paddedLeft);
  right.copy(paddedRight);
  return timingSafeEqual(paddedLeft, paddedRight) && left.length === right.length;
}

/** True when `verifier` is well formed and its S256 challenge is `challenge`. */
export function verifierMatchesChallenge(verifier: string, challenge: string): boolean {
  return isValidVerifier(verifier) && constantTimeEqual(s256Challenge(verifier), challenge);
}

export interface ChallengeValues {
  verifier: string;
  challenge: string;
  state: string;
  nonce: string;
}

export function newChallenge(): ChallengeValues {
  const verifier = generateVerifier();
  return { verifier, challenge: s256Challenge(verifier), state: randomToken(), nonce: randomToken() };
}
