/**
 * POST /device/cancel: the app that started a device sign-in ends it by its
 * handle, also when no POST /device/token is waiting (login's Ctrl-C before
 * its first one reached the broker). Polling stops at once here, and with
 * Redis on the broker polling it at its next turn; a waiting /device/token
 * answers 409; tokens that came first are dropped. Same gates as
 * /device/token (Host, X-Application-ID). Time is a ManualClock: polls happen
 * when the test fires the poller's timer. Last, `login --device` with its
 * /device/token held back on the way: Ctrl-C exits 130 and the flow ends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startBroker, type RunningBroker } from '../src/broker.js';
import type { BrokerConfig } from '../src/config/load.js';
import { scriptedDeviceLogin } from '../src/devprovider/login.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import { discoverProvider } from '../src/provider/oidc.js';
import type { IdentityProvider } from '../src/provider/types.js';
import { connectRedisDeviceStore, type RedisDeviceStore } from '../src/store/device-redis.js';
import { MemoryDeviceStore } from '../src/store/device-memory.js';
import type { DeviceLookup, DeviceStore } from '../src/store/device-types.js';
import { startCli } from './support/cli.js';
import { ManualClock } from './support/manual-clock.js';
import { redisSkip, startRedis, type RedisServer } from './support/redis.js';
import { WatchedDeviceStore, configFor, countedProvider } from './support/device.js';
import { postJson } from './support/stack.js';

const APP_ID = 'device-cancel-app';
const appHeaders = { 'x-application-id': APP_ID };

interface Device {
  user_code: string;
  verification_uri: string;
  handle: string;
}

const configWithApp = (devProvider: DevProvider, extra: Partial<BrokerConfig> = {}) =>
  configFor(devProvider, { appIds: [APP_ID], ...extra });

async function startDevice(broker: RunningBroker): Promise<Device> {
  const response = await fetch(`${broker.url}/device/code`, postJson({}, appHeaders));
  assert.equal(response.status, 200);
  return ((await response.json()) as { device: Device }).device;
}

const deviceToken = (broker: RunningBroker, handle: string) =>
  fetch(`${broker.url}/device/token`, postJson({ handle }, appHeaders));

const cancel = (broker: RunningBroker, handle: string, headers = appHeaders) =>
  fetch(`${broker.url}/device/cancel`, postJson({ handle }, headers));

async function problemOf(response: Response): Promise<{ code?: string; detail?: string }> {
  return (await response.json()) as { code?: string; detail?: string };
}

/** Resolves with the flow's outcome once it has one (an event of the store, on any broker). */
function outcomeOf(store: DeviceStore, handle: string): Promise<DeviceLookup> {
  return store.waitForOutcome(handle, new AbortController().signal);
}

