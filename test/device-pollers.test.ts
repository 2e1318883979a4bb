/**
 * One poller per device flow, whatever the number of requests and brokers:
 * a second waiter is refused while the provider sees one poll per interval;
 * POST /pkce/clear ends the flow and its polling; with Redis, POST
 * /device/token on broker B answers with what broker A polled. A waiter
 * that hangs up (Ctrl-C in `login`) ends the flow and its polling, on this
 * broker and on the one polling it; the broker's own wait timeout (504) does
 * not. Time is a ManualClock: polls happen when the test fires the poller's
 * timer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { after, before, describe, it } from 'node:test';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { scriptedDeviceLogin } from '../src/devprovider/login.js';
import type { DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import type { IdentityProvider } from '../src/provider/types.js';
import { connectRedisDeviceStore, type RedisDeviceStore } from '../src/store/device-redis.js';
import { MemoryDeviceStore } from '../src/store/device-memory.js';
import type { DeviceLookup, DeviceStore } from '../src/store/device-types.js';
import { ManualClock } from './support/manual-clock.js';
import { redisSkip, startRedis, type RedisServer } from './support/redis.js';
import { configFor, countedProvider } from './support/device.js';
import { postJson } from './support/stack.js';

interface Device {
  user_code: string;
  verification_uri: string;
  interval: number;
  handle: string;
}

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function startDevice(broker: RunningBroker): Promise<Device> {
  const response = await fetch(`${broker.url}/device/code`, { method: 'POST' });
  assert.equal(response.status, 200);
  return (await json<{ device: Device }>(response)).device;
}

const deviceToken = (broker: RunningBroker, handle: string, signal?: AbortSignal) =>
  fetch(`${broker.url}/device/token`, { ...postJson({ handle }), ...(signal && { signal }) });

/** Resolves `claimed(handle)` once a waiter holds that handle's claim in `store` (an event, not a poll). */
function watchClaims<S extends DeviceStore>(
  store: S,
): S & { claimed(handle: string): Promise<void> } {
  const seen = new Set<string>();
  const waiting = new Map<string, () => void>();
  const claimWaiter = store.claimWaiter.bind(store);
  store.claimWaiter = async (handle, leaseMs) => {
    const claim = await claimWaiter(handle, leaseMs);
    if (claim !== undefined) {
      seen.add(handle);
      waiting.get(handle)?.();
    }
    return claim;
  };
  return Object.assign(store, {
    claimed: (handle: string) =>
      seen.has(handle)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.set(handle, resolve)),
  });
}

/** A waiter on `handle` that the test hangs up on, once the broker holds it. */
async function heldWaiter(
  broker: RunningBroker,
  store: ReturnType<typeof watchClaims>,
  handle: string,
): Promise<{ hangUp(): Promise<void> }> {
  const dropped = new AbortController();
  const waiting = deviceToken(broker, handle, dropped.signal).then(
    (response) => assert.fail(`the waiter was answered ${response.status}`),
    () => undefined,
  );
  await store.claimed(handle);
  return {
    async hangUp() {
      dropped.abort();
      await waiting;
    },
  };
}

/** Resolves with the flow's outcome once it has one (an event of the store, on any broker). */
async function outcomeOf(store: DeviceStore, handle: string): Promise<DeviceLookup> {
  return store.waitForOutcome(handle, new AbortController().signal);
}

/** Two waiters on one handle: the one answered first (refused at once), and the other, still waiting. */
async function oneRefused(
  x: Promise<Response>,
  y: Promise<Response>,
): Promise<[Response, Promise<Response>]> {
  const first = await Promise.race([
    x.then((response) => ({ response, other: y })),
    y.then((response) => ({ response, other: x })),
  ]);
  return [first.response, first.other];
}

