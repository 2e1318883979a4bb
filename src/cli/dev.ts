/** `pkce-broker dev`: the bundled OpenID provider and the broker, ready to sign in with demo / demo. */
import { startBroker, type StartBrokerOptions } from '../broker.js';
import type { LoadedConfig } from '../config/load.js';
import { BrokerError } from '../errors.js';
import { createLogger, type Logger } from '../logging.js';
import { discoverProvider } from '../provider/oidc.js';
import type { CommandModule } from './commands.js';
import { waitForShutdown } from './serve.js';

export interface DevEnvironment {
  broker: Awaited<ReturnType<typeof startBroker>>;
  provider: Awaited<ReturnType<typeof import('../devprovider/provider.js').startDevProvider>>;
  close(): Promise<void>;
}

export interface DevEnvironmentOptions {
  /** Port when none is configured (--port, PKCE_BROKER_PORT or the config file). */
  port?: number;
  /** Replaces the --open behaviour (demo drives the sign-in itself and opens nothing). */
  openAuthorizeUrl?: StartBrokerOptions['openAuthorizeUrl'];
  logger?: Logger;
}

/** Starts the dev provider and a broker wired to it; shared by dev and demo. */
export async function startDevEnvironment(
  { config, sources }: LoadedConfig,
  defaults: DevEnvironmentOptions = {},
): Promise<DevEnvironment> {
  if (config.issuer !== undefined) {
    throw new BrokerError(
      'config_invalid',
      '`dev` runs its own provider; use `serve` for --issuer or --auth0-domain.',
    );
  }
  const logger = defaults.logger ?? createLogger({ level: config.logLevel });
  // The bundled provider is loaded only by the commands that run it.
  const { startDevProvider } = await import('../devprovider/provider.js');
  const devProvider = await startDevProvider({ onNotice: (message) => logger.debug(message) });
  try {
    const provider = await discoverProvider({
      issuer: devProvider.issuer,
      clientId: devProvider.clientId,
      timeoutMs: config.providerTimeoutSec * 1000,
      responseMode: config.responseMode,
      par: config.par,
    });
    const port = sources.port === undefined ? (defaults.port ?? config.port) : config.port;
    const broker = await startBroker({
      config: { ...config, port, issuer: devProvider.issuer, clientId: devProvider.clientId },
      provider,
      logger,
      ...(defaults.openAuthorizeUrl !== undefined && {
        openAuthorizeUrl: defaults.openAuthorizeUrl,
      }),
    });
    devProvider.setRedirectUris([broker.redirectUri, ...config.allowRedirectUris]);
    return {
      broker,
      provider: devProvider,
      async close() {
        await broker.close();
        await devProvider.close();
      },
    };
  } catch (error) {
    await devProvider.close();
    throw error;
  }
}

export const command: CommandModule = {
  help: `Usage: pkce-broker dev [options]

Runs a local OpenID provider (user demo, password demo) and the broker together.

Options (as for serve; --issuer and --client-id come from the bundled provider):
`,
  async run(loaded) {
    const env = await startDevEnvironment(loaded);
    const { broker, provider } = env;
    process.stdout.write(
      [
        `pkce-broker dev: broker on ${broker.url}, bundled provider on ${provider.issuer}`,
        `  client id: ${provider.clientId}   user: ${provider.user.username}   password: ${provider.user.password}`,
        `  try: curl -s ${broker.url}/pkce/challenge   or   node bin/pkce-broker.js login --broker ${broker.url}`,
        '',
      ].join('\n'),
    );
    return waitForShutdown(env);
  },
};
