/**
 * POST /pkce/revoke and POST /pkce/logout, independent of HTTP: which
 * provider, what may be revoked, which logout URL the browser may be sent to.
 * These requests carry no flow, so the provider is the one the `client_id`
 * names (the registry's forClient, issue 11).
 */
import { BrokerError } from '../errors.js';
import {
  MODEL_SCHEMA,
  type LoggedOutPKCE,
  type LogoutPKCE,
  type RevokedPKCE,
} from '../protocol/models.js';
import type { IdentityProvider, LogoutRequest } from '../provider/types.js';
import { given } from './seed.js';

export interface SessionServiceOptions {
  /** The provider of a request with no flow: by client_id, then audience; none or ambiguous → 400. */
  providerForClient(clientId: string | undefined, audience?: string): IdentityProvider;
  /**
   * The URIs a post_logout_redirect_uri may be: the broker's callback and
   * --allow-redirect-uri. A function: the callback names the bound port,
   * known only once the broker listens.
   */
  allowedLogoutRedirects(): readonly string[];
  /** Hands the logout URL to the user's browser (the broker's opener). */
  openLogoutUrl(url: URL): void | Promise<void>;
}

export class SessionService {
  readonly #options: SessionServiceOptions;

  constructor(options: SessionServiceOptions) {
    this.#options = options;
  }

  /** POST /pkce/revoke (RFC 7009). */
  async revoke(body: RevokedPKCE): Promise<void> {
    const provider = this.#options.providerForClient(given(body.client_id));
    await provider.revoke(body.token, body.token_type_hint);
  }

  /**
   * POST /pkce/logout: revokes the refresh token when one is given, then
   * answers the provider's logout URL (opened when asked). Everything is
   * checked before anything is revoked, so a refused request changes nothing.
   */
  async logout(body: LogoutPKCE): Promise<LoggedOutPKCE> {
    const provider = this.#options.providerForClient(given(body.client_id));
    const redirect = given(body.post_logout_redirect_uri);
    // An arbitrary URL here would make the broker, and the provider's trusted sign-out page, an open redirector.
    if (redirect !== undefined && !this.#options.allowedLogoutRedirects().includes(redirect)) {
      throw new BrokerError(
        'invalid_request',
        "post_logout_redirect_uri must be the broker's own callback or an allowed redirect URI (--allow-redirect-uri).",
        { oauthError: 'invalid_request' },
      );
    }
    if (body.refresh_token !== undefined) {
      if (!provider.hasRevocation) {
        // Signing out while the refresh token stays valid would look safer than it is.
        throw new BrokerError(
          'revocation_unsupported',
          `The identity provider at ${provider.issuer} cannot revoke tokens (no revocation_endpoint): leave out refresh_token to only sign out in the browser.`,
          { oauthError: 'unsupported_token_type' },
        );
      }
      await provider.revoke(body.refresh_token, 'refresh_token');
    }
    const request: LogoutRequest = {
      ...(body.id_token_hint !== undefined && { idTokenHint: body.id_token_hint }),
      ...(redirect !== undefined && { postLogoutRedirectUri: redirect }),
    };
    const url = provider.logoutUrl(request);
    if (url !== undefined && body.open === true) await this.#options.openLogoutUrl(url);
    return { schema: MODEL_SCHEMA, ...(url !== undefined && { logout_url: url.href }) };
  }
}
