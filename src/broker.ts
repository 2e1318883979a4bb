/**
 * The running broker: store, provider, flow service and HTTP server wired
 * together and listening. Used by every command and by the tests.
 */
import { createBrowserOpener } from './browser/open.js';
import type { BrokerConfig } from './config/load.js';
import { BrokerError } from './errors.js';
import { DeviceService, type PollScheduler } from './flow/device.js';
import { FlowService } from './flow/service.js';
import { SessionService } from './flow/session.js';
import type { SeedPolicy } from './flow/seed.js';
import { buildApp } from './http/app.js';
import { CALLBACK_PATH } from './http/callback-path.js';
import { NO_METRICS, createMetrics, type BrokerMetrics } from './metrics/metrics.js';
import { createLogger, type Logger } from './logging.js';
import { providerSpecs, type ProviderSpec } from './config/providers.js';
import { cacheDirectory } from './credentials/paths.js';
import { DiscoveryCache, type DiscoveryCacheOptions } from './provider/discovery-cache.js';
import {
  discoverProvider,
  providerFromKeptMetadata,
  type ProviderConfig,
} from './provider/oidc.js';
import {
  ProviderRegistry,
  type ProviderSettings,
  type ProviderTarget,
  type Scheduler,
} from './provider/registry.js';
import type { IdentityProvider } from './provider/types.js';
import { createDeviceStore, createFlowStore } from './store/create.js';
import type { DeviceStore } from './store/device-types.js';
import type { FlowStore } from './store/types.js';
import type { FastifyInstance } from 'fastify';

export { CALLBACK_PATH };

export interface StartBrokerOptions {
  config: Readonly<BrokerConfig>;
  logger?: Logger;
  /** A provider already discovered (tests); otherwise discovered from the configuration. */
  provider?: IdentityProvider;
  /**
   * Providers already discovered (dev, tests), the default first (or the one
   * with id `default`); they take --scope and --audience. Otherwise
   * discovered from the configuration (the flags' provider and the config
   * file's `providers`).
   */
  providers?: readonly IdentityProvider[];
  /** Schedules the background discovery of a provider down at start and revalidation (tests drive them). */
  scheduler?: Scheduler;
  /**
   * Keep the providers' discovery documents in the user's cache directory and
   * start from them (revalidated once listening): `true`, or where and how
   * long (tests). Default: `config.discoveryCache`, else off, so that an
   * embedding app writes nothing into the user's cache unless asked; the
   * command line turns it on.
   */
  discoveryCache?: boolean | Partial<DiscoveryCacheOptions>;
  /** A store already built (tests share one between brokers); otherwise from config.store. */
  store?: FlowStore;
  /** A device flow store already built (tests share one between brokers); otherwise from config.store. */
  deviceStore?: DeviceStore;
  /** The device poller's clock (tests); real timers by default. */
  deviceScheduler?: PollScheduler;
  /** The clock of the metrics' count of expired flows (tests); real timers by default. */
  flowScheduler?: PollScheduler;
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
  /** Receives the logout URL of a POST /pkce/logout with `"open": true`, instead of the --open behaviour. */
  openLogoutUrl?: (url: URL) => void | Promise<void>;
  appName?: string;
}

export interface RunningBroker {
  /** e.g. http://127.0.0.1:1000 */
  url: string;
  port: number;
  redirectUri: string;
  /** The default provider (throws provider_down while it is down). */
  readonly provider: IdentityProvider;
  providers: ProviderRegistry;
  store: FlowStore;
  device: DeviceService;
  app: FastifyInstance;
  logger: Logger;
  close(): Promise<void>;
}

