/**
 * `pkce-broker demo`: the bundled provider and a broker on free loopback
 * ports, and a whole sign-in as the demo user with no human and no display —
 * the provider's own login and consent pages driven over HTTP with a cookie
 * jar, every step through the broker's real API — then the summary.
 */
import { loadConfig } from '../config/load.js';
import { envName } from '../config/options.js';
import { scriptedLogin } from '../devprovider/login.js';
import { createLogger } from '../logging.js';
import { startDevEnvironment } from './dev.js';
import { optionsHelp } from './help.js';
import { signIn } from './login.js';
import { formatSummary } from './summary.js';

const HELP = `Usage: pkce-broker demo [options]

Starts the bundled OpenID provider and the broker on free loopback ports, signs
in as the demo user (demo / demo) through the provider's own pages with no
browser and no human, prints what came back (tokens shortened) and exits.

Options (as for serve; --issuer and --client-id come from the bundled provider,
--port defaults to 0 = any free port):
`;

export async function demo(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${HELP}${optionsHelp()}`);
    return 0;
  }
  const started = performance.now();
  const levelGiven =
    argv.some((a) => a.startsWith('--log-level')) ||
    process.env[envName('log-level')] !== undefined;
  const { config } = loadConfig({ argv, env: process.env });
  const level = levelGiven ? config.logLevel : 'error';
  // stdout is for the summary; whatever the broker logs goes to stderr.
  const logger = createLogger({ level, destination: process.stderr });
  const env = await startDevEnvironment(argv, {
    port: 0,
    logger,
    // Nothing to open: the scripted browser below follows the URL itself.
    openAuthorizeUrl: async () => undefined,
  });
  try {
    const { user } = env.provider;
    process.stdout.write(
      `pkce-broker demo: provider ${env.provider.issuer}, broker ${env.broker.url}; signing in as ${user.username} / ${user.password} (scripted, no browser)\n`,
    );
    const answer = await signIn({
      broker: env.broker.url,
      ...(config.appIds[0] !== undefined && { appId: config.appIds[0] }),
      async onAuthorizeUrl(url, signal) {
        const { callbackResponse } = await scriptedLogin(url, {
          username: user.username,
          password: user.password,
          accept: 'application/json',
          signal,
        });
        if (!callbackResponse.ok) {
          const problem = (await callbackResponse.json().catch(() => ({}))) as { detail?: unknown };
          const detail =
            typeof problem.detail === 'string' ? problem.detail : `HTTP ${callbackResponse.status}`;
          throw new Error(`the broker refused the provider's answer at its callback: ${detail}`);
        }
        await callbackResponse.body?.cancel();
      },
    });
    process.stdout.write(formatSummary(answer, { elapsedMs: performance.now() - started }));
    return 0;
  } finally {
    await env.close();
  }
}
