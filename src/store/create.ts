/** Builds the configured flow store. The Redis store is loaded only when asked for. */
import { BrokerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { MemoryFlowStore } from './memory.js';
import type { FlowStore } from './types.js';

export interface CreateStoreOptions {
  url: string;
  ttlMs: number;
  maxFlows: number;
  key: string | undefined;
  prefix: string;
  logger: Logger;
}

export async function createFlowStore(options: CreateStoreOptions): Promise<FlowStore> {
  if (options.url === 'memory') return new MemoryFlowStore({ ttlMs: options.ttlMs, maxFlows: options.maxFlows });
  throw new BrokerError('config_invalid', 'The Redis store is not available in this build.');
}
