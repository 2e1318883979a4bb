/**
 * PKCE (RFC 7636) and the random values of a flow. Pure: no I/O beyond the CSPRNG.
 * node:crypto is used on purpose: WebCrypto's async digest costs far more per call
 * on the hot path of GET /pkce/challenge.
 */
import * as crypto from 'node:crypto';
import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

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

/** Verifier, state and nonce: 32 random bytes each. */
const CHALLENGE_BYTES = 3 * RANDOM_BYTES;
/**
 * A CSPRNG call costs ~2 µs however few bytes it returns, three per challenge
 * were the largest cost of GET /pkce/challenge after logging (bench/). So
 * bytes are drawn for 64 challenges at once, as node:crypto does for
 * randomUUID; each byte is handed out once and zeroed as it is used.
 */
const pool = Buffer.alloc(CHALLENGE_BYTES * 64);
let poolOffset = pool.length;

export function newChallenge(): ChallengeValues {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += CHALLENGE_BYTES;
  const verifier = pool.toString('base64url', at, at + RANDOM_BYTES);
  const state = pool.toString('base64url', at + RANDOM_BYTES, at + 2 * RANDOM_BYTES);
  const nonce = pool.toString('base64url', at + 2 * RANDOM_BYTES, at + CHALLENGE_BYTES);
  pool.fill(0, at, at + CHALLENGE_BYTES);
  return { verifier, challenge: s256OfAscii(verifier), state, nonce };
}

/**
 * s256Challenge for a string known to be ASCII (UTF-8 and ASCII bytes agree):
 * the one-shot crypto.hash (Node ≥ 20.12) skips the Hash object, a third of the cost.
 */
const s256OfAscii: (verifier: string) => string =
  typeof crypto.hash === 'function'
    ? (verifier) => crypto.hash('sha256', verifier, 'base64url')
    : s256Challenge;
