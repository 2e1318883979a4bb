/**
 * `pkce-broker demo`: the bundled provider and a broker on free loopback
 * ports, and a whole sign-in as the demo user with no human and no display —
 * the provider's own login and consent pages driven over HTTP with a cookie
 * jar, every step through the broker's real API — then the summary.
 */
import { scriptedDeviceLogin, scriptedLogin } from '../devprovider/login.js';
import type { PKCE } from '../protocol/models.js';
import { createLogger } from '../logging.js';
import type { CommandModule } from './commands.js';
import { startDevEnvironment } from './dev.js';
import { AuthorizeUrlInbox, signIn } from './sign-in.js';
import { formatSummary } from './summary.js';

/** `demo --device`: a device sign-in (RFC 8628) through POST /device/code and /device/token. */
async function deviceSignIn(broker: string, appId: string | undefined): Promise<PKCE> {
  const headers = {
    'content-type': 'application/json',
    ...(appId !== undefined && { 'x-application-id': appId }),
  };
  const answer = async (response: Response): Promise<unknown> => {
    const body = (await response.json()) as { detail?: string };
    if (!response.ok)
      throw new Error(`the broker answered ${response.status}: ${body.detail ?? ''}`);
    return body;
  };
  const { device } = (await answer(
    await fetch(`${broker}/device/code`, { method: 'POST', headers, body: '{}' }),
  )) as { device: { user_code: string; verification_uri: string; handle: string } };
  process.stdout.write(`device code ${device.user_code} at ${device.verification_uri}\n`);
  const waiting = fetch(`${broker}/device/token`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ handle: device.handle }),
  });
  await scriptedDeviceLogin(device.verification_uri, device.user_code);
  return (await answer(await waiting)) as PKCE;
}

export const command: CommandModule = {
  options: [
    {
      flag: 'device',
      kind: 'boolean',
      description:
        'Sign in with the device flow (RFC 8628: POST /device/code, /device/token) instead of the browser flow.',
    },
  ],
  help: `Usage: pkce-broker demo [options]

Starts the bundled OpenID provider and the broker on free loopback ports, signs
in as the demo user (demo / demo) through the provider's own pages with no
browser and no human, prints what came back (tokens shortened) and exits.

Options (as for serve; --issuer and --client-id come from the bundled provider,
--port defaults to 0 = any free port):
`,
  async run(loaded) {
    const started = performance.now();
    const { config, sources } = loaded;
    // stdout is for the summary; whatever the broker logs goes to stderr.
    const logger = createLogger({
      level: sources.logLevel === undefined ? 'error' : config.logLevel,
      destination: process.stderr,
    });
    // The broker is in this process: the URL it builds comes straight here, and nothing opens a browser.
    const inbox = new AuthorizeUrlInbox();
    const env = await startDevEnvironment(loaded, {
      port: 0,
      logger,
      openAuthorizeUrl: (url, flow) => {
        inbox.deliver(url, flow.state);
      },
    });
    try {
      const { user } = env.provider;
      process.stdout.write(
        `pkce-broker demo: provider ${env.provider.issuer}, broker ${env.broker.url}; signing in as ${user.username} / ${user.password} (scripted, no browser)\n`,
      );
      const device = loaded.extra.device === true || loaded.extra.device === 'true';
      const appId = config.appIds[0];
      const answer = device
        ? await deviceSignIn(env.broker.url, appId)
        : await signIn({
            broker: env.broker.url,
            ...(config.appIds[0] !== undefined && { appId: config.appIds[0] }),
            authorizeUrl: inbox.next,
            async onAuthorizeUrl(url, signal) {
              const { callbackResponse } = await scriptedLogin(url, {
                username: user.username,
                password: user.password,
                accept: 'application/json',
                signal,
              });
              if (!callbackResponse.ok) {
                const problem = (await callbackResponse.json().catch(() => ({}))) as {
                  detail?: unknown;
                };
                const detail =
                  typeof problem.detail === 'string'
                    ? problem.detail
                    : `HTTP ${callbackResponse.status}`;
                throw new Error(
                  `the broker refused the provider's answer at its callback: ${detail}`,
                );
              }
              await callbackResponse.body?.cancel();
            },
          });
      process.stdout.write(formatSummary(answer, { elapsedMs: performance.now() - started }));
      return 0;
    } finally {
      await env.close();
    }
  },
};
