/**
 * A finished POST /pkce/code keeps nothing. Thousands of waits, each ended by
 * its outcome or by its client going away, leave the service with no live
 * wait, no weak link behind (AbortSignal.any kept one per wait in the
 * service's long-lived stop signal for good on Node 20, nodejs/node#55351,
 * and the whole composite until its 300 s timeout while it had a listener),
 * and the heap after GC where it was.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queryObjects, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FlowService } from '../src/flow/service.js';
import type { SeedPolicy } from '../src/flow/seed.js';
import { ProviderRegistry } from '../src/provider/registry.js';
import type { IdentityProvider } from '../src/provider/types.js';
import { MemoryFlowStore } from '../src/store/memory.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  // Twice: the first pass may only promote what the second frees.
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * The class of Node's own weak references, the ones AbortSignal.any links
 * signals with, found from a probe; undefined where this Node links them
 * otherwise (the heap bound below still holds then).
 */
function nodeWeakRefClass(): (new (...args: never[]) => unknown) | undefined {
  const probe = new AbortController();
  AbortSignal.any([probe.signal]);
  const dependants = Object.getOwnPropertySymbols(probe.signal).find(
    (symbol) => symbol.description === 'kDependantSignals',
  );
  const links = dependants && (probe.signal as unknown as Record<symbol, unknown>)[dependants];
  // Node's own Set (a primordial), so not `instanceof Set` here.
  const first: unknown =
    links !== null && typeof links === 'object' && Symbol.iterator in links
      ? [...(links as Iterable<unknown>)][0]
      : undefined;
  return (first as { constructor?: new () => unknown } | undefined)?.constructor;
}

function count(ctor: (new (...args: never[]) => unknown) | undefined): number {
  return ctor === undefined ? 0 : (queryObjects(ctor, { format: 'count' }) as number);
}

/** Least-squares slope of ys over 0, 1, 2, … */
function slope(ys: number[]): number {
  const meanX = (ys.length - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

/** Before measuring: the code is compiled and the store's Maps have grown once. */
const WARM_UP = 4_000;
/** The heap is measured after each round: what a wait keeps is the slope, not one noisy difference. */
const ROUNDS = 4;
const PER_ROUND = 4_000;
/** The heap's noise (JIT, GC timing) is a few hundred KB per round; a composite signal per wait was ≥ 1 KB. */
const MAX_HEAP_BYTES_PER_WAIT = 200;

/**
 * A flow service on the memory store whose provider only builds a URL and accepts any code:
 * the wait machinery is what these tests measure.
 */
function serviceWithStubProvider(
  store: MemoryFlowStore,
  openAuthorizeUrl: () => void,
): FlowService {
  const provider = {
    id: 'default',
    kind: 'oidc',
    issuer: 'http://127.0.0.1:1',
    clientId: 'app',
    authorizationUrl: () => new URL('http://127.0.0.1:1/authorize'),
    checkCallback: (params: URLSearchParams) => ({ ok: true, code: params.get('code')! }),
  } as unknown as IdentityProvider;
  const policy: SeedPolicy = {
    provider: 'default',
    clientId: 'app',
    redirectUri: 'http://127.0.0.1:2/pkce/response/code',
    allowedRedirectUris: [],
    scope: ['openid'],
    responseModes: { default: 'form_post', supported: ['form_post', 'query'] },
  };
  return new FlowService({
    store,
    providers: ProviderRegistry.of([provider], () => policy),
    policyFor: () => policy,
    waitTimeoutMs: 300_000,
    openAuthorizeUrl,
  });
}

describe('finished waits', () => {
  it('leave nothing behind: no live wait, no weak link, no heap growth after GC', async () => {
    const store = new MemoryFlowStore({ ttlMs: 600_000, maxFlows: PER_ROUND * 2 });
    let onOpen: () => void = () => undefined;
    const service = serviceWithStubProvider(store, () => onOpen());

    /** One whole wait: ended by the callback (even i) or by the app hanging up (odd i). */
    async function oneWait(i: number): Promise<void> {
      const { state } = await service.challenge();
      const disconnected = new AbortController();
      // The service waits once the browser is "opened"; the answer comes a turn later.
      onOpen = () =>
        setImmediate(() => {
          if (i % 2) disconnected.abort(new Error('client disconnected'));
          else void service.callback(new URLSearchParams({ state, code: `code-${i}` }), 'form');
        });
      const answer = service.authorize({ state }, disconnected.signal);
      if (i % 2) await assert.rejects(answer, { code: 'flow_cleared' });
      else assert.equal((await answer).result?.state, state);
    }

    const weakRef = nodeWeakRefClass();
    try {
      for (let i = 0; i < WARM_UP; i += 1) await oneWait(i);
      await store.clear();
      const linksBefore = count(weakRef);
      const heaps = [heapAfterGc()];
      for (let round = 1; round <= ROUNDS; round += 1) {
        for (let i = 0; i < PER_ROUND; i += 1) await oneWait(i);
        // The flows themselves (completed ones wait for /pkce/token) are the store's, not the waits'.
        await store.clear();
        heaps.push(heapAfterGc());
      }
      assert.equal(service.liveWaits, 0, 'every wait has left the live set');
      const links = count(weakRef) - linksBefore;
      assert.ok(links < 100, `${ROUNDS * PER_ROUND} finished waits left ${links} weak links`);
      const perWait = slope(heaps) / PER_ROUND;
      assert.ok(
        perWait < MAX_HEAP_BYTES_PER_WAIT,
        `each finished wait kept ${perWait.toFixed(0)} B (at most ${MAX_HEAP_BYTES_PER_WAIT})`,
      );
    } finally {
      service.stop();
      await store.close();
    }
  });

  it('are ended by stop(), and none starts after it', async () => {
    const store = new MemoryFlowStore({ ttlMs: 600_000, maxFlows: 100 });
    let opened: () => void = () => undefined;
    const service = serviceWithStubProvider(store, () => void setImmediate(opened));
    try {
      const { state } = await service.challenge();
      const waiting = service.authorize({ state }, new AbortController().signal);
      await new Promise<void>((resolve) => (opened = resolve));
      assert.equal(service.liveWaits, 1);
      service.stop();
      await assert.rejects(waiting, { code: 'shutting_down' });
      assert.equal(service.liveWaits, 0);
      const later = await service.challenge();
      await assert.rejects(
        service.authorize({ state: later.state }, new AbortController().signal),
        {
          code: 'shutting_down',
        },
      );
      // The stopped broker's flows stay for the next one, and their claims are free.
      assert.equal((await store.claim(state, 1_000)).kind, 'claimed');
    } finally {
      await store.close();
    }
  });
});
