/**
 * GET /pkce/authorize-url has a budget per flow: with PAR every answer is a
 * push to the provider, so whoever knows a state must not be able to make
 * the broker hammer the provider. Five at once, then 429 too_many_requests
 * with Retry-After and no push; a 404 (the flow not started yet, which login
 * retries) spends nothing; each flow has its own budget. The bucket itself
 * is driven by an injected clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isBrokerError } from '../src/errors.js';
import { AUTHORIZE_URL_BUDGET, FlowBudget } from '../src/http/limits.js';
import type { PKCE } from '../src/protocol/models.js';
import { postJson, startStack, type Stack } from './support/stack.js';

describe('GET /pkce/authorize-url, per flow (PAR on the bundled provider)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ argv: ['--par', 'auto'], logLevel: 'warn' });
  });
  after(() => stack?.close());

  const pushes = (): number => stack.upstream.filter((path) => path === '/request').length;

  async function startedFlow(): Promise<{ path: string; code: Promise<Response> }> {
    const challenge = ((await (await stack.api('/pkce/challenge')).json()) as PKCE).challenge!;
    const path = `/pkce/authorize-url?state=${encodeURIComponent(challenge.state)}`;
    // Not started yet: 404s, as many as a client retries, spend nothing.
    for (let ask = 0; ask < AUTHORIZE_URL_BUDGET.burst + 2; ask++)
      assert.equal((await stack.api(path)).status, 404);
    const code = stack.api('/pkce/code', postJson({ state: challenge.state }));
    await stack.nextAuthorizeUrl();
    return { path, code };
  }

  it('answers a burst, then 429 with Retry-After and without pushing again', async () => {
    const flow = await startedFlow();
    const before = pushes();
    for (let ask = 0; ask < AUTHORIZE_URL_BUDGET.burst; ask++)
      assert.equal((await stack.api(flow.path)).status, 200);
    assert.equal(pushes() - before, AUTHORIZE_URL_BUDGET.burst, 'one push per answer');

    const refused = await stack.api(flow.path);
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as { code: string }).code, 'too_many_requests');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(pushes() - before, AUTHORIZE_URL_BUDGET.burst, 'the refused ask pushed nothing');

    // Another flow's budget is its own.
    const other = await startedFlow();
    assert.equal((await stack.api(other.path)).status, 200);
    assert.equal((await stack.api('/pkce/clear', { method: 'POST' })).status, 204);
    assert.equal((await flow.code).status, 409);
    assert.equal((await other.code).status, 409);
  });
});

describe('FlowBudget', () => {
  it('refills one request per interval up to the burst, and says when to come back', () => {
    let now = 0;
    const budget = new FlowBudget({ burst: 2, refillMs: 1_000, maxFlows: 10, now: () => now });
    budget.take('a');
    budget.take('a');
    assert.throws(
      () => budget.take('a'),
      (error) =>
        isBrokerError(error) && error.code === 'too_many_requests' && error.retryAfter === 1,
    );
    now = 500;
    assert.throws(
      () => budget.take('a'),
      (error) => isBrokerError(error) && error.retryAfter === 1,
    );
    now = 1_000;
    budget.take('a');
    assert.throws(() => budget.take('a'));
    now = 60_000;
    budget.take('a');
    budget.take('a');
    assert.throws(() => budget.take('a'), 'the refill stops at the burst');
  });

  it('remembers at most maxFlows flows, forgetting the least recently asked', () => {
    const budget = new FlowBudget({ burst: 1, refillMs: 1_000, maxFlows: 2, now: () => 0 });
    budget.take('a');
    budget.take('b');
    budget.take('c');
    assert.equal(budget.size, 2);
    assert.throws(() => budget.take('c'));
    // `a` was forgotten: a full budget again.
    budget.take('a');
  });
});