describe('one poller per device flow (memory store)', () => {
  let devProvider: DevProvider;
  let provider: IdentityProvider;
  let polls: () => number;
  let clock: ManualClock;
  let broker: RunningBroker;
  const deviceStore = watchClaims(new MemoryDeviceStore());
  before(async () => {
    ({ devProvider, provider, polls } = await countedProvider());
    clock = new ManualClock();
    broker = await startBroker({
      config: configFor(devProvider),
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

  it('refuses a second waiter with 409 while the provider sees one poll per interval', async () => {
    const device = await startDevice(broker);
    const [refused, waiting] = await oneRefused(
      deviceToken(broker, device.handle),
      deviceToken(broker, device.handle),
    );
    assert.equal(refused.status, 409);
    assert.equal((await json(refused))['code'], 'flow_busy');

    for (let round = 1; round <= 3; round++) {
      assert.equal(await clock.fire(), 2_000, 'the provider’s own interval');
      await clock.next();
      assert.equal(polls(), round);
      assert.equal(clock.pending, 1, 'one poller');
    }
    // A third ask while one waits: refused too, and no new poller.
    const third = await deviceToken(broker, device.handle);
    assert.equal(third.status, 409);
    assert.equal(clock.pending, 1);

    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    await clock.fire();
    const response = await waiting;
    assert.equal(response.status, 200);
    assert.equal((await json<PKCE>(response)).auth0?.user?.user_id, devProvider.user.sub);
    assert.equal(polls(), 4);
    assert.equal(clock.pending, 0, 'polling stopped with the outcome');
  });

  it('POST /pkce/clear ends the flow: the waiter gets 409, polling stops, a later ask is 409', async () => {
    const device = await startDevice(broker);
    const waiting = deviceToken(broker, device.handle);
    await clock.fire();
    await clock.next();
    const before = polls();
    assert.equal(before > 0, true);

    const cleared = await fetch(`${broker.url}/pkce/clear`, postJson({}));
    assert.equal(cleared.status, 204);
    const response = await waiting;
    assert.equal(response.status, 409);
    assert.equal((await json(response))['code'], 'flow_cleared');
    assert.equal(clock.pending, 0, 'no poll is scheduled');
    assert.equal(broker.device.polling, 0);
    const later = await deviceToken(broker, device.handle);
    assert.equal(later.status, 409);
    assert.equal(polls(), before);
  });

  it('a waiter that hangs up ends the flow: no further poll, a later ask is 409 cancelled', async () => {
    const device = await startDevice(broker);
    await clock.run();
    const before = polls();
    assert.equal(before > 0, true);
    const waiter = await heldWaiter(broker, deviceStore, device.handle);
    const ended = outcomeOf(deviceStore, device.handle);

    await waiter.hangUp();
    const lookup = await ended;
    assert.deepEqual(lookup.kind === 'live' && lookup.outcome, { kind: 'cancelled' });
    assert.equal(clock.pending, 0, 'no poll is scheduled');
    assert.equal(broker.device.polling, 0);
    // The person finishing at the provider now changes nothing: nobody polls for it.
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    for (let ask = 1; ask <= 2; ask++) {
      const later = await deviceToken(broker, device.handle);
      assert.equal(later.status, 409);
      const problem = await json(later);
      assert.equal(problem['code'], 'flow_cleared');
      assert.match(String(problem['detail']), /cancelled/);
    }
    assert.equal(clock.pending, 0);
    assert.equal(polls(), before);
  });
});

describe('the broker’s own wait timeout (memory store)', () => {
  let devProvider: DevProvider;
  let provider: IdentityProvider;
  let polls: () => number;
  const clock = new ManualClock();
  let broker: RunningBroker;
  before(async () => {
    ({ devProvider, provider, polls } = await countedProvider());
    broker = await startBroker({
      config: configFor(devProvider, { waitTimeoutSec: 1 }),
      provider,
      logger: createLogger({ level: 'silent' }),
      deviceScheduler: clock,
    });
    devProvider.setRedirectUris([broker.redirectUri]);
  });
  after(async () => {
    await broker.close();
    await devProvider.close();
  });

  it('answers 504 and keeps the flow polling: asking again resumes it', async () => {
    const device = await startDevice(broker);
    await clock.run();
    const timedOut = await deviceToken(broker, device.handle);
    assert.equal(timedOut.status, 504);
    assert.equal((await json(timedOut))['code'], 'wait_timeout');
    assert.equal(clock.pending, 1, 'still polling');
    assert.equal(broker.device.polling, 1);

    const waiting = deviceToken(broker, device.handle);
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    await clock.run();
    const response = await waiting;
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal((await json<PKCE>(response)).auth0?.user?.user_id, devProvider.user.sub);
    assert.equal(polls(), 2);
  });
});

describe('device flows across brokers sharing Redis', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let devProvider: DevProvider;
  let provider: IdentityProvider;
  let polls: () => number;
  const clocks = { a: new ManualClock(), b: new ManualClock() };
  let a: RunningBroker;
  let b: RunningBroker;
  /** B's device store, watched for claims; the other two connect as a broker does. */
  let bStore: ReturnType<typeof watchClaims<RedisDeviceStore>>;
  let observer: DeviceStore;
  before(async () => {
    redis = await startRedis();
    ({ devProvider, provider, polls } = await countedProvider());
    const storeOptions = {
      url: redis.url,
      key: randomBytes(32).toString('hex'),
      prefix: 'device-test:',
      logger: createLogger({ level: 'silent' }),
    };
    const config = configFor(devProvider, {
      store: storeOptions.url,
      storeKey: storeOptions.key,
      storePrefix: storeOptions.prefix,
    });
    const logger = createLogger({ level: 'silent' });
    bStore = watchClaims(await connectRedisDeviceStore(storeOptions));
    observer = await connectRedisDeviceStore(storeOptions);
    a = await startBroker({ config, provider, logger, deviceScheduler: clocks.a });
    b = await startBroker({
      config,
      provider,
      logger,
      deviceStore: bStore,
      deviceScheduler: clocks.b,
    });
    devProvider.setRedirectUris([a.redirectUri, b.redirectUri]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await bStore?.close();
    await observer?.close();
    await devProvider?.close();
    await redis?.stop();
  });

  it('POST /device/token on broker B answers with the tokens broker A polled', async () => {
    const device = await startDevice(a);
    await clocks.a.next();
    const waiting = deviceToken(b, device.handle);
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    await clocks.a.fire();
    const response = await waiting;
    assert.equal(response.status, 200);
    const body = await json<PKCE>(response);
    assert.equal(body.auth0?.user?.user_id, devProvider.user.sub);
    assert.equal(polls(), 1);
    // B found A's poller lease and never polled itself.
    assert.equal(clocks.b.delays.length, 0);
  });

  it('refuses a second waiter on another broker, and the provider sees one poller', async () => {
    const device = await startDevice(a);
    const before = polls();
    const [refused, waiting] = await oneRefused(
      deviceToken(a, device.handle),
      deviceToken(b, device.handle),
    );
    assert.equal(refused.status, 409);
    assert.equal((await json(refused))['code'], 'flow_busy');
    await clocks.a.fire();
    await clocks.a.next();
    assert.equal(polls(), before + 1);
    assert.equal(clocks.b.pending, 0);
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    await clocks.a.fire();
    assert.equal((await waiting).status, 200);
    assert.equal(polls(), before + 2);
    assert.equal(clocks.b.delays.length, 0);
  });

  it('a waiter on B that hangs up stops A’s polling: A reads the outcome before its next poll', async () => {
    const device = await startDevice(a);
    await clocks.a.run();
    const before = polls();
    const waiter = await heldWaiter(b, bStore, device.handle);
    const ended = outcomeOf(observer, device.handle);
    await waiter.hangUp();
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
      assert.match(String((await json(later))['detail']), /cancelled/);
    }
    assert.equal(clocks.b.delays.length, 0);
  });

  it('a broker’s device store shares its flow store’s two connections, closed with the broker', async () => {
    const admin = createClient({ url: redis.url });
    await admin.connect();
    const connections = async (): Promise<number> =>
      String(await admin.sendCommand(['CLIENT', 'LIST']))
        .split('\n')
        .filter(Boolean).length;
    try {
      const before = await connections();
      const c = await startBroker({
        config: configFor(devProvider, {
          store: redis.url,
          storeKey: randomBytes(32).toString('hex'),
          storePrefix: 'device-share:',
        }),
        provider,
        logger: createLogger({ level: 'silent' }),
      });
      assert.equal((await connections()) - before, 2, 'commands and subscriber, for both stores');
      const device = await startDevice(c);
      assert.equal(typeof device.handle, 'string');
      await c.close();
      assert.equal(await connections(), before);
    } finally {
      await admin.close();
    }
  });

  it('a device flow cleared on A is cleared on B', async () => {
    const device = await startDevice(a);
    const cleared = await fetch(`${b.url}/pkce/clear`, postJson({}));
    assert.equal(cleared.status, 204);
    const response = await deviceToken(a, device.handle);
    assert.equal(response.status, 409);
  });
});
