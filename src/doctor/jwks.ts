/**
 * The provider's signing keys, fetched and parsed by jose as the broker will
 * when it verifies the first ID token (oidc.ts), and the keys among them it
 * can verify a signature with.
 */
import type { JSONWebKeySet, JWK } from 'jose';
import { unexpectedStatus } from '../provider/upstream-errors.js';
import { sanitize } from '../provider/http-util.js';
import { result, type CheckResult } from './types.js';

const TITLE = 'Signing keys (JWKS)';

/** The algorithm families of each key type (JWA, RFC 7518 §3; RFC 8037). */
const ALGS_OF_KTY: Readonly<Record<string, RegExp>> = {
  RSA: /^(RS|PS)\d+$/,
  EC: /^ES\d+K?$/,
  OKP: /^(EdDSA|Ed25519|Ed448)$/,
};

export async function checkJwks(
  jwksUri: string,
  signingAlgs: unknown,
  transport: typeof fetch,
  timeoutMs: number,
): Promise<CheckResult> {
  const jose = await import('jose');
  const call = {
    endpoint: 'jwks' as const,
    name: 'request for its signing keys (JWKS)',
    timeoutMs,
  };
  const set = jose.createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    [jose.customFetch]: async (url: string, init: RequestInit) => {
      const response = await transport(url, init);
      if (response.status !== 200) throw await unexpectedStatus(response, call);
      return response;
    },
  });
  let jwks: JSONWebKeySet | undefined;
  try {
    await set.reload();
    jwks = set.jwks();
  } catch (error) {
    return result(
      'jwks',
      'fail',
      TITLE,
      `${jwksUri}: ${sanitize((error as Error).message)}`,
      'The broker cannot verify ID tokens without the keys: check the provider’s jwks_uri.',
    );
  }
  const usable = await usableSigningKeys(jwks?.keys ?? [], signingAlgs);
  if (usable.length === 0)
    return result(
      'jwks',
      'fail',
      TITLE,
      `${jwksUri} holds ${jwks?.keys.length ?? 0} keys, none a public signing key the broker can verify an ID token with`,
      'Give the client an asymmetric ID token signing algorithm (RS256, ES256, EdDSA) at the provider.',
    );
  return result(
    'jwks',
    'ok',
    TITLE,
    `${usable.length} usable signing key${usable.length === 1 ? '' : 's'} (${[...new Set(usable)].join(', ')}) at ${jwksUri}`,
  );
}

/**
 * The algorithm of every key jose imports as a public verification key: not
 * for encryption, not symmetric (a public client has no secret to check HS*
 * with, id-token.ts refuses them), with the key's `alg` or else one the
 * provider lists in id_token_signing_alg_values_supported for its type.
 */
export async function usableSigningKeys(
  keys: readonly JWK[],
  signingAlgs: unknown,
): Promise<string[]> {
  const { importJWK } = await import('jose');
  const listed = Array.isArray(signingAlgs)
    ? signingAlgs.filter((alg): alg is string => typeof alg === 'string')
    : ['RS256'];
  const usable: string[] = [];
  for (const key of keys) {
    if (key.use === 'enc' || (key.key_ops !== undefined && !key.key_ops.includes('verify')))
      continue;
    const family = ALGS_OF_KTY[key.kty ?? ''];
    if (family === undefined) continue;
    const alg = key.alg ?? listed.find((candidate) => family.test(candidate));
    if (alg === undefined || !family.test(alg)) continue;
    try {
      await importJWK(key, alg);
      usable.push(alg);
    } catch {
      // Not a key jose can use: it is left out of the count, which says so.
    }
  }
  return usable;
}
