/**
 * The memory row's measurement, in a process of its own started with
 * --expose-gc: N flows made by the broker's own challenge path
 * (FlowService.challenge into the memory store), the heap after GC with all of
 * them pending, then after all of them expired (the store's clock is moved
 * past the TTL and its sweep runs). Prints one JSON line.
 *
 *   node --expose-gc --import tsx bench/memory-child.ts 100000
 */
import { FlowService } from '../src/flow/service.js';
import type { SeedPolicy } from '../src/flow/seed.js';
import type { ProviderRegistry } from '../src/provider/registry.js';
import { MemoryFlowStore } from '../src/store/memory.js';

export interface MemoryFigures {
  flows: number;
  baselineHeap: number;
  pendingHeap: number;
  expiredHeap: number;
  liveAfterExpiry: number;
}

const TTL_MS = 600_000;

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  // Twice: the first pass may only promote what the second frees.
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function measure(flows: number): Promise<MemoryFigures> {
  let clock = Date.now();
  const store = new MemoryFlowStore({ ttlMs: TTL_MS, maxFlows: flows * 2, now: () => clock });
  // challenge() touches only the store; the provider and policy serve the other endpoints.
  const service = new FlowService({
    store,
    providers: {} as ProviderRegistry,
    policyFor: () => ({}) as SeedPolicy,
    waitTimeoutMs: 1_000,
    openAuthorizeUrl: () => undefined,
  });
  // Warm the path (code compiled, Map grown and shrunk once) so the baseline holds no one-off costs.
  for (let i = 0; i < 1_000; i++) await service.challenge();
  clock += TTL_MS + 1;
  await store.size();
  const baselineHeap = collect();

  for (let i = 0; i < flows; i++) await service.challenge();
  const pendingHeap = collect();
  const live = await store.size();
  if (live !== flows) throw new Error(`expected ${flows} pending flows, the store holds ${live}`);

  clock += TTL_MS + 1;
  const liveAfterExpiry = await store.size();
  const expiredHeap = collect();
  await store.close();
  return { flows, baselineHeap, pendingHeap, expiredHeap, liveAfterExpiry };
}

const flows = Number(process.argv[2] ?? '100000');
process.stdout.write(`${JSON.stringify(await measure(flows))}\n`);
