/**
 * What an ID token is checked against, without jose: the provider client
 * needs these at start-up, while the verification code (and jose) loads on
 * the first token exchange.
 */

/**
 * Pass as `nonce` where no nonce can be expected: an ID token from a refresh
 * (OIDC Core §12.2 ties its nonce to the original one, which we do not keep).
 * A symbol, so that forgetting the nonce is a type error rather than a skipped check.
 */
export const skipNonceCheck: unique symbol = Symbol('skipNonceCheck');

/** The options expectedAlgorithms reads. */
export interface AlgorithmPolicy {
  algorithms?: readonly string[];
  metadata?: Readonly<Record<string, unknown>>;
}

/** The algorithms an ID token may be signed with, per the options and the provider's metadata. */
export function expectedAlgorithms(options: AlgorithmPolicy): string[] {
  const advertised = options.metadata?.['id_token_signing_alg_values_supported'];
  const list =
    options.algorithms ??
    (Array.isArray(advertised) &&
    advertised.every((alg) => typeof alg === 'string') &&
    advertised.length > 0
      ? (advertised as string[])
      : ['RS256']);
  return list.filter((alg) => alg !== 'none');
}
