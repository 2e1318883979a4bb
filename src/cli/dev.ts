/** `pkce-broker dev`: the bundled OpenID provider and the broker, ready to sign in with demo / demo. */
import type { BrowserOpener } from '../browser/open.js';
import { startBroker } from '../broker.js';
import { loadConfig } from '../config/load.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { discoverProvider } from '../provider/oidc.js';
import { optionsHelp } from './help.js';
import { waitForShutdown } from './serve.js';

export interface DevEnvironment {
  broker: Awaited<ReturnType<typeof startBroker>>;
  provider: Awaited<ReturnType<typeof import('../devprovider/provider.js').startDevProvider>>;
  close(): Promise<void>;
}

export interface DevEnvironmentOptions {
  /** Port when neither --port nor PKCE_BROKER_PORT is given. */
  port?: number;
  /** Replaces the --open behaviour (demo drives the sign-in itself and opens nothing). */
  openAuthorizeUrl?: BrowserOpener;
  logger?: Logger;
}

/** Starts the dev provider and a broker wired to it; shared by dev, demo and login. */
export async function startDevEnvironment(
  argv: readonly string[],
  defaults: DevEnvironmentOptions = {},
): Promise<DevEnvironment> {
  const loaded = loadConfig({ argv, env: process.env });
  const config = loaded.config;
  if (config.issuer !== undefined) {
    throw new BrokerError(
      'config_invalid',
      '`dev` runs its own provider; use `serve` for --issuer or --auth0-domain.',
    );
  }
  // The bundled provider is loaded only by the commands that run it.
  const { startDevProvider } = await import('../devprovider/provider.js');
  const devProvider = await startDevProvider({});
  try {
    const provider = await discoverProvider({
      issuer: devProvider.issuer,
      clientId: devProvider.clientId,
      timeoutMs: config.providerTimeoutSec * 1000,
    });
    const port =
      argv.some((a) => a === '--port' || a.startsWith('--port=')) || process.env.PKCE_BROKER_PORT
        ? config.port
        : (defaults.port ?? config.port);
    const broker = await startBroker({
      config: { ...config, port, issuer: devProvider.issuer, clientId: devProvider.clientId },
      provider,
      ...(defaults.openAuthorizeUrl !== undefined && {
        openAuthorizeUrl: defaults.openAuthorizeUrl,
      }),
      ...(defaults.logger !== undefined && { logger: defaults.logger }),
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

export async function dev(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `Usage: pkce-broker dev [options]\n\nRuns a local OpenID provider (user demo, password demo) and the broker together.\n\nOptions (as for serve; --issuer and --client-id come from the bundled provider):\n${optionsHelp()}`,
    );
    return 0;
  }
  const env = await startDevEnvironment(argv);
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
}
