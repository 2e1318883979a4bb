import { MemoryFlowStore } from '../src/store/memory.js';
import { flowStoreContract } from './store-contract.js';

let now = 1_700_000_000_000;
const stores = new Set<MemoryFlowStore>();

flowStoreContract('memory', {
  async make({ ttlMs, maxFlows }) {
    const store = new MemoryFlowStore({ ttlMs, maxFlows, now: () => now });
    stores.add(store);
    return store;
  },
  async advance(ms) {
    now += ms;
    // The memory store sweeps on its own timer in production; here the test drives it.
    for (const store of stores) await store.size();
  },
});
