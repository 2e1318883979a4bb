/**
 * The refresh of a saved session, straight at its provider: discovery from
 * the saved issuer, then the refresh_token grant, with the provider client of
 * src/provider (the same checks as the broker's: ID token signature, iss,
 * aud). No broker is involved. Loaded only when a token has to be renewed.
 */
import type { BrokerConfig } from '../config/load.js';
import type { TokenSet } from '../provider/types.js';
import type { StoredSession } from './session.js';

export function refreshAtProvider(
  config: Pick<BrokerConfig, 'issuer' | 'clientId' | 'clientSecret' | 'providerTimeoutSec'>,
): (session: StoredSession) => Promise<TokenSet> {
  return async (session) => {
    const { discoverProvider } = await import('../provider/oidc.js');
    // The secret of a confidential client is never saved; it comes from the options (or
    // PKCE_BROKER_CLIENT_SECRET), and only for the client and issuer they configure.
    const secretApplies =
      config.clientSecret !== undefined &&
      (config.clientId === undefined || config.clientId === session.clientId) &&
      (config.issuer === undefined || config.issuer === session.issuer);
    const provider = await discoverProvider({
      issuer: session.issuer,
      clientId: session.clientId,
      ...(secretApplies && { clientSecret: config.clientSecret }),
      timeoutMs: config.providerTimeoutSec * 1000,
    });
    return provider.refresh({ refreshToken: session.refreshToken ?? '' });
  };
}