export async function startBroker(options: StartBrokerOptions): Promise<RunningBroker> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  // Read at scrape time; the services exist by the time anyone can scrape.
  const waiting: { service?: FlowService; device?: DeviceService } = {};
  const metrics = config.metrics
    ? await createMetrics({
        waiting: () => ({
          '/pkce/code': waiting.service?.liveWaits ?? 0,
          '/device/token': waiting.device?.liveWaits ?? 0,
        }),
      })
    : NO_METRICS;
  // Discovery is round trips to the provider: the stores (a Redis connection) come up
  // while they are on the wire, instead of after. (Loading Fastify on demand here, to
  // overlap it too, measured ~9 ms slower against a local provider: the bench's start-up row.)
  const [discovered, storesBuilt] = await Promise.allSettled([
    providerRegistry(options, logger, metrics),
    createStores(options, logger),
  ]);
  if (discovered.status === 'rejected' || storesBuilt.status === 'rejected') {
    // Whatever did start is closed; a discovery fault is reported first, as when it ran alone.
    if (discovered.status === 'fulfilled') discovered.value.close();
    if (storesBuilt.status === 'fulfilled') await storesBuilt.value.close().catch(() => undefined);
    throw [discovered, storesBuilt].find(
      (result): result is PromiseRejectedResult => result.status === 'rejected',
    )!.reason;
  }
  const registry = discovered.value;
  const { store, deviceStore, close: closeStores } = storesBuilt.value;
  for (const provider of registry.up())
    for (const warning of provider.startupWarnings) logger.warn(warning);

  let port = config.port;
  // The redirect URI names the bound port, known only after listen when --port is 0.
  const callback = { redirectUri: config.redirectUri ?? '' };
  const policyFor = (provider: IdentityProvider): SeedPolicy => {
    const settings = registry.settingsOf(provider.id);
    return {
      provider: provider.id,
      clientId: provider.clientId,
      redirectUri: callback.redirectUri,
      allowedRedirectUris: config.allowRedirectUris,
      scope: settings.scope,
      audience: settings.audience,
      authorizeParams: settings.authorizeParams,
      responseModes: provider.responseModes,
    };
  };
  const opener = createBrowserOpener(config.open, logger);
  const device = new DeviceService({
    store: deviceStore,
    pickProvider: (domain) => registry.forDomain(domain),
    providerById: (id) => registry.byId(id),
    policyFor,
    waitTimeoutMs: config.waitTimeoutSec * 1000,
    ...(options.deviceScheduler !== undefined && { scheduler: options.deviceScheduler }),
    metrics,
  });
  const service = new FlowService({
    store,
    providers: registry,
    policyFor,
    waitTimeoutMs: config.waitTimeoutSec * 1000,
    openAuthorizeUrl: options.openAuthorizeUrl ?? opener,
    onClear: () => device.clear(),
    ...(options.flowScheduler !== undefined && { scheduler: options.flowScheduler }),
    userInfo: config.userInfo,
    warn: (details, message) => logger.warn(details, message),
    metrics,
  });
  waiting.service = service;
  waiting.device = device;
  const session = new SessionService({
    providerForClient: (clientId, audience) => registry.forClient(clientId, audience),
    allowedLogoutRedirects: () => [callback.redirectUri, ...config.allowRedirectUris],
    openLogoutUrl: (url) => (options.openLogoutUrl ?? opener)(url),
  });
  const app = await buildApp({
    service,
    device,
    session,
    store,
    logger,
    issuer: registry.list().find((p) => p.id === registry.defaultId)?.issuer ?? '',
    providers: () => registry.list(),
    maxWaiters: config.maxWaiters,
    metrics,
    appName: options.appName,
    security: {
      port: () => port,
      allowHosts: config.allowHosts,
      allowOrigins: config.allowOrigins,
      // Any configured provider may post a callback: the flow its state names says which it must be.
      providerOrigin: (origin) => registry.up().some((p) => p.authorizationOrigin === origin),
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
    registry.close();
    await closeStores().catch(() => undefined);
    throw listenError(error, config);
  }
  registry.startBackground();
  const address = app.server.address();
  if (address && typeof address === 'object') port = address.port;
  const hostForUrl = config.host.includes(':')
    ? `[${config.host}]`
    : config.host === '0.0.0.0'
      ? '127.0.0.1'
      : config.host;
  const url = `http://${hostForUrl}:${port}`;
  callback.redirectUri = config.redirectUri ?? `http://127.0.0.1:${port}${CALLBACK_PATH}`;

  return {
    url,
    port,
    redirectUri: callback.redirectUri,
    get provider() {
      return registry.default;
    },
    providers: registry,
    store,
    device,
    app,
    logger,
    async close() {
      registry.close();
      service.stop();
      device.stop();
      await app.close();
      await closeStores();
    },
  };
}

interface Stores {
  store: FlowStore;
  deviceStore: DeviceStore;
  /** Closes the stores built here, not the ones given. */
  close(): Promise<void>;
}

/** The stores given, or built from config.store (the device store sharing the flow store's client). */
async function createStores(options: StartBrokerOptions, logger: Logger): Promise<Stores> {
  const { config } = options;
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
  return {
    store,
    deviceStore,
    async close() {
      if (!options.store) await store.close();
      if (!options.deviceStore) await deviceStore.close();
    },
  };
}

/** The providers given, or every configured one discovered (registry.ts decides what stops start-up). */
async function providerRegistry(
  options: StartBrokerOptions,
  logger: Logger,
  metrics: BrokerMetrics,
): Promise<ProviderRegistry> {
  const { config } = options;
  const given = options.providers ?? (options.provider && [options.provider]);
  if (given !== undefined) {
    const settings: ProviderSettings = { scope: config.scope, audience: config.audience };
    return ProviderRegistry.of(given, () => settings);
  }
  const specs = providerSpecs(config);
  if (specs.length === 0) {
    throw new BrokerError(
      'config_invalid',
      'Missing --issuer URL (or --auth0-domain DOMAIN), or a "providers" list in the config file.',
    );
  }
  const cache = discoveryCacheOf(options, logger);
  return ProviderRegistry.discoverAll(
    specs.map((spec) => providerTarget(spec, config, metrics, cache)),
    { logger, ...(options.scheduler !== undefined && { scheduler: options.scheduler }) },
  );
}

/** The discovery cache the options ask for (see StartBrokerOptions.discoveryCache), or none. */
function discoveryCacheOf(options: StartBrokerOptions, logger: Logger): DiscoveryCache | undefined {
  const choice = options.discoveryCache ?? options.config.discoveryCache ?? false;
  if (choice === false) return undefined;
  return new DiscoveryCache({
    cacheDirectory: cacheDirectory(),
    logger,
    ...(choice === true ? {} : choice),
  });
}

function providerTarget(
  spec: ProviderSpec,
  config: Readonly<BrokerConfig>,
  metrics: BrokerMetrics,
  cache: DiscoveryCache | undefined,
): ProviderTarget {
  const observe = metrics.observerFor(spec.id);
  const providerConfig: ProviderConfig = {
    id: spec.id,
    kind: spec.kind,
    issuer: spec.issuer,
    clientId: spec.clientId,
    ...(spec.clientSecret !== undefined && { clientSecret: spec.clientSecret }),
    timeoutMs: config.providerTimeoutSec * 1000,
    responseMode: spec.responseMode ?? config.responseMode,
    par: spec.par ?? config.par,
    ...(observe !== undefined && { observe }),
  };
  return {
    id: spec.id,
    kind: spec.kind,
    issuer: spec.issuer,
    clientId: spec.clientId,
    settings: {
      scope: spec.scope ?? config.scope,
      audience: spec.audience,
      authorizeParams: spec.authorizeParams,
    },
    discover: (signal) =>
      discoverProvider({ ...providerConfig, ...(signal !== undefined && { signal }) }),
    kept: cache?.entry(spec.issuer, (metadata) =>
      providerFromKeptMetadata(providerConfig, metadata),
    ),
  };
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