/** A request with a Host of our choosing (fetch does not let a caller set Host). */
function postWithHost(url: string, host: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { host, 'content-type': 'application/json', ...appHeaders },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('POST /device/cancel (memory store)', () => {
  let devProvider: DevProvider;
  let provider: IdentityProvider;
  let polls: () => number;
  const clock = new ManualClock();
  const deviceStore = new WatchedDeviceStore();
  let broker: RunningBroker;
  before(async () => {
    ({ devProvider, provider, polls } = await countedProvider());
    broker = await startBroker({
      config: configWithApp(devProvider),
      provider,
      logger: createLogger({ level: 'silent' }),
      deviceStore,
      deviceScheduler: clock,
    });
    devProvider.setRedirectUris([broker.redirectUri]);
  });
  after(async () => {
    await broker.close();
    await deviceStore.close();
    await devProvider.close();
  });

  it('ends a flow nobody waits on: 204, no further poll, a later ask is 409 cancelled', async () => {
    const device = await startDevice(broker);
    await clock.run();
    const before = polls();
    assert.equal(before > 0, true);
    assert.equal(broker.device.polling, 1);

    const cancelled = await cancel(broker, device.handle);
    assert.equal(cancelled.status, 204);
    assert.equal(clock.pending, 0, 'no poll is scheduled');
    assert.equal(broker.device.polling, 0);
    // The person finishing at the provider now changes nothing: nobody polls for it.
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    const later = await deviceToken(broker, device.handle);
    assert.equal(later.status, 409);
    const problem = await problemOf(later);
    assert.equal(problem.code, 'flow_cleared');
    assert.match(String(problem.detail), /cancelled/);
    assert.equal(clock.pending, 0, 'asking again starts no poller');
    // Idempotent while the record lives.
    assert.equal((await cancel(broker, device.handle)).status, 204);
    assert.equal(polls(), before);
  });

  it(
    'a waiting POST /device/token answers 409 when its flow is cancelled',
    { timeout: 30_000 },
    async () => {
      const device = await startDevice(broker);
      const claimed = deviceStore.claimed(device.handle);
      const waiting = deviceToken(broker, device.handle);
      await claimed;
      assert.equal((await cancel(broker, device.handle)).status, 204);
      const answer = await waiting;
      assert.equal(answer.status, 409);
      assert.match(String((await problemOf(answer)).detail), /cancelled/);
      assert.equal(broker.device.polling, 0);
    },
  );

  it('drops tokens that came before the cancel: a later ask is 404', async () => {
    const device = await startDevice(broker);
    const ended = outcomeOf(deviceStore, device.handle);
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    await clock.run();
    const lookup = await ended;
    assert.equal(lookup.kind === 'live' && lookup.outcome?.kind, 'tokens');

    assert.equal((await cancel(broker, device.handle)).status, 204);
    assert.equal((await deviceStore.get(device.handle)).kind, 'gone');
    assert.equal((await deviceToken(broker, device.handle)).status, 404);
  });

  it('passes the gates of /device/token: the app id, the Host; 404 for an unknown handle', async () => {
    const device = await startDevice(broker);
    const refused = await cancel(broker, device.handle, {} as typeof appHeaders);
    assert.equal(refused.status, 401);
    assert.equal(
      await postWithHost(`${broker.url}/device/cancel`, 'evil.example:80', {
        handle: device.handle,
      }),
      421,
    );
    assert.equal(broker.device.polling, 1, 'a refused cancel ends nothing');
    const unknown = await cancel(broker, randomBytes(32).toString('base64url'));
    assert.equal(unknown.status, 404);
    const noBody = await fetch(`${broker.url}/device/cancel`, postJson({}, appHeaders));
    assert.equal(noBody.status, 400);
    assert.equal((await cancel(broker, device.handle)).status, 204);
  });

  it('is in the OpenAPI document, under Device', async () => {
    const doc = (await (
      await fetch(`${broker.url}/openapi.json`, { headers: appHeaders })
    ).json()) as {
      paths: Record<
        string,
        { post?: { operationId?: string; tags?: string[]; responses?: object } }
      >;
    };
    const operation = doc.paths['/device/cancel']?.post;
    assert.equal(operation?.operationId, 'deviceCancel');
    assert.deepEqual(operation?.tags, ['Device']);
    assert.ok(operation?.responses && '204' in operation.responses);
  });
});

describe('POST /device/cancel across brokers sharing Redis', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let devProvider: DevProvider;
  let provider: IdentityProvider;
  let polls: () => number;
  const clocks = { a: new ManualClock(), b: new ManualClock() };
  let a: RunningBroker;
  let b: RunningBroker;
  let observer: RedisDeviceStore;
  before(async () => {
    redis = await startRedis();
    ({ devProvider, provider, polls } = await countedProvider());
    const storeOptions = {
      url: redis.url,
      key: randomBytes(32).toString('hex'),
      prefix: 'device-cancel:',
      logger: createLogger({ level: 'silent' }),
    };
    const config = configWithApp(devProvider, {
      store: storeOptions.url,
      storeKey: storeOptions.key,
      storePrefix: storeOptions.prefix,
    });
    const logger = createLogger({ level: 'silent' });
    observer = await connectRedisDeviceStore(storeOptions);
    a = await startBroker({ config, provider, logger, deviceScheduler: clocks.a });
    b = await startBroker({ config, provider, logger, deviceScheduler: clocks.b });
    devProvider.setRedirectUris([a.redirectUri, b.redirectUri]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await observer?.close();
    await devProvider?.close();
    await redis?.stop();
  });

  it('a cancel on B stops A’s polling: A reads the outcome before its next poll', async () => {
    const device = await startDevice(a);
    await clocks.a.run();
    const before = polls();
    assert.equal(a.device.polling, 1);
    const ended = outcomeOf(observer, device.handle);

    assert.equal((await cancel(b, device.handle)).status, 204);
    const lookup = await ended;
    assert.deepEqual(lookup.kind === 'live' && lookup.outcome, { kind: 'cancelled' });
    // A's next turn finds the outcome and stops without asking the provider.
    await clocks.a.run();
    assert.equal(polls(), before);
    assert.equal(clocks.a.pending, 0);
    assert.equal(a.device.polling, 0);
    for (const broker of [a, b]) {
      const later = await deviceToken(broker, device.handle);
      assert.equal(later.status, 409);
      assert.match(String((await problemOf(later)).detail), /cancelled/);
    }
    assert.equal(clocks.b.delays.length, 0, 'B never polled');
  });
});

/**
 * Between login and the broker: passes every request on, except that each
 * POST /device/token is held (never forwarded) and reported: the state in
 * which Ctrl-C comes before the broker has seen any waiter.
 */
async function holdingProxy(target: string): Promise<{
  url: string;
  held(): Promise<void>;
  paths: string[];
  close(): Promise<void>;
}> {
  const upstream = new URL(target);
  const paths: string[] = [];
  let onHeld: (() => void) | undefined;
  const heldOnce = new Promise<void>((resolve) => (onHeld = resolve));
  const server: Server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    if (req.url === '/device/token') {
      req.resume();
      onHeld?.();
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => heldOnce,
    paths,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('pkce-broker login --device, Ctrl-C before its first /device/token reached the broker', () => {
  let devProvider: DevProvider;
  let provider: IdentityProvider;
  let broker: RunningBroker;
  const deviceStore = new MemoryDeviceStore();
  before(async () => {
    ({ devProvider, provider } = await countedProvider());
    broker = await startBroker({
      config: configFor(devProvider, { appIds: [] }),
      provider,
      logger: createLogger({ level: 'silent' }),
      deviceStore,
    });
    devProvider.setRedirectUris([broker.redirectUri]);
  });
  after(async () => {
    await broker.close();
    await deviceStore.close();
    await devProvider.close();
  });

  it('exits 130 and ends the flow at the broker: no poller is left', async () => {
    const proxy = await holdingProxy(broker.url);
    const login = startCli(['login', '--broker', proxy.url, '--device'], { pty: true });
    try {
      await proxy.held();
      assert.equal(broker.device.polling, 1, 'the flow is being polled, with no waiter');
      assert.equal(broker.device.liveWaits, 0);
      login.write('\x03');
      const { code, stdout } = await login.exited;
      assert.equal(code, 130, stdout);
      assert.ok(proxy.paths.includes('POST /device/cancel'), proxy.paths.join(', '));
      assert.equal(broker.device.polling, 0);
    } finally {
      login.child.kill();
      await proxy.close();
    }
  });
});

describe('POST /device/code whose app went away before the answer', () => {
  let devProvider: DevProvider;
  let broker: RunningBroker;
  const deviceStore = new MemoryDeviceStore();
  /** Each device authorization request to the provider waits here until the test lets it go. */
  let heldAuthorization: { arrived: Promise<void>; release(): void };
  const holdNext = (): void => {
    let arrived!: () => void;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    heldAuthorization = {
      arrived: new Promise<void>((resolve) => (arrived = resolve)),
      release,
    };
    const current = heldAuthorization;
    gated = async () => {
      arrived();
      await gate;
      if (heldAuthorization === current) gated = undefined;
    };
  };
  let gated: (() => Promise<void>) | undefined;

  before(async () => {
    devProvider = await startDevProvider({ deviceInterval: 2 });
    const gatingFetch: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.includes('/device/auth') && gated) await gated();
      return fetch(input, init);
    };
    const provider = await discoverProvider({
      issuer: devProvider.issuer,
      clientId: devProvider.clientId,
      fetch: gatingFetch,
      par: 'never',
    });
    broker = await startBroker({
      config: configFor(devProvider, { appIds: [] }),
      provider,
      logger: createLogger({ level: 'silent' }),
      deviceStore,
    });
    devProvider.setRedirectUris([broker.redirectUri]);
  });
  after(async () => {
    await broker.close();
    await deviceStore.close();
    await devProvider.close();
  });

  it(
    'ends the flow it started: nobody holds its handle, so nothing polls for it',
    { timeout: 20_000 },
    async () => {
      holdNext();
      // The broker's side of the request's connection closing: the event the test waits for.
      const closed = new Promise<void>((resolve) =>
        broker.app.server.once('connection', (socket) => socket.once('close', () => resolve())),
      );
      const dropped = new AbortController();
      const asked = fetch(`${broker.url}/device/code`, {
        ...postJson({}),
        signal: dropped.signal,
      }).then(
        () => assert.fail('answered'),
        () => undefined,
      );
      await heldAuthorization.arrived;
      dropped.abort();
      await asked;
      await closed;
      // The broker saw the hang-up on its socket; the provider answers only then.
      const ended = new Promise<DeviceLookup>((resolve) => {
        const create = deviceStore.create;
        deviceStore.create = async (record, ttlMs) => {
          await create.call(deviceStore, record, ttlMs);
          deviceStore.create = create;
          void deviceStore
            .waitForOutcome(record.handle, new AbortController().signal)
            .then(resolve);
        };
      });
      heldAuthorization.release();
      const lookup = await ended;
      assert.deepEqual(lookup.kind === 'live' && lookup.outcome, { kind: 'cancelled' });
      assert.equal(broker.device.polling, 0);
    },
  );
});
