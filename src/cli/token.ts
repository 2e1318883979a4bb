/**
 * `pkce-broker token`: a valid access token of a saved session on stdout and
 * nothing else, for `curl -H "Authorization: Bearer $(pkce-broker token)"`.
 * The saved token while it has more than a minute left (no provider, no
 * broker, nothing heavy loaded); else refreshed at the provider and saved back.
 */
import type { LoadedConfig } from '../config/load.js';
import { freshSession } from '../credentials/fresh-token.js';
import { openCredentialCache } from '../credentials/open.js';
import {
  ACCOUNT_OPTION,
  CREDENTIAL_STORE_OPTION,
  PROVIDER_OPTION,
  isSet,
  storeChoice,
  text,
} from '../credentials/options.js';
import { refreshAtProvider } from '../credentials/refresh.js';
import type { StoredSession } from '../credentials/session.js';
import type { CommandModule } from './commands.js';

const OPTIONS = [
  PROVIDER_OPTION,
  ACCOUNT_OPTION,
  {
    flag: 'json',
    kind: 'boolean',
    description:
      'Print the token answer as JSON (access and ID token, type, expiry, scope) instead of the access token alone.',
  },
  CREDENTIAL_STORE_OPTION,
] as const;

const HELP = `Usage: pkce-broker token [--provider ID] [--account SUB] [--json]

Prints a valid access token of the session \`pkce-broker login\` saved, and
nothing else:

  curl -H "Authorization: Bearer $(pkce-broker token)" https://api.example.com/

The saved access token while it has more than a minute left; otherwise it is
renewed at the provider with the saved refresh token (a rotated refresh token
is saved back). A confidential client's secret comes from --client-secret or
PKCE_BROKER_CLIENT_SECRET. Exit code 1, with one line on stderr, when there is
no such session or the provider refuses the refresh.

Options:
`;

export const command: CommandModule = { help: HELP, options: OPTIONS, run: token };

async function token({ config, extra }: LoadedConfig): Promise<number> {
  const providerId = text(extra.provider);
  const account = text(extra.account);
  const cache = await openCredentialCache({
    choice: storeChoice(extra),
    note: (line) => process.stderr.write(`${line}\n`),
  });
  const { session } = await freshSession(
    cache,
    { ...(providerId !== undefined && { providerId }), ...(account !== undefined && { account }) },
    { refresh: refreshAtProvider(config) },
  );
  process.stdout.write(isSet(extra.json) ? `${tokenJson(session)}\n` : `${session.accessToken}\n`);
  return 0;
}

/**
 * The token answer, without the refresh token: that one stays with the
 * cache, which must be the only one to spend it (the provider rotates it, and
 * a copy spent elsewhere would end the saved session).
 */
function tokenJson(session: StoredSession, now = Date.now()): string {
  const expiresAt = session.accessTokenExpiresAt;
  return JSON.stringify(
    {
      access_token: session.accessToken,
      token_type: 'Bearer',
      ...(expiresAt !== undefined && {
        expires_in: Math.max(0, Math.floor((expiresAt - now) / 1000)),
        expires_at: Math.floor(expiresAt / 1000),
      }),
      scope: session.scopes.join(' '),
      ...(session.idToken !== undefined && { id_token: session.idToken }),
      provider: session.providerId,
      issuer: session.issuer,
      client_id: session.clientId,
      sub: session.subject,
    },
    null,
    2,
  );
}
