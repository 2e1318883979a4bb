/**
 * The provider of a saved session, straight from its issuer: discovery from
 * the saved issuer, with the provider client of src/provider (the same checks
 * as the broker's: ID token signature, iss, aud). No broker is involved. Used
 * to renew a token (`token`) and to revoke one (`logout`); loaded only then.
 *
 * `token` starts from the discovery document kept in the user's cache
 * (provider/discovery-cache.ts; off with --no-discovery-cache), as it runs
 * many times a day against one issuer. A kept token_endpoint that fails is
 * tried once more on a fresh document, and only where the fresh document
 * moved it and the old one gave no OAuth answer: a refresh token the old
 * endpoint had spent would otherwise be presented twice, which a provider
 * that rotates refresh tokens takes for theft (and ends the grant).
 * `logout` always discovers afresh: its revocation is not retried
 * (sign-out.ts), and a stale revocation_endpoint would leave the refresh
 * token live at the provider.
 */
import type { BrokerConfig } from '../config/load.js';
import type { BrokerErrorCode } from '../errors.js';
import type { DiscoveryCacheOptions, KeptDiscovery } from '../provider/discovery-cache.js';
import type { ProviderConfig } from '../provider/oidc.js';
import type { IdentityProvider, TokenSet } from '../provider/types.js';
import { cacheDirectory } from './paths.js';
import type { StoredSession } from './session.js';

export type ProviderOptions = Pick<
  BrokerConfig,
  'issuer' | 'clientId' | 'clientSecret' | 'providerTimeoutSec' | 'discoveryCache'
>;

/** Outcomes of a refresh request that carry no OAuth answer: the endpoint may be one the provider left. */
const NO_OAUTH_ANSWER: ReadonlySet<'ok' | BrokerErrorCode> = new Set([
  'provider_unavailable',
  'provider_timeout',
  'provider_error',
]);

function providerConfigOf(config: ProviderOptions, session: StoredSession): ProviderConfig {
  // The secret of a confidential client is never saved; it comes from the options (or
  // PKCE_BROKER_CLIENT_SECRET), and only for the client and issuer they configure.
  const secretApplies =
    config.clientSecret !== undefined &&
    (config.clientId === undefined || config.clientId === session.clientId) &&
    (config.issuer === undefined || config.issuer === session.issuer);
  return {
    id: session.providerId,
    issuer: session.issuer,
    clientId: session.clientId,
    ...(secretApplies && { clientSecret: config.clientSecret }),
    timeoutMs: config.providerTimeoutSec * 1000,
  };
}

export function providerOfSession(
  config: ProviderOptions,
): (session: StoredSession) => Promise<IdentityProvider> {
  return async (session) => {
    const { discoverProvider } = await import('../provider/oidc.js');
    return discoverProvider(providerConfigOf(config, session));
  };
}

export function refreshAtProvider(
  config: ProviderOptions,
  cacheOptions: Partial<DiscoveryCacheOptions> = {},
): (session: StoredSession) => Promise<TokenSet> {
  return async (session) => {
    const [{ discoverProvider, providerFromKeptMetadata }, { DiscoveryCache }] = await Promise.all([
      import('../provider/oidc.js'),
      import('../provider/discovery-cache.js'),
    ]);
    let refreshOutcome: 'ok' | BrokerErrorCode | undefined;
    const providerConfig: ProviderConfig = {
      ...providerConfigOf(config, session),
      observe: (endpoint, outcome) => {
        if (endpoint === 'refresh') refreshOutcome = outcome;
      },
    };
    const request = { refreshToken: session.refreshToken ?? '' };
    const kept: KeptDiscovery | undefined =
      config.discoveryCache === false
        ? undefined
        : new DiscoveryCache({ cacheDirectory: cacheDirectory(), ...cacheOptions }).entry(
            session.issuer,
            (metadata) => providerFromKeptMetadata(providerConfig, metadata),
          );
    const cached = await kept?.load();
    if (cached === undefined) {
      const provider = await discoverProvider(providerConfig);
      const [tokens] = await Promise.all([provider.refresh(request), kept?.save(provider)]);
      return tokens;
    }
    try {
      return await cached.provider.refresh(request);
    } catch (error) {
      if (refreshOutcome === undefined || !NO_OAUTH_ANSWER.has(refreshOutcome)) throw error;
      const fresh = await discoverProvider(providerConfig);
      await kept!.save(fresh);
      if (fresh.metadata['token_endpoint'] === cached.provider.metadata['token_endpoint'])
        throw error;
      return fresh.refresh(request);
    }
  };
}
