/**
 * The FlowStore contract, run unchanged against every implementation
 * (memory-store.test.ts, redis-store.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerError } from '../src/errors.js';
import { newChallenge } from '../src/protocol/pkce.js';
import type { FlowRecord, FlowStore } from '../src/store/types.js';

export interface ContractHarness {
  /** A fresh, empty store (a second call with the same `shared` key returns a second handle on the same data). */
  make(options: {
    ttlMs: number;
    maxFlows: number;
    challengeTtlMs?: number;
    shared?: string;
  }): Promise<FlowStore>;
  /** Makes `ms` pass for the store: a fake clock, or real time for stores that keep their own. */
  advance(ms: number): Promise<void>;
}

export function newFlow(overrides: Partial<FlowRecord> = {}): FlowRecord {
  const values = newChallenge();
  return {
    state: values.state,
    nonce: values.nonce,
    challenge: values.challenge,
    verifier: values.verifier,
    origin: 'broker',
    createdAt: 0,
    expiresAt: 0,
    ...overrides,
  };
}

function isTooMany(e: unknown): boolean {
  return e instanceof BrokerError && e.code === 'too_many_flows';
}

export function flowStoreContract(name: string, harness: ContractHarness): void {
  describe(`FlowStore contract: ${name}`, () => {
    const ttlMs = 60_000;

    it('creates, reads back and refuses a duplicate state', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        const read = await store.get(flow.state);
        assert.equal(read?.state, flow.state);
        assert.equal(read?.nonce, flow.nonce);
        assert.equal(read?.challenge, flow.challenge);
        assert.equal(read?.verifier, flow.verifier);
        assert.equal(read?.origin, 'broker');
        assert.ok((read?.expiresAt ?? 0) > (read?.createdAt ?? Infinity));
        await assert.rejects(
          store.create(flow),
          (e: unknown) => e instanceof BrokerError && e.code === 'invalid_request',
        );
        assert.equal(await store.get('no-such-state'), undefined);
        assert.equal(await store.size(), 1);
      } finally {
        await store.close();
      }
    });

    it('refuses new flows at the cap with too_many_flows and a Retry-After', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 3 });
      try {
        for (let i = 0; i < 3; i += 1) await store.create(newFlow());
        await assert.rejects(
          store.create(newFlow()),
          (e: unknown) =>
            e instanceof BrokerError && e.code === 'too_many_flows' && (e.retryAfter ?? 0) >= 1,
        );
        assert.equal(await store.size(), 3);
      } finally {
        await store.close();
      }
    });

    it('forgets flows after the TTL and frees their place under the cap', async () => {
      const store = await harness.make({ ttlMs: 1_000, maxFlows: 1 });
      try {
        const flow = newFlow();
        await store.create(flow);
        await harness.advance(1_200);
        assert.equal(await store.get(flow.state), undefined);
        await store.create(newFlow());
        assert.equal(await store.size(), 1);
      } finally {
        await store.close();
      }
    });

    it('completes a flow once and redeems its code once', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        await store.start(flow.state, {
          client_id: 'c',
          redirect_uri: 'http://127.0.0.1:1/cb',
          scope: ['openid'],
          response_mode: 'form_post',
        });
        const done = await store.complete(flow.state, {
          kind: 'code',
          code: 'code-1',
          iss: 'http://issuer',
        });
        assert.equal(done?.state, flow.state);
        assert.equal(await store.complete(flow.state, { kind: 'code', code: 'code-2' }), undefined);
        assert.equal(await store.redeemCode('code-2'), undefined);
        const redeemed = await store.redeemCode('code-1');
        assert.equal(redeemed?.state, flow.state);
        assert.equal(redeemed?.verifier, flow.verifier);
        assert.deepEqual(redeemed?.outcome, { kind: 'code', code: 'code-1', iss: 'http://issuer' });
        assert.equal(redeemed?.request?.redirect_uri, 'http://127.0.0.1:1/cb');
        assert.equal(await store.redeemCode('code-1'), undefined);
        assert.equal(await store.get(flow.state), undefined);
        assert.equal(await store.complete('unknown', { kind: 'code', code: 'x' }), undefined);
      } finally {
        await store.close();
      }
    });

    it('finds a flow by its code without taking it; of many redemptions after a look, one wins', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        assert.equal(await store.findByCode('the-code'), undefined);
        await store.complete(flow.state, { kind: 'code', code: 'the-code', iss: 'http://issuer' });
        for (let i = 0; i < 2; i += 1) {
          const found = await store.findByCode('the-code');
          assert.equal(found?.state, flow.state);
          assert.equal(found?.verifier, flow.verifier);
          assert.deepEqual(found?.outcome, {
            kind: 'code',
            code: 'the-code',
            iss: 'http://issuer',
          });
        }
        assert.equal(await store.findByCode('another-code'), undefined);
        const looks = await Promise.all(
          Array.from({ length: 20 }, () => store.findByCode('the-code')),
        );
        assert.ok(looks.every((found) => found?.state === flow.state));
        const redemptions = await Promise.all(
          Array.from({ length: 50 }, () => store.redeemCode('the-code')),
        );
        assert.equal(redemptions.filter(Boolean).length, 1);
        assert.equal(await store.findByCode('the-code'), undefined);
      } finally {
        await store.close();
      }
    });

    it('keeps the subject of a refresh token under its hash, across clear, for its TTL', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const alice = { iss: 'http://issuer', sub: 'alice' };
        assert.equal(await store.subjectOf('rt-1'), undefined);
        await store.bindSubject('rt-1', alice, 60_000);
        assert.deepEqual(await store.subjectOf('rt-1'), alice);
        assert.equal(await store.subjectOf('rt-2'), undefined);
        await store.clear();
        assert.deepEqual(await store.subjectOf('rt-1'), alice, 'clear must not unbind');
        await store.bindSubject('rt-1', { iss: 'http://issuer', sub: 'bob' }, 60_000);
        assert.equal((await store.subjectOf('rt-1'))?.sub, 'bob');
        await store.bindSubject('rt-short', alice, 300);
        assert.deepEqual(await store.subjectOf('rt-short'), alice);
        await harness.advance(450);
        assert.equal(await store.subjectOf('rt-short'), undefined);
      } finally {
        await store.close();
      }
    });

    it('lets exactly one of many concurrent completions and redemptions win', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        const completions = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            store.complete(flow.state, { kind: 'code', code: `c-${i}` }),
          ),
        );
        const winners = completions.filter(Boolean);
        assert.equal(winners.length, 1);
        const code = (winners[0]?.outcome as { code: string }).code;
        const redemptions = await Promise.all(
          Array.from({ length: 50 }, () => store.redeemCode(code)),
        );
        assert.equal(redemptions.filter(Boolean).length, 1);
      } finally {
        await store.close();
      }
    });

    it('starts a flow once, and never an unknown or completed one', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const request = {
          client_id: 'c',
          redirect_uri: 'http://127.0.0.1:1/cb',
          scope: ['openid'],
          response_mode: 'query',
        };
        assert.equal(await store.start('unknown', request), undefined);
        const flow = newFlow();
        await store.create(flow);
        assert.equal((await store.start(flow.state, request))?.request?.response_mode, 'query');
        assert.equal((await store.get(flow.state))?.request?.response_mode, 'query');
        assert.equal(
          await store.start(flow.state, { ...request, response_mode: 'form_post' }),
          undefined,
        );
        assert.equal((await store.get(flow.state))?.request?.response_mode, 'query');
        const done = newFlow();
        await store.create(done);
        await store.complete(done.state, {
          kind: 'error',
          reason: 'denied',
          error: 'access_denied',
        });
        assert.equal(await store.start(done.state, request), undefined);
        const racing = newFlow();
        await store.create(racing);
        const starts = await Promise.all(
          Array.from({ length: 20 }, () => store.start(racing.state, request)),
        );
        assert.equal(starts.filter(Boolean).length, 1);
      } finally {
        await store.close();
      }
    });

    it("keeps the request's extras whole, to build the authorize URL again", async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const request = {
          client_id: 'c',
          redirect_uri: 'http://127.0.0.1:1/cb',
          scope: ['openid', 'offline_access'],
          audience: 'https://api.example',
          response_mode: 'form_post',
          extras: {
            prompt: 'login',
            screen_hint: 'signup',
            organization: 'org_1',
            invitation: 'inv_1',
            extra: { access_type: 'offline', display: 'page' },
          },
        };
        const flow = newFlow();
        await store.create(flow);
        assert.deepEqual((await store.start(flow.state, request))?.request, request);
        assert.deepEqual((await store.get(flow.state))?.request, request);
      } finally {
        await store.close();
      }
    });

    it('forgets a challenge nobody started after challengeTtlMs, a started flow ttlMs after its start', async () => {
      const store = await harness.make({ ttlMs: 1_000, challengeTtlMs: 300, maxFlows: 2 });
      try {
        const [idle, started] = [newFlow(), newFlow()];
        await store.create(idle);
        await store.create(started);
        const request = {
          client_id: 'c',
          redirect_uri: 'http://127.0.0.1:1/cb',
          scope: ['openid'],
          response_mode: 'form_post',
        };
        const begun = await store.start(started.state, request);
        assert.ok(begun && begun.expiresAt - begun.createdAt >= 1_000);
        await assert.rejects(store.create(newFlow()), isTooMany);
        await harness.advance(450);
        assert.equal(await store.get(idle.state), undefined);
        assert.ok(await store.get(started.state), 'a started flow outlives the challenge TTL');
        // The abandoned challenge's place under the cap is free again.
        await store.create(newFlow());
        await harness.advance(750);
        assert.equal(await store.get(started.state), undefined);
      } finally {
        await store.close();
      }
    });

    it('lets one waiter at a time claim a flow, until it releases or its lease ends', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10, shared: 'claims' });
      const other = await harness.make({ ttlMs, maxFlows: 10, shared: 'claims' });
      try {
        const flow = newFlow();
        await store.create(flow);
        const first = await store.claim(flow.state, 60_000);
        assert.equal(first.kind, 'claimed');
        assert.equal(first.kind === 'claimed' && first.flow.state, flow.state);
        assert.deepEqual(await store.claim(flow.state, 60_000), { kind: 'busy' });
        assert.deepEqual(await other.claim(flow.state, 60_000), { kind: 'busy' });
        await other.release(flow.state, 'somebody-elses-claim');
        assert.deepEqual(await other.claim(flow.state, 60_000), { kind: 'busy' });
        await store.release(flow.state, first.kind === 'claimed' ? first.claim : '');
        const second = await other.claim(flow.state, 60_000);
        assert.equal(second.kind, 'claimed');
        // A claim released late (after someone else took over) leaves the new one alone.
        await store.release(flow.state, first.kind === 'claimed' ? first.claim : '');
        assert.deepEqual(await store.claim(flow.state, 60_000), { kind: 'busy' });
        assert.deepEqual(await store.claim('unknown', 60_000), { kind: 'gone' });

        const racing = newFlow();
        await store.create(racing);
        const claims = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 ? store : other).claim(racing.state, 60_000)),
        );
        assert.equal(claims.filter((c) => c.kind === 'claimed').length, 1);

        const leased = newFlow();
        await store.create(leased);
        assert.equal((await store.claim(leased.state, 300)).kind, 'claimed');
        assert.deepEqual(await other.claim(leased.state, 300), { kind: 'busy' });
        await harness.advance(450);
        assert.equal((await other.claim(leased.state, 60_000)).kind, 'claimed');

        // A forgotten flow takes its claim along: the same state, created again, is free.
        await store.delete(leased.state);
        await store.create(leased);
        assert.equal((await store.claim(leased.state, 60_000)).kind, 'claimed');
      } finally {
        await other.close();
        await store.close();
      }
    });

    it('wakes a waiter with the outcome, and answers at once when the outcome is already there', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        const waiting = store.waitForOutcome(flow.state, new AbortController().signal);
        await store.complete(flow.state, { kind: 'code', code: 'the-code' });
        const result = await waiting;
        assert.equal(result.kind, 'outcome');
        assert.deepEqual(result.kind === 'outcome' && result.flow.outcome, {
          kind: 'code',
          code: 'the-code',
        });
        const again = await store.waitForOutcome(flow.state, new AbortController().signal);
        assert.equal(again.kind, 'outcome');
      } finally {
        await store.close();
      }
    });

    it('wakes waiters with cleared on clear, and with gone on delete', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const a = newFlow();
        const b = newFlow();
        await store.create(a);
        await store.create(b);
        const waitA = store.waitForOutcome(a.state, new AbortController().signal);
        const waitB = store.waitForOutcome(b.state, new AbortController().signal);
        await store.delete(b.state);
        assert.deepEqual(await waitB, { kind: 'gone' });
        await store.clear();
        assert.deepEqual(await waitA, { kind: 'cleared' });
        assert.equal(await store.get(a.state), undefined);
        assert.equal(await store.size(), 0);
        assert.deepEqual(await store.waitForOutcome(a.state, new AbortController().signal), {
          kind: 'gone',
        });
        await store.clear();
      } finally {
        await store.close();
      }
    });

    it('rejects a waiter with the abort reason and leaves the flow alone', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        const controller = new AbortController();
        const waiting = store.waitForOutcome(flow.state, controller.signal);
        const reason = new Error('went away');
        controller.abort(reason);
        await assert.rejects(waiting, (e: unknown) => e === reason);
        assert.ok(await store.get(flow.state));
        assert.ok(await store.complete(flow.state, { kind: 'code', code: 'later' }));
      } finally {
        await store.close();
      }
    });

    it('wakes a waiter with gone when its flow expires', async () => {
      const store = await harness.make({ ttlMs: 1_000, maxFlows: 10 });
      try {
        const flow = newFlow();
        await store.create(flow);
        const waiting = store.waitForOutcome(flow.state, new AbortController().signal);
        await harness.advance(1_200);
        assert.deepEqual(await waiting, { kind: 'gone' });
      } finally {
        await store.close();
      }
    });

    it('reports health', async () => {
      const store = await harness.make({ ttlMs, maxFlows: 10 });
      try {
        assert.equal((await store.health()).ok, true);
      } finally {
        await store.close();
      }
    });
  });
}
