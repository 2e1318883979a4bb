/**
 * `pkce-broker demo`: the bundled provider and a broker on free loopback
 * ports, and a whole sign-in as the demo user with no human and no display —
 * the provider's own login and consent pages driven over HTTP with a cookie
 * jar, every step through the broker's real API — then the summary.
 */
import { scriptedDeviceLogin, scriptedLogin } from '../devprovider/login.js';
import { createLogger } from '../logging.js';
import type { CommandModule } from './commands.js';
import { BrokerError } from '../errors.js';
import type { PKCE } from '../protocol/models.js';
import { DEV_PROVIDERS, startDevEnvironment, type DevProviderId } from './dev.js';
import { AuthorizeUrlInbox, signIn } from './sign-in.js';
import { formatSummary } from './summary.js';

/** `demo --device`: a device sign-in (RFC 8628) through POST /device/code and /device/token. */
async function deviceSignIn(
  broker: string,
  appId: string | undefined,
  domain: string | undefined,
): Promise<PKCE> {
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
    await fetch(`${broker}/device/code`, {
      method: 'POST',
      headers,
      body: JSON.stringify(domain === undefined ? {} : { domain }),
    }),
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
  help: `Usage: pkce-broker demo [options]

Starts the bundled OpenID provider and the broker on free loopback ports, signs
in as the demo user (demo / demo) through the provider's own pages with no
browser and no human, prints what came back (tokens shortened) and exits.

With --provider descope it signs in at the Descope-shaped one of the two
bundled providers, and the answer comes in the SDK's \`descope\` field.

Options (as for serve; the providers are the bundled ones, --port defaults to
0 = any free port):
`,
  options: [
    {
      flag: 'provider',
      kind: 'string',
      meta: DEV_PROVIDERS.map(({ id }) => id).join('|'),
      defaultText: DEV_PROVIDERS[0].id,
      description: 'Which bundled provider to sign in with (the seed names it by its domain).',
    },
    {
      flag: 'device',
      kind: 'boolean',
      description:
        'Sign in with the device flow (RFC 8628: POST /device/code, /device/token) instead of the browser flow.',
    },
  ],
  async run(loaded) {
    const chosen = loaded.extra['provider'] ?? DEV_PROVIDERS[0].id;
    const known = DEV_PROVIDERS.find(({ id }) => id === chosen);
    if (known === undefined)
      throw new BrokerError(
        'config_invalid',
        `--provider must be ${DEV_PROVIDERS.map(({ id }) => id).join(' or ')}, got "${String(chosen)}".`,
      );
    const providerId: DevProviderId = known.id;
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
      const provider = env.providers[providerId];
      const { user } = provider;
      process.stdout.write(
        `pkce-broker demo: provider ${providerId} ${provider.issuer}, broker ${env.broker.url}; signing in as ${user.username} / ${user.password} (scripted, no browser)\n`,
      );
      const device = loaded.extra.device === true || loaded.extra.device === 'true';
      const appId = config.appIds[0];
      // The seed's domain picks the provider; the default (auth0) needs none.
      const domain = providerId !== DEV_PROVIDERS[0].id ? provider.issuer : undefined;
      const answer = device
        ? await deviceSignIn(env.broker.url, appId, domain)
        : await signIn({
            broker: env.broker.url,
            ...(domain !== undefined && { domain }),
            ...(appId !== undefined && { appId }),
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
      process.stdout.write(answerShape(answer));
      return 0;
    } finally {
      await env.close();
    }
  },
};

/** Which of the SDK's answer fields came back, and its user as the SDK's model has it (no tokens). */
function answerShape(answer: PKCE): string {
  if (answer.descope !== undefined)
    return `  ${'answer'.padEnd(14)} descope  user ${JSON.stringify(answer.descope.user ?? {})}\n`;
  return `  ${'answer'.padEnd(14)} auth0  domain ${answer.auth0?.domain ?? '?'}\n`;
}
