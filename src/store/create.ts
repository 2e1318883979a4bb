/** Builds the configured flow store. The Redis store is loaded only when asked for. */
import type { Logger } from '../logging.js';
import { MemoryDeviceStore } from './device-memory.js';
import type { DeviceStore } from './device-types.js';
import { MemoryFlowStore } from './memory.js';
import type { FlowStore } from './types.js';

/** As loadConfig validated them (BrokerConfig's store, storeKey, storePrefix…). */
export interface CreateStoreOptions {
  /** "memory", or a redis:// or rediss:// URL. */
  url: string;
  ttlMs: number;
  challengeTtlMs?: number;
  maxFlows: number;
  /** --store-key, 64 hex characters; loadConfig requires it with Redis. */
  key: string | undefined;
  prefix: string;
  logger: Logger;
}

export async function createFlowStore(options: CreateStoreOptions): Promise<FlowStore> {
  const ttls = {
    ttlMs: options.ttlMs,
    ...(options.challengeTtlMs !== undefined && { challengeTtlMs: options.challengeTtlMs }),
  };
  if (options.url === 'memory') return new MemoryFlowStore({ ...ttls, maxFlows: options.maxFlows });
  // Anything else is a Redis URL with its key: loadConfig checked both, once.
  if (options.key === undefined) throw new TypeError('A Redis store needs its --store-key.');
  // Loaded on demand: a broker on the memory store never loads the Redis client.
  const { connectRedisFlowStore } = await import('./redis.js');
  return connectRedisFlowStore({
    url: options.url,
    key: options.key,
    prefix: options.prefix,
    ...ttls,
    maxFlows: options.maxFlows,
    logger: options.logger,
  });
}

/**
 * The device flow store (RFC 8628) beside the flow store, on the same backend.
 * With Redis it shares the connections of `shareWith`, the broker's own flow
 * store built from the same options: two connections per broker, not four.
 */
export async function createDeviceStore(
  options: Pick<CreateStoreOptions, 'url' | 'key' | 'prefix' | 'logger'> & {
    shareWith?: FlowStore;
  },
): Promise<DeviceStore> {
  if (options.url === 'memory') return new MemoryDeviceStore();
  if (options.key === undefined) throw new TypeError('A Redis store needs its --store-key.');
  const { connectRedisDeviceStore } = await import('./device-redis.js');
  const { RedisFlowStore } = await import('./redis.js');
  return connectRedisDeviceStore({
    url: options.url,
    key: options.key,
    prefix: options.prefix,
    logger: options.logger,
    ...(options.shareWith instanceof RedisFlowStore && {
      connection: options.shareWith.shareConnection(),
    }),
  });
}
