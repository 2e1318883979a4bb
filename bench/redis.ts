/**
 * Row 5: GET /pkce/challenge with the Redis store, as a ratio to the memory
 * store, both brokers loaded in alternating rounds. Skipped, saying why, while this
 * build has no Redis store or no redis-server is installed. The benchmark
 * starts its own redis-server on a free loopback port, without persistence,
 * and stops it.
 */
import { randomBytes } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { pino } from 'pino';
import { isBrokerError } from '../src/errors.js';
import { createFlowStore } from '../src/store/create.js';
import {
  compareServers,
  describeLoad,
  describeSettings,
  startBrokerProcess,
  type BrokerTarget,
} from './challenge.js';
import { formatRatio, skippedRow, type Row } from './format.js';
import type { LoadSettings } from './load.js';
import { freePort, spawnChild } from './processes.js';

export const REDIS_ROW = 'redis store';
const TARGET = 'report (no target)';

async function findRedisServer(): Promise<string | undefined> {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const candidate = join(dir, 'redis-server');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether this build can open a Redis store at `url`: the reason it cannot, or undefined. */
async function storeUnavailable(url: string, key: string): Promise<string | undefined> {
  try {
    const store = await createFlowStore({
      url,
      ttlMs: 60_000,
      maxFlows: 10,
      key,
      prefix: 'pkce-broker-bench:',
      logger: pino({ level: 'silent' }),
    });
    await store.close();
    return undefined;
  } catch (error) {
    if (isBrokerError(error) && error.code === 'config_invalid') return error.message;
    throw error;
  }
}

export async function redisRow(target: BrokerTarget, settings: LoadSettings): Promise<Row> {
  const binary = await findRedisServer();
  if (binary === undefined)
    return skippedRow(
      REDIS_ROW,
      TARGET,
      'redis-server is not installed (apt-get install -y redis-server).',
    );
  const port = await freePort();
  const redis = spawnChild(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdout: 'pipe' },
  );
  try {
    await redis.waitForOutput(/Ready to accept connections/, 10_000);
    redis.process.stdout?.resume();
    const url = `redis://127.0.0.1:${port}`;
    const key = randomBytes(32).toString('hex');
    const missing = await storeUnavailable(url, key);
    if (missing !== undefined) return skippedRow(REDIS_ROW, TARGET, missing);
    const [withRedis, memory] = await compareServers(
      () => startBrokerProcess(target, ['--store', url, '--store-key', key]),
      () => startBrokerProcess(target),
      settings,
    );
    const failures = withRedis.failures + memory.failures;
    return {
      name: REDIS_ROW,
      broker: `${describeLoad(withRedis)} (redis)`,
      baseline: `${describeLoad(memory)} (memory)`,
      ratio: formatRatio(withRedis.rps, memory.rps),
      target: TARGET,
      met: failures === 0 ? undefined : false,
      note:
        `p50/p99 latency: redis ${withRedis.p50Ms.toFixed(1)}/${withRedis.p99Ms} ms, memory ${memory.p50Ms.toFixed(1)}/${memory.p99Ms} ms; ` +
        describeSettings(settings) +
        (failures > 0 ? `; ${failures} failed requests` : ''),
      figures: {
        redisRps: withRedis.rps,
        memoryRps: memory.rps,
        ratio: withRedis.rps / memory.rps,
        redisP50Ms: withRedis.p50Ms,
        redisP99Ms: withRedis.p99Ms,
        failures,
      },
    };
  } finally {
    await redis.stop();
  }
}
