import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryFlowStore } from '../src/store/memory.js';
import { pack, packedExpiry, unpack } from '../src/store/packed-flow.js';
import { flowStoreContract, newFlow } from './store-contract.js';

let now = 1_700_000_000_000;
const stores = new Set<MemoryFlowStore>();

const shared = new Map<string, MemoryFlowStore>();

flowStoreContract('memory', {
  async make({ ttlMs, maxFlows, challengeTtlMs, shared: key }) {
    // One process, one store: a second handle on the same data is the same store.
    const existing = key === undefined ? undefined : shared.get(key);
    if (existing) return existing;
    const store = new MemoryFlowStore({
      ttlMs,
      maxFlows,
      now: () => now,
      ...(challengeTtlMs !== undefined && { challengeTtlMs }),
    });
    stores.add(store);
    if (key !== undefined) shared.set(key, store);
    return store;
  },
  async advance(ms) {
    now += ms;
    // The memory store sweeps on its own timer in production; here the test drives it.
    for (const store of stores) await store.size();
  },
});

describe('packed fresh challenges', () => {
  it('packs a fresh broker challenge into one string and unpacks it whole', () => {
    const flow = newFlow();
    const packed = pack(flow, 1_000_600_000);
    assert.equal(typeof packed, 'string');
    assert.equal(packedExpiry(packed!), 1_000_600_000);
    assert.deepEqual(unpack(flow.state, packed!, 600_000), {
      ...flow,
      createdAt: 1_000_000_000,
      expiresAt: 1_000_600_000,
    });
  });

  it('keeps every other flow an object', () => {
    const request = {
      client_id: 'c',
      redirect_uri: 'http://127.0.0.1:1/cb',
      scope: ['openid'],
      response_mode: 'form_post',
    };
    for (const flow of [
      newFlow({ origin: 'app', verifier: undefined }),
      newFlow({ nonce: 'an app nonce | with spaces' }),
      newFlow({ request }),
      newFlow({ outcome: { kind: 'code', code: 'c' } }),
    ]) {
      assert.equal(pack(flow, 1), undefined);
    }
  });

  it('serves packed and unpacked flows alike through the store', async () => {
    const store = new MemoryFlowStore({ ttlMs: 60_000, maxFlows: 10, now: () => now });
    try {
      const fresh = newFlow();
      const app = newFlow({ origin: 'app', verifier: undefined, nonce: 'nonce chosen by the app' });
      await store.create(fresh);
      await store.create(app);
      assert.equal((await store.get(fresh.state))?.verifier, fresh.verifier);
      assert.equal((await store.get(app.state))?.nonce, 'nonce chosen by the app');
      assert.ok(await store.complete(fresh.state, { kind: 'code', code: 'k' }));
      assert.equal((await store.redeemCode('k'))?.challenge, fresh.challenge);
    } finally {
      await store.close();
    }
  });
});
