/**
 * The Redis flow store against a real redis-server started here: the shared
 * contract suite unchanged (time made to pass by the test, in Redis and in the
 * store's timers), then what only a shared store has: several handles on one
 * Redis, secrets at rest, faults.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it, test } from 'node:test';
import { createClient } from 'redis';
import { BrokerError } from '../src/errors.js';
import { createLogger } from '../src/logging.js';
import { createFlowStore } from '../src/store/create.js';
import { connectRedisFlowStore, type RedisFlowStore } from '../src/store/redis.js';
import { flowStoreContract, newFlow } from './store-contract.js';
import { ManualScheduler } from './support/manual-scheduler.js';
import {
  dumpRedis,
  freePort,
  passRedisTime,
  redisSkip,
  startRedis,
  type RedisServer,
} from './support/redis.js';

const KEY = randomBytes(32).toString('hex');
const quiet = createLogger({ level: 'silent' });
let prefixes = 0;

function isCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof BrokerError && e.code === code;
}

/** A logger whose lines a test can wait for. */
function watchedLogger(level = 'info') {
  const lines: string[] = [];
  const waiting: Array<{ pattern: RegExp; left: number; resolve: () => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(line);
        for (const w of [...waiting]) {
          if (w.pattern.test(line) && --w.left === 0) {
            waiting.splice(waiting.indexOf(w), 1);
            w.resolve();
          }
        }
      }
      done();
    },
  });
  /** Resolves once `count` lines matching `pattern` were written after this call. */
  const count = (pattern: RegExp, left: number): Promise<void> =>
    new Promise((resolve) => waiting.push({ pattern, left, resolve }));
  return {
    logger: createLogger({ level, destination: sink }),
    lines,
    /** Resolves on the next line matching `pattern`, written after this call. */
    next: (pattern: RegExp): Promise<void> => count(pattern, 1),
    count,
  };
}

/**
 * Resolves once Redis has run `count` SUBSCRIBEs to flow channels under
 * `prefix`: a waiter waits once it has subscribed. Watched with MONITOR, the
 * server's own record of each command it ran, so nothing polls.
 */
async function subscribes(url: string, prefix: string, count: number) {
  const monitor = createClient({ url });
  monitor.on('error', () => {});
  await monitor.connect();
  let left = count;
  let seen: () => void = () => {};
  const done = new Promise<void>((resolve) => (seen = resolve));
  const flowChannel = new RegExp(`"SUBSCRIBE" "${prefix}ch:`, 'i');
  await monitor.monitor((line) => {
    if (flowChannel.test(String(line)) && --left === 0) seen();
  });
  const stop = (): void => {
    if (monitor.isOpen) monitor.destroy();
  };
  return { done: done.finally(stop), stop };
}

