/** `pkce-broker dev`: the bundled OpenID provider and the broker, ready to sign in with demo / demo. */
import { startBroker, type StartBrokerOptions } from '../broker.js';
import type { LoadedConfig } from '../config/load.js';
import { BrokerError } from '../errors.js';
import { createLogger, type Logger } from '../logging.js';
import type { ProviderSpec } from '../config/providers.js';
import type { CommandModule } from './commands.js';
import { waitForShutdown } from './serve.js';

type DevProvider = Awaited<
  ReturnType<typeof import('../devprovider/provider.js').startDevProvider>
>;

/** The two bundled providers: ids as in a `providers` list, and the answer shape each gives. */
export const DEV_PROVIDERS = [
  { id: 'auth0', kind: 'auth0', clientId: 'pkce-broker-demo' },
  // Descope's OIDC client id is its project id.
  { id: 'descope', kind: 'descope', clientId: 'P2pkceBrokerDemo' },
] as const;

export type DevProviderId = (typeof DEV_PROVIDERS)[number]['id'];

export interface DevEnvironment {
  broker: Awaited<ReturnType<typeof startBroker>>;
  /** The default one (`auth0`). */
  provider: DevProvider;
  /** Both bundled providers, by id; a seed's `domain` (the issuer) picks one. */
  providers: Readonly<Record<DevProviderId, DevProvider>>;
  close(): Promise<void>;
}

export interface DevEnvironmentOptions {
  /** Port when none is configured (--port, PKCE_BROKER_PORT or the config file). */
  port?: number;
  /** Replaces the --open behaviour (demo drives the sign-in itself and opens nothing). */
  openAuthorizeUrl?: StartBrokerOptions['openAuthorizeUrl'];
  logger?: Logger;
}

/** Starts the two bundled providers and a broker wired to both; shared by dev and demo. */
export async function startDevEnvironment(
  { config, sources }: LoadedConfig,
  defaults: DevEnvironmentOptions = {},
): Promise<DevEnvironment> {
  if (config.issuer !== undefined || config.providers.length > 0) {
    throw new BrokerError(
      'config_invalid',
      '`dev` runs its own providers; use `serve` for --issuer, --auth0-domain or a providers list.',
    );
  }
  const logger = defaults.logger ?? createLogger({ level: config.logLevel });
  // The bundled provider is loaded only by the commands that run it.
  const { startDevProvider } = await import('../devprovider/provider.js');
  const started = await Promise.allSettled(
    DEV_PROVIDERS.map(({ clientId }) =>
      startDevProvider({
        clientId,
        // A device sign-in against the local provider need not wait RFC 8628's default 5 s a poll.
        deviceInterval: 1,
        onNotice: (message) => logger.debug(message),
      }),
    ),
  );
  const running = started.flatMap((result) =>
    result.status === 'fulfilled' ? [result.value] : [],
  );
  const closeProviders = () => Promise.all(running.map((provider) => provider.close()));
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    const [auth0, descope] = running as [DevProvider, DevProvider];
    // Handed over as a providers list, as a config file would: the broker discovers them
    // itself, with its metrics' observer on every request to them (--metrics).
    const providers: ProviderSpec[] = DEV_PROVIDERS.map(({ id, kind }, i) => ({
      id,
      kind,
      issuer: running[i]!.issuer,
      clientId: running[i]!.clientId,
      ...(config.audience !== undefined && { audience: config.audience }),
    }));
    const port = sources.port === undefined ? (defaults.port ?? config.port) : config.port;
    const broker = await startBroker({
      config: { ...config, port, issuer: undefined, clientId: undefined, providers },
      // Its providers live on ports of this run only: nothing of them to keep.
      discoveryCache: false,
      logger,
      ...(defaults.openAuthorizeUrl !== undefined && {
        openAuthorizeUrl: defaults.openAuthorizeUrl,
      }),
    });
    for (const provider of running)
      provider.setRedirectUris([broker.redirectUri, ...config.allowRedirectUris]);
    return {
      broker,
      provider: auth0,
      providers: { auth0, descope },
      async close() {
        await broker.close();
        await closeProviders();
      },
    };
  } catch (error) {
    await closeProviders();
    throw error;
  }
}

export const command: CommandModule = {
  help: `Usage: pkce-broker dev [options]

Runs two local OpenID providers (ids auth0, the default, and descope; user demo,
password demo) and the broker together. A seed's domain (a provider's issuer) picks one.

Options (as for serve; the providers are the bundled ones):
`,
  async run(loaded) {
    const env = await startDevEnvironment(loaded);
    const { broker, provider, providers } = env;
    process.stdout.write(
      [
        `pkce-broker dev: broker on ${broker.url}, two bundled providers (user: ${provider.user.username}   password: ${provider.user.password})`,
        ...DEV_PROVIDERS.map(
          ({ id, kind }) =>
            `  ${id.padEnd(8)} ${providers[id].issuer}   client id ${providers[id].clientId}   answer: ${kind === 'descope' ? 'descope' : 'auth0'}${id === DEV_PROVIDERS[0].id ? '   (default)' : ''}`,
        ),
        `  pick one per sign-in with the seed's domain, e.g. POST /pkce/code {"domain": "${providers.descope.issuer}"}`,
        `  try: curl -s ${broker.url}/pkce/challenge   or   node bin/pkce-broker.js login --broker ${broker.url}`,
        '',
      ].join('\n'),
    );
    return waitForShutdown(env);
  },
};
