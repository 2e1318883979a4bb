/**
 * `pkce-broker status`: the saved sessions — provider, account, scopes, when
 * the access token expires, where the session is kept. Never a token, not
 * even shortened: this output ends up in bug reports.
 */
import type { LoadedConfig } from '../config/load.js';
import { openCredentialCache } from '../credentials/open.js';
import {
  CREDENTIAL_STORE_OPTION,
  PROVIDER_OPTION,
  storeChoice,
  text,
} from '../credentials/options.js';
import { matching } from '../credentials/select.js';
import type { SavedSession } from '../credentials/cache.js';
import type { CommandModule } from './commands.js';

const HELP = `Usage: pkce-broker status [--provider ID]

Lists the sessions \`pkce-broker login\` saved: provider, account, scopes, when
the access token expires (\`pkce-broker token\` renews it) and where each is
kept. Never shows a token. Exit code 1 when there is none.

Options:
`;

export const command: CommandModule = {
  help: HELP,
  options: [PROVIDER_OPTION, CREDENTIAL_STORE_OPTION],
  run: status,
};

async function status({ extra }: LoadedConfig): Promise<number> {
  const cache = await openCredentialCache({
    choice: storeChoice(extra),
    note: (line) => process.stderr.write(`${line}\n`),
  });
  const providerId = text(extra.provider);
  const sessions = matching(await cache.list(), providerId === undefined ? {} : { providerId });
  const stores = cache.stores.map((s) => s.where).join(' and ');
  if (sessions.length === 0) {
    process.stdout.write(
      `Not signed in${providerId === undefined ? '' : ` to ${providerId}`} (looked in ${stores}): run pkce-broker login.\n`,
    );
    return 1;
  }
  const now = Date.now();
  const blocks = sessions.map((saved) => sessionLines(saved, now).join('\n'));
  process.stdout.write(
    `${sessions.length === 1 ? '1 session' : `${sessions.length} sessions`} saved:\n\n${blocks.join('\n\n')}\n`,
  );
  return 0;
}

function sessionLines({ session, where }: SavedSession, now: number): string[] {
  const who = [session.name, session.email && `<${session.email}>`].filter(Boolean).join(' ');
  const rows: Array<[string, string]> = [
    ['provider', `${session.providerId} (${session.issuer}, client ${session.clientId})`],
    ['subject', session.subject],
    ...(who === '' ? [] : ([['name', who]] as Array<[string, string]>)),
    ['scopes', session.scopes.length > 0 ? session.scopes.join(' ') : '(not reported)'],
    ['access token', expiry(session.accessTokenExpiresAt, now)],
    ['refresh token', session.refreshToken === undefined ? 'no' : 'yes'],
    ['saved', `${iso(session.savedAt)} in ${where}`],
  ];
  return rows.map(([label, value]) => `  ${label.padEnd(14)} ${value}`);
}

function expiry(at: number | undefined, now: number): string {
  if (at === undefined) return 'expiry not reported';
  const seconds = Math.round((at - now) / 1000);
  const span = humanSpan(Math.abs(seconds));
  return seconds > 0 ? `expires in ${span} (${iso(at)})` : `expired ${span} ago (${iso(at)})`;
}

function humanSpan(seconds: number): string {
  if (seconds >= 7200) return `${Math.round(seconds / 3600)} h`;
  if (seconds >= 120) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
