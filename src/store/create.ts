/** Builds the configured flow store. The Redis store is loaded only when asked for. */
import { BrokerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { MemoryFlowStore } from './memory.js';
import type { FlowStore } from './types.js';

export interface CreateStoreOptions {
  url: string;
  ttlMs: number;
  challengeTtlMs?: number;
  maxFlows: number;
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
  if (!/^rediss?:\/\//.test(options.url)) {
    throw new BrokerError(
      'config_invalid',
      '--store must be "memory" or a redis:// or rediss:// URL.',
    );
  }
  if (options.key === undefined) {
    throw new BrokerError(
      'config_invalid',
      '--store-key (or PKCE_BROKER_STORE_KEY) is required with a Redis store: generate one with `openssl rand -hex 32`.',
    );
  }
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
