/**
 * The provider of a saved session, straight from its issuer: discovery from
 * the saved issuer, with the provider client of src/provider (the same checks
 * as the broker's: ID token signature, iss, aud). No broker is involved. Used
 * to renew a token (`token`) and to revoke one (`logout`); loaded only then.
 */
import type { BrokerConfig } from '../config/load.js';
import type { IdentityProvider, TokenSet } from '../provider/types.js';
import type { StoredSession } from './session.js';

export type ProviderOptions = Pick<
  BrokerConfig,
  'issuer' | 'clientId' | 'clientSecret' | 'providerTimeoutSec'
>;

export function providerOfSession(
  config: ProviderOptions,
): (session: StoredSession) => Promise<IdentityProvider> {
  return async (session) => {
    const { discoverProvider } = await import('../provider/oidc.js');
    // The secret of a confidential client is never saved; it comes from the options (or
    // PKCE_BROKER_CLIENT_SECRET), and only for the client and issuer they configure.
    const secretApplies =
      config.clientSecret !== undefined &&
      (config.clientId === undefined || config.clientId === session.clientId) &&
      (config.issuer === undefined || config.issuer === session.issuer);
    return discoverProvider({
      id: session.providerId,
      issuer: session.issuer,
      clientId: session.clientId,
      ...(secretApplies && { clientSecret: config.clientSecret }),
      timeoutMs: config.providerTimeoutSec * 1000,
    });
  };
}

export function refreshAtProvider(
  config: ProviderOptions,
): (session: StoredSession) => Promise<TokenSet> {
  const providerOf = providerOfSession(config);
  return async (session) => {
    const provider = await providerOf(session);
    return provider.refresh({ refreshToken: session.refreshToken ?? '' });
  };
}
