/**
 * The broker inside your own process (an Electron app, a VS Code extension, a
 * test harness) instead of a daemon: started on a free port, logging through
 * your logger, handing each sign-in URL to your own opener, closed when you
 * are done. Then one sign-in through it, as your app would do it.
 *
 *   node examples/embed.mjs --issuer https://YOUR-TENANT/ --client-id YOUR_CLIENT_ID [serve options]
 *
 * Options are serve's (`pkce-broker serve --help`), validated by loadConfig as
 * the command line validates them, with the same PKCE_BROKER_* variables and
 * config file. Prints the sign-in URL, waits for the sign-in, prints the token
 * type and expiry (never a token) and exits.
 */
import { pino } from 'pino';
import { BrokerError, loadConfig, startBroker } from 'pkce-broker';

// Any pino-compatible logger; the broker redacts secrets in what it logs through it.
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));

let config;
try {
  // --port 0 first: any free port, unless the command line names one.
  ({ config } = loadConfig({ argv: ['--port', '0', ...process.argv.slice(2)], env: process.env }));
} catch (error) {
  if (error instanceof BrokerError) {
    process.stderr.write(`embed: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

const broker = await startBroker({
  config,
  logger,
  // Instead of --open: your app shows the URL its own way, e.g. Electron's
  // shell.openExternal(url.href) or VS Code's env.openExternal(Uri.parse(url.href)).
  // It holds the flow's live state: hand it on, do not log it.
  openAuthorizeUrl(url) {
    process.stdout.write(`Sign in at: ${url.href}\n`);
  },
});
process.stdout.write(`broker at ${broker.url}, callback ${broker.redirectUri}\n`);

try {
  // Your app's side: the PKCE API over HTTP, as the Pieces SDK's PKCEApi calls it.
  // An empty POST /pkce/code starts a whole flow from the configuration and
  // answers once the provider has called back.
  const code = await call('/pkce/code', undefined);
  const answer = await call('/pkce/token', {
    grant_type: 'authorization_code',
    code: code.result.code,
  });
  const { token } = answer.auth0.oAuth;
  process.stdout.write(
    `signed in: ${token.token_type} access token, expires in ${token.expires_in} s${token.id_token ? ', with an ID token' : ''}\n`,
  );
} finally {
  await broker.close();
}

async function call(path, body) {
  const response = await fetch(new URL(path, broker.url), {
    method: 'POST',
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${json.detail ?? json.title}`);
  return json;
}
