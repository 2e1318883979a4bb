/**
 * `pkce-broker logout`: signs saved sessions out — the refresh token revoked
 * at the provider, the session forgotten — and gives the provider's sign-out
 * URL, printed on stdout (one a line, nothing else there) or opened with
 * --browser. What happened to each session is one line on stderr; never a
 * token (the sign-out URL carries the ID token as id_token_hint, which the
 * provider needs to end the right browser session without asking).
 */
import type { LoadedConfig } from '../config/load.js';
import type { SavedSession } from '../credentials/cache.js';
import { openCredentialCache } from '../credentials/open.js';
import {
  ACCOUNT_OPTION,
  CREDENTIAL_STORE_OPTION,
  PROVIDER_OPTION,
  isSet,
  storeChoice,
  text,
} from '../credentials/options.js';
import { providerOfSession } from '../credentials/refresh.js';
import { matching, notSignedIn, pickSession, type SessionQuery } from '../credentials/select.js';
import { describeSession } from '../credentials/session.js';
import { signOut, type SignOutOutcome } from '../credentials/sign-out.js';
import type { CommandModule } from './commands.js';

const OPTIONS = [
  PROVIDER_OPTION,
  ACCOUNT_OPTION,
  {
    flag: 'all',
    kind: 'boolean',
    description: 'Sign out every saved session (of --provider, where given).',
  },
  {
    flag: 'browser',
    kind: 'boolean',
    description:
      "Open the provider's sign-out page (as --open says: $BROWSER or the system browser, or a command) instead of printing its URL.",
  },
  CREDENTIAL_STORE_OPTION,
] as const;

const HELP = `Usage: pkce-broker logout [--provider ID] [--account SUB] [--all] [--browser]

Signs out a session \`pkce-broker login\` saved: revokes its refresh token at
the provider (RFC 7009), forgets the session, and prints the provider's
sign-out URL on stdout (open it to end the provider's browser session too;
--browser opens it). With several sessions, name one with --account (and
--provider) or sign out all of them with --all.

A session is forgotten even when the provider refuses the revocation or cannot
be reached: its refresh token then stays valid at the provider until it
expires, unused (nothing else holds it), and the exit code is 1. Exit code 1
also when there is no such session.

Options:
`;

export const command: CommandModule = { help: HELP, options: OPTIONS, run: logout };

async function logout(loaded: LoadedConfig): Promise<number> {
  const { config, extra } = loaded;
  const providerId = text(extra.provider);
  const account = text(extra.account);
  const query: SessionQuery = {
    ...(providerId !== undefined && { providerId }),
    ...(account !== undefined && { account }),
  };
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  const cache = await openCredentialCache({ choice: storeChoice(extra), note: say });
  const saved = await cache.list();
  let chosen: SavedSession[];
  if (isSet(extra.all)) {
    chosen = matching(saved, query);
    if (chosen.length === 0) throw notSignedIn(query);
  } else chosen = [pickSession(saved, query, 'or sign out all of them with --all')];

  const open = isSet(extra.browser) ? await signOutPageOpener(loaded) : undefined;
  const provider = providerOfSession(config);
  let failed = false;
  for (const session of chosen) {
    const outcome = await signOut(cache, session, { provider });
    say(outcomeLine(outcome));
    if (outcome.kind !== 'signed_out') continue;
    if (outcome.revocation.kind === 'failed') failed = true;
    if (outcome.logoutUrl !== undefined) {
      if (open !== undefined) {
        say("Opening the provider's sign-out page in the browser.");
        await open(outcome.logoutUrl);
      } else {
        say("To end the provider's browser session too, open:");
        process.stdout.write(`${outcome.logoutUrl.href}\n`);
      }
    } else if (outcome.reached)
      say(
        'The provider has no sign-out page (no end_session_endpoint): its browser session lasts until it expires or you sign out there.',
      );
  }
  return failed ? 1 : 0;
}

function outcomeLine(outcome: SignOutOutcome): string {
  const who = describeSession(outcome.session);
  if (outcome.kind === 'gone') return `${who}: already signed out (by another run).`;
  const { revocation } = outcome;
  switch (revocation.kind) {
    case 'revoked':
      return revocation.token === 'refresh_token'
        ? `Signed out ${who}: refresh token revoked at the provider, session forgotten.`
        : `Signed out ${who}: access token revoked at the provider (there was no refresh token), session forgotten.`;
    case 'unsupported':
      return `Signed out ${who}: session forgotten; the provider cannot revoke tokens (no revocation_endpoint), so its tokens stay valid there until they expire.`;
    case 'nothing':
      return `Signed out ${who}: session forgotten (nothing to revoke: no refresh token, and the access token had expired).`;
    case 'failed':
      return `${who}: the provider did not revoke the session's token (${revocation.reason.replace(/\.$/, '')}); the session is forgotten all the same, and the token stays valid at the provider until it expires.`;
  }
}

/** The broker's opener, as --open says; its log quiet (stderr is for the lines above) unless asked. */
async function signOutPageOpener({
  config,
  sources,
}: LoadedConfig): Promise<(url: URL) => Promise<void>> {
  const [{ createBrowserOpener }, { createLogger }] = await Promise.all([
    import('../browser/open.js'),
    import('../logging.js'),
  ]);
  const logger = createLogger({
    level: sources.logLevel === undefined ? 'warn' : config.logLevel,
    destination: process.stderr,
  });
  return createBrowserOpener(config.open, logger, {
    announce: (href) =>
      process.stderr.write(
        `Open this URL in your browser to sign out at the provider:\n  ${href}\n`,
      ),
  });
}