if (redisSkip) {
  test('Redis store', { skip: redisSkip }, () => {});
} else {
  const redis = await startRedis();
  after(() => redis.stop());
  const open = (
    options: {
      ttlMs?: number;
      challengeTtlMs?: number;
      maxFlows?: number;
      prefix?: string;
      url?: string;
      logger?: typeof quiet;
      scheduler?: ManualScheduler;
      commandTimeoutMs?: number;
    } = {},
  ) =>
    connectRedisFlowStore({
      url: options.url ?? redis.url,
      key: KEY,
      prefix: options.prefix ?? `test${prefixes++}:`,
      ttlMs: options.ttlMs ?? 60_000,
      ...(options.challengeTtlMs !== undefined && { challengeTtlMs: options.challengeTtlMs }),
      maxFlows: options.maxFlows ?? 100,
      logger: options.logger ?? quiet,
      ...(options.scheduler !== undefined && { scheduler: options.scheduler }),
      ...(options.commandTimeoutMs !== undefined && { commandTimeoutMs: options.commandTimeoutMs }),
    });

  // Every contract store's keys start with CONTRACT, and its waiters' timers run on one manual clock.
  const CONTRACT = 'contract';
  const clock = new ManualScheduler();
  const timeKeeper = createClient({ url: redis.url });
  timeKeeper.on('error', () => {});
  await timeKeeper.connect();
  after(() => timeKeeper.close());
  const sharedPrefixes = new Map<string, string>();
  flowStoreContract('redis', {
    async make({ ttlMs, maxFlows, challengeTtlMs, shared }) {
      let prefix = shared === undefined ? undefined : sharedPrefixes.get(shared);
      if (prefix === undefined) {
        prefix = `${CONTRACT}${prefixes++}:`;
        if (shared !== undefined) sharedPrefixes.set(shared, prefix);
      }
      return open({
        ttlMs,
        maxFlows,
        prefix,
        scheduler: clock,
        ...(challengeTtlMs !== undefined && { challengeTtlMs }),
      });
    },
    // Redis keeps time itself (TTLs, and TIME in the scripts): age its keys first, then run the
    // waiters' expiry timers, which re-read their flows from the aged Redis.
    async advance(ms) {
      await passRedisTime(timeKeeper, `${CONTRACT}*`, ms);
      clock.advance(ms);
    },
  });

  describe('Redis store: several brokers on one Redis', () => {
    let a: RedisFlowStore;
    let b: RedisFlowStore;
    before(async () => {
      const prefix = `shared${prefixes++}:`;
      a = await open({ prefix, maxFlows: 3 });
      b = await open({ prefix, maxFlows: 3 });
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    it('wakes a waiter on one broker when the flow completes on another, and redeems there', async () => {
      const flow = newFlow();
      await a.create(flow);
      const waiting = a.waitForOutcome(flow.state, new AbortController().signal);
      const done = await b.complete(flow.state, {
        kind: 'code',
        code: 'cross-code',
        iss: 'http://issuer',
      });
      assert.equal(done?.verifier, flow.verifier);
      const result = await waiting;
      assert.equal(result.kind, 'outcome');
      assert.deepEqual(result.kind === 'outcome' && result.flow.outcome, {
        kind: 'code',
        code: 'cross-code',
        iss: 'http://issuer',
      });
      assert.equal((await b.redeemCode('cross-code'))?.state, flow.state);
      assert.equal(await a.redeemCode('cross-code'), undefined);
    });

    it('cancels waiters everywhere on clear, and wakes them with gone on delete elsewhere', async () => {
      const [x, y, z] = [newFlow(), newFlow(), newFlow()];
      await a.create(x);
      await b.create(y);
      await a.create(z);
      const onA = a.waitForOutcome(x.state, new AbortController().signal);
      const onB = b.waitForOutcome(y.state, new AbortController().signal);
      const gone = b.waitForOutcome(z.state, new AbortController().signal);
      await a.delete(z.state);
      assert.deepEqual(await gone, { kind: 'gone' });
      await a.clear();
      assert.deepEqual(await onA, { kind: 'cleared' });
      assert.deepEqual(await onB, { kind: 'cleared' });
      assert.equal(await b.size(), 0);
    });

    it('holds the pending cap across brokers', async () => {
      await a.create(newFlow());
      await b.create(newFlow());
      await a.create(newFlow());
      await assert.rejects(b.create(newFlow()), isCode('too_many_flows'));
      await assert.rejects(a.create(newFlow()), isCode('too_many_flows'));
      await b.clear();
      await b.create(newFlow());
    });

    it('lets exactly one of many completions and redemptions win across brokers', async () => {
      await a.clear();
      const flow = newFlow();
      await a.create(flow);
      const completions = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          (i % 2 ? a : b).complete(flow.state, { kind: 'code', code: `race-${i}` }),
        ),
      );
      const winners = completions.filter(Boolean);
      assert.equal(winners.length, 1);
      const code = (winners[0]?.outcome as { code: string }).code;
      const redemptions = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).redeemCode(code)),
      );
      assert.equal(redemptions.filter(Boolean).length, 1);
    });
  });

  describe('Redis store: secrets at rest', () => {
    it('keeps no state, nonce, verifier or code in any key, value or channel name', async () => {
      const prefix = `dump${prefixes++}:`;
      const store = await open({ prefix });
      try {
        const flows = [newFlow(), newFlow(), newFlow()];
        for (const flow of flows) await store.create(flow);
        await store.start(flows[0]!.state, {
          client_id: 'c',
          redirect_uri: 'http://127.0.0.1:1/cb',
          scope: ['openid'],
          response_mode: 'form_post',
          extras: { organization: 'org_sealed', extra: { access_type: 'offline_sealed' } },
        });
        const code = `code-${randomBytes(16).toString('base64url')}`;
        await store.complete(flows[0]!.state, { kind: 'code', code });
        await store.complete(flows[1]!.state, {
          kind: 'error',
          reason: 'denied',
          error: 'access_denied',
          description: 'no thanks',
        });
        assert.equal((await store.claim(flows[2]!.state, 60_000)).kind, 'claimed');
        const refreshToken = `rt-${randomBytes(16).toString('base64url')}`;
        const sub = `user-${randomBytes(8).toString('hex')}`;
        await store.bindSubject(refreshToken, { iss: 'http://issuer.example', sub }, 60_000);
        const dump = await dumpRedis(redis.url);
        assert.ok(
          dump.includes(`${prefix}f:`) &&
            dump.includes(`${prefix}c:`) &&
            dump.includes(`${prefix}w:`) &&
            dump.includes(`${prefix}s:`) &&
            dump.includes(`${prefix}live`),
          dump,
        );
        assert.ok(!dump.includes(refreshToken), 'a refresh token is in the dump');
        assert.ok(
          !dump.includes(sub) && !dump.includes('issuer.example'),
          'a subject is in the dump',
        );
        for (const flow of flows) {
          for (const secret of [flow.state, flow.nonce, flow.verifier!])
            assert.ok(!dump.includes(secret), 'a flow secret is in the dump');
        }
        assert.ok(!dump.includes(code), 'the code is in the dump');
        assert.ok(
          !dump.includes('access_denied') &&
            !dump.includes('127.0.0.1:1/cb') &&
            !dump.includes('org_sealed') &&
            !dump.includes('offline_sealed'),
          'outcome and request (its extras too) are sealed',
        );
      } finally {
        await store.close();
      }
    });

    it('refuses a sealed record copied onto another flow', async () => {
      const prefix = `move${prefixes++}:`;
      const store = await open({ prefix });
      const raw = createClient({ url: redis.url });
      raw.on('error', () => {});
      await raw.connect();
      try {
        const [one, two] = [newFlow(), newFlow()];
        await store.create(one);
        await store.create(two);
        const keys = (await raw.keys(`${prefix}f:*`)).sort();
        assert.equal(keys.length, 2);
        const sealed = await raw.hGet(keys[0]!, 'r');
        await raw.hSet(keys[1]!, 'r', sealed!);
        const results = await Promise.allSettled([store.get(one.state), store.get(two.state)]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const refused = results.find((r) => r.status === 'rejected');
        assert.ok(refused && isCode('internal')(refused.reason));
      } finally {
        await raw.close();
        await store.close();
      }
    });

    it('is not found by a broker with another --store-key', async () => {
      const prefix = `otherkey${prefixes++}:`;
      const store = await open({ prefix });
      const other = await connectRedisFlowStore({
        url: redis.url,
        key: randomBytes(32).toString('hex'),
        prefix,
        ttlMs: 60_000,
        maxFlows: 10,
        logger: quiet,
      });
      try {
        const flow = newFlow();
        await store.create(flow);
        assert.equal(await other.get(flow.state), undefined);
        assert.equal(await other.complete(flow.state, { kind: 'code', code: 'x' }), undefined);
      } finally {
        await other.close();
        await store.close();
      }
    });
  });

  describe('Redis store: faults', { timeout: 20_000 }, () => {
    let own: RedisServer;
    before(async () => {
      own = await startRedis();
    });
    after(() => own.stop());

    it('refuses to start when Redis is unreachable, in one line naming the server', async () => {
      const port = await freePort();
      // A client that kept retrying would never settle: the rejection itself says it gave up at once.
      await assert.rejects(
        createFlowStore({
          url: `redis://127.0.0.1:${port}`,
          key: KEY,
          prefix: 'x:',
          ttlMs: 1000,
          maxFlows: 1,
          logger: quiet,
        }),
        (e: unknown) =>
          e instanceof BrokerError &&
          e.code === 'startup_failed' &&
          e.message ===
            `Cannot reach Redis at redis://127.0.0.1:${port} (ECONNREFUSED); start it or fix --store`,
      );
    });

    it('requires a key with Redis (loadConfig asks the person for --store-key)', async () => {
      await assert.rejects(
        createFlowStore({
          url: own.url,
          key: undefined,
          prefix: 'x:',
          ttlMs: 1000,
          maxFlows: 1,
          logger: quiet,
        }),
        TypeError,
      );
    });

    it('fails fast with store_unavailable while Redis is down, and recovers when it is back', async () => {
      const watch = watchedLogger();
      const prefix = `fault${prefixes++}:`;
      // No command timeout to speak of: only refusing commands while offline can make them fail fast.
      const store = await open({
        url: own.url,
        logger: watch.logger,
        prefix,
        commandTimeoutMs: 3_600_000,
      });
      const subscribed = await subscribes(own.url, prefix, 1);
      try {
        const survivor = newFlow();
        await store.create(survivor);
        const waiting = store.waitForOutcome(survivor.state, new AbortController().signal);
        await subscribed.done;
        assert.deepEqual(await store.health(), { ok: true, detail: `redis ${own.url} ready` });

        const lost = watch.next(/Redis connection lost/);
        await own.kill();
        await lost;
        // Redis comes back only after these settled: an operation queued until then, or held
        // until a command timeout (an hour here), would hang this test instead of failing fast.
        const failures = await Promise.allSettled([
          store.create(newFlow()),
          store.get(survivor.state),
          store.complete(survivor.state, { kind: 'code', code: 'c' }),
          store.redeemCode('c'),
          store.waitForOutcome(survivor.state, new AbortController().signal),
          store.clear(),
        ]);
        for (const failure of failures) {
          assert.equal(failure.status, 'rejected');
          assert.ok(isCode('store_unavailable')((failure as PromiseRejectedResult).reason));
        }
        const health = await store.health();
        assert.equal(health.ok, false);
        assert.match(health.detail ?? '', /unreachable \(.+\); reconnecting/);

        const restored = watch.next(/Redis connection restored/);
        await own.restart();
        await restored;
        // The restarted Redis is empty: the waiter learns its flow is gone instead of waiting forever.
        assert.deepEqual(await waiting, { kind: 'gone' });
        assert.equal((await store.health()).ok, true);
        const flow = newFlow();
        await store.create(flow);
        const again = store.waitForOutcome(flow.state, new AbortController().signal);
        await store.complete(flow.state, { kind: 'code', code: 'after-outage' });
        assert.equal((await again).kind, 'outcome');
        assert.equal((await store.redeemCode('after-outage'))?.state, flow.state);
        assert.ok(watch.lines.every((line) => !line.includes(survivor.state)));
      } finally {
        subscribed.stop();
        await store.close();
      }
    });

    it('is subscribed to exactly the clear channel once waiters ended during an outage', async () => {
      const watch = watchedLogger('debug');
      const prefix = `reconcile${prefixes++}:`;
      const store = await open({ url: own.url, logger: watch.logger, prefix });
      const subscribed = await subscribes(own.url, prefix, 3);
      try {
        const flows = [newFlow(), newFlow(), newFlow()];
        for (const flow of flows) await store.create(flow);
        const controllers = flows.map(() => new AbortController());
        const waits = flows.map((flow, i) =>
          store.waitForOutcome(flow.state, controllers[i]!.signal),
        );
        await subscribed.done;

        const lost = watch.next(/Redis connection lost/);
        await own.kill();
        await lost;
        // Their unsubscribes cannot reach Redis now, and node-redis keeps what it could not undo.
        const failed = watch.count(/Unsubscribing a finished waiter failed/, flows.length);
        for (const controller of controllers) controller.abort(new Error('the app went away'));
        for (const result of await Promise.allSettled(waits))
          assert.equal(result.status, 'rejected');
        await failed;

        const reconciled = watch.next(/Subscriptions reconciled/);
        await own.restart();
        await reconciled;
        const check = createClient({ url: own.url });
        check.on('error', () => {});
        await check.connect();
        try {
          assert.deepEqual(await check.pubSubChannels(`${prefix}*`), [`${prefix}clear`]);
        } finally {
          check.destroy();
        }
      } finally {
        subscribed.stop();
        await store.close();
      }
    });
  });

  describe('Redis store: a stalled Redis', { timeout: 20_000 }, () => {
    let own: RedisServer;
    before(async () => {
      own = await startRedis();
    });
    after(() => own.stop());

    it('answers store_unavailable before the stall ends, says stalled on health, and works after', async () => {
      const store = await open({ url: own.url, commandTimeoutMs: 300 });
      const staller = createClient({ url: own.url });
      const marker = createClient({ url: own.url });
      for (const client of [staller, marker]) {
        client.on('error', () => {});
        await client.connect();
      }
      try {
        const flow = newFlow();
        await store.create(flow);
        // CLIENT PAUSE, not DEBUG SLEEP: its reply says the stall is in effect, so every command
        // below surely reaches a Redis that takes it and holds it (as a sleeping one would).
        assert.equal(await staller.sendCommand(['CLIENT', 'PAUSE', '2000', 'ALL']), 'OK');
        const order: string[] = [];
        // Answered only once the pause ends: what the store's failures must come before.
        const stallEnded = marker.ping().then(() => order.push('stall ended'));

        const failures = await Promise.allSettled([
          store.create(newFlow()),
          store.get(flow.state),
          store.start(flow.state, {
            client_id: 'app',
            redirect_uri: 'http://127.0.0.1/cb',
            scope: ['openid'],
            response_mode: 'query',
          }),
          store.claim(flow.state, 1000),
          store.complete(flow.state, { kind: 'code', code: 'stalled-code' }),
          store.redeemCode('stalled-code'),
          store.waitForOutcome(flow.state, new AbortController().signal),
          store.subjectOf('some-refresh-token'),
        ]);
        const health = await store.health();
        order.push('store answered');
        for (const failure of failures) {
          assert.equal(failure.status, 'rejected');
          assert.ok(isCode('store_unavailable')((failure as PromiseRejectedResult).reason));
        }
        assert.equal(health.ok, false);
        assert.match(
          health.detail ?? '',
          /stalled \(connected, but no reply within 300 ms to PING\)/,
        );

        await stallEnded;
        assert.deepEqual(order, ['store answered', 'stall ended']);
        // The commands held during the stall ran when it ended; the store is usable again.
        assert.deepEqual(await store.health(), { ok: true, detail: `redis ${own.url} ready` });
        const next = newFlow();
        await store.create(next);
        assert.equal((await store.get(next.state))?.state, next.state);
        await store.complete(next.state, { kind: 'code', code: 'after-stall' });
        assert.equal((await store.redeemCode('after-stall'))?.state, next.state);
      } finally {
        staller.destroy();
        marker.destroy();
        await store.close();
      }
    });
  });
}
