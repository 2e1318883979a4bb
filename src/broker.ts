/**
 * The running broker: store, provider, flow service and HTTP server wired
 * together and listening. Used by every command and by the tests.
 */
import { createBrowserOpener } from './browser/open.js';
import type { BrokerConfig } from './config/load.js';
import { BrokerError } from './errors.js';
import { DeviceService, type PollScheduler } from './flow/device.js';
import { FlowService } from './flow/service.js';
import type { SeedPolicy } from './flow/seed.js';
import { buildApp } from './http/app.js';
import { createLogger, type Logger } from './logging.js';
import { discoverProvider } from './provider/oidc.js';
import type { IdentityProvider } from './provider/types.js';
import { createDeviceStore, createFlowStore } from './store/create.js';
import type { DeviceStore } from './store/device-types.js';
import type { FlowStore } from './store/types.js';
import type { FastifyInstance } from 'fastify';

export const CALLBACK_PATH = '/pkce/response/code';

export interface StartBrokerOptions {
  config: Readonly<BrokerConfig>;
  logger?: Logger;
  /** A provider already discovered (tests, dev); otherwise discovered from config.issuer. */
  provider?: IdentityProvider;
  /** A store already built (tests share one between brokers); otherwise from config.store. */
  store?: FlowStore;
  /** A device flow store already built (tests share one between brokers); otherwise from config.store. */
  deviceStore?: DeviceStore;
  /** The device poller's clock (tests); real timers by default. */
  deviceScheduler?: PollScheduler;
  /**
   * Receives the provider's sign-in URL of every flow that POST /pkce/code
   * starts, instead of the --open behaviour: how a caller in this process (login,
   * demo, a desktop app embedding the broker, the tests) gets the URL directly,
   * to show it or hand it to a browser of its own. The URL holds the flow's
   * live state and nonce. It is awaited before the request waits for the
   * callback, so it should hand the URL on, not wait for the sign-in; a throw
   * fails that POST /pkce/code. `flow.state` names the sign-in, which a
   * pushed URL (PAR: only client_id and request_uri) does not.
   */
  openAuthorizeUrl?: (url: URL, flow: { state: string }) => void | Promise<void>;
  appName?: string;
}

export interface RunningBroker {
  /** e.g. http://127.0.0.1:1000 */
  url: string;
  port: number;
  redirectUri: string;
  provider: IdentityProvider;
  store: FlowStore;
  device: DeviceService;
  app: FastifyInstance;
  logger: Logger;
  close(): Promise<void>;
}

export async function startBroker(options: StartBrokerOptions): Promise<RunningBroker> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const provider =
    options.provider ??
    (await discoverProvider({
      issuer: requireValue(config.issuer, 'Missing --issuer URL (or --auth0-domain DOMAIN).'),
      clientId: requireValue(
        config.clientId,
        'Missing --client-id: the OAuth client ID registered at your identity provider.',
      ),
      ...(config.clientSecret !== undefined && { clientSecret: config.clientSecret }),
      timeoutMs: config.providerTimeoutSec * 1000,
      responseMode: config.responseMode,
      par: config.par,
    }));
  for (const warning of provider.startupWarnings) logger.warn(warning);
  const store =
    options.store ??
    (await createFlowStore({
      url: config.store,
      ttlMs: config.flowTtlSec * 1000,
      challengeTtlMs: config.challengeTtlSec * 1000,
      maxFlows: config.maxPendingFlows,
      key: config.storeKey,
      prefix: config.storePrefix,
      logger,
    }));

  const deviceStore =
    options.deviceStore ??
    (await createDeviceStore({
      url: config.store,
      key: config.storeKey,
      prefix: config.storePrefix,
      logger,
      ...(!options.store && { shareWith: store }),
    }).catch(async (error: unknown) => {
      if (!options.store) await store.close().catch(() => undefined);
      throw error;
    }));
  const closeStores = async (): Promise<void> => {
    if (!options.store) await store.close();
    if (!options.deviceStore) await deviceStore.close();
  };

  let port = config.port;
  // The redirect URI names the bound port, known only after listen when --port is 0.
  const policy: SeedPolicy = {
    clientId: provider.clientId,
    redirectUri: config.redirectUri ?? '',
    allowedRedirectUris: config.allowRedirectUris,
    scope: config.scope,
    ...(config.audience !== undefined && { audience: config.audience }),
    matchesDomain: (domain) => provider.matchesDomain(domain),
    responseModes: provider.responseModes,
  };
  const device = new DeviceService({
    store: deviceStore,
    // One provider until the registry (issue 11) replaces these two.
    pickProvider: (domain) => {
      if (domain === undefined || provider.matchesDomain(domain)) return provider;
      throw new BrokerError(
        'invalid_request',
        `domain does not name the configured identity provider (${new URL(provider.issuer).host}).`,
        { oauthError: 'invalid_request' },
      );
    },
    providerById: (id) => (id === provider.id ? provider : undefined),
    policy,
    waitTimeoutMs: config.waitTimeoutSec * 1000,
    ...(options.deviceScheduler !== undefined && { scheduler: options.deviceScheduler }),
  });
  const service = new FlowService({
    store,
    provider,
    policy,
    waitTimeoutMs: config.waitTimeoutSec * 1000,
    openAuthorizeUrl: options.openAuthorizeUrl ?? createBrowserOpener(config.open, logger),
    onClear: () => device.clear(),
  });
  const app = await buildApp({
    service,
    device,
    store,
    logger,
    issuer: provider.issuer,
    maxWaiters: config.maxWaiters,
    appName: options.appName,
    security: {
      port: () => port,
      allowHosts: config.allowHosts,
      allowOrigins: config.allowOrigins,
      providerOrigin: () => provider.authorizationOrigin,
      appIds: config.appIds,
    },
  });

  try {
    await app.listen({
      port: config.port,
      host: config.host,
      listenTextResolver: (address) => `Broker listening on ${address}`,
    });
  } catch (error) {
    await closeStores().catch(() => undefined);
    throw listenError(error, config);
  }
  const address = app.server.address();
  if (address && typeof address === 'object') port = address.port;
  const hostForUrl = config.host.includes(':')
    ? `[${config.host}]`
    : config.host === '0.0.0.0'
      ? '127.0.0.1'
      : config.host;
  const url = `http://${hostForUrl}:${port}`;
  policy.redirectUri = config.redirectUri ?? `http://127.0.0.1:${port}${CALLBACK_PATH}`;

  return {
    url,
    port,
    redirectUri: policy.redirectUri,
    provider,
    store,
    device,
    app,
    logger,
    async close() {
      service.stop();
      device.stop();
      await app.close();
      await closeStores();
    },
  };
}

function requireValue(value: string | undefined, message: string): string {
  if (value === undefined) throw new BrokerError('config_invalid', message);
  return value;
}

function listenError(error: unknown, config: Readonly<BrokerConfig>): BrokerError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new BrokerError(
      'startup_failed',
      `Port ${config.port} on ${config.host} is already in use; choose another with --port (e.g. --port 3000, or --port 0 for any free port).`,
      { cause: error },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new BrokerError(
      'startup_failed',
      `Port ${config.port} needs elevated privileges; use --port 3000 (or --port 0 for any free port).`,
      { cause: error },
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new BrokerError(
      'startup_failed',
      `Cannot listen on ${config.host}: no such local address; use --host 127.0.0.1.`,
      { cause: error },
    );
  }
  return new BrokerError(
    'startup_failed',
    `Cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`,
    { cause: error },
  );
}
