/**
 * Whether the token endpoint takes the client as the broker authenticates it
 * (a public client, or client_secret_post with the configured secret: oidc.ts).
 * Discovery lists the methods a provider has, not the one this client is
 * registered with, so the doctor asks: a refresh with a made-up token, sent by
 * the broker's own refresh(). Client authentication comes before the grant
 * (RFC 6749 §5.2), so `invalid_grant` means the client passed and
 * `invalid_client` that it did not. Nothing is issued either way.
 */
import { isBrokerError } from '../errors.js';
import type { IdentityProvider } from '../provider/types.js';
import { result, type CheckResult } from './types.js';

const TITLE = 'Client at the token endpoint';

/** Not a token: a provider answers it invalid_grant once the client is authenticated. */
const PROBE_TOKEN = 'pkce-broker-doctor-probe-not-a-refresh-token';

export async function checkClientAuth(
  provider: IdentityProvider,
  hasSecret: boolean,
): Promise<CheckResult> {
  const method = hasSecret
    ? 'client_secret_post with the client secret'
    : 'no secret (a public client)';
  try {
    await provider.refresh({ refreshToken: PROBE_TOKEN });
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    return judgeClientAuth(error.oauthError, error.message, hasSecret, method);
  }
  // A provider that refreshed a made-up token has no grant check to speak of.
  return result(
    'client_auth',
    'warn',
    TITLE,
    'the provider answered a made-up refresh token with tokens',
    'Ask the provider’s administrator: it should have answered invalid_grant.',
  );
}

/** What the provider's answer to the probe says about the client (pure). */
export function judgeClientAuth(
  oauthError: string | undefined,
  message: string,
  hasSecret: boolean,
  method: string,
): CheckResult {
  switch (oauthError) {
    case 'invalid_grant':
      return result(
        'client_auth',
        'ok',
        TITLE,
        `the client authenticates with ${method} (a made-up refresh token got invalid_grant)`,
      );
    case 'invalid_client':
      return hasSecret
        ? result(
            'client_auth',
            'fail',
            TITLE,
            `the provider refused the client id or secret (invalid_client); the broker sends ${method}`,
            'Check PKCE_BROKER_CLIENT_SECRET, and that the client’s token endpoint authentication method at the provider is client_secret_post (or remove the secret for a public client).',
          )
        : result(
            'client_auth',
            'fail',
            TITLE,
            'the provider refused the client without a secret (invalid_client): it is a confidential client, or an unknown client id',
            'Set the client secret (PKCE_BROKER_CLIENT_SECRET, or --client-secret), or make the client public (token endpoint authentication: none) at the provider.',
          );
    case 'unauthorized_client':
    case 'unsupported_grant_type':
      return result(
        'client_auth',
        'warn',
        TITLE,
        `the client may not use refresh tokens (${oauthError}): sign-ins work, POST /pkce/token with grant_type=refresh_token will not`,
        'Allow the refresh_token grant for the client at the provider if apps refresh.',
      );
    default:
      return result('client_auth', 'warn', TITLE, `could not tell: ${message}`);
  }
}
