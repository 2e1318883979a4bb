/**
 * A challenge that no POST /pkce/code takes up is abandoned after
 * --challenge-ttl (60 s), so a flood of GET /pkce/challenge fills the pending
 * cap for a minute, not for the whole flow TTL; a started flow lives
 * --flow-ttl from its start. The store's clock is the test's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { BrokerError } from '../src/errors.js';
import type { PKCE } from '../src/protocol/models.js';
import { MemoryFlowStore } from '../src/store/memory.js';
import { postJson, startStack, type Stack } from './support/stack.js';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

const configOf = (argv: string[]) =>
  loadConfig({ argv, env: {}, readFile: () => undefined }).config;

describe('--challenge-ttl', () => {
  it('defaults to 60 s, follows a shorter --flow-ttl, and must fit in the flow TTL', () => {
    assert.equal(configOf([]).challengeTtlSec, 60);
    assert.equal(configOf(['--challenge-ttl', '30']).challengeTtlSec, 30);
    assert.equal(configOf(['--flow-ttl', '20']).challengeTtlSec, 20);
    assert.throws(
      () => configOf(['--flow-ttl', '100', '--challenge-ttl', '120']),
      (e: unknown) =>
        e instanceof BrokerError &&
        e.code === 'config_invalid' &&
        /--challenge-ttl must not exceed --flow-ttl \(100\), got 120 \(from --challenge-ttl\)/.test(
          e.message,
        ),
    );
    assert.throws(() => configOf(['--challenge-ttl', '0']), /--challenge-ttl/);
  });
});

describe('challenges nobody started', () => {
  let clock = Date.now();
  let store: MemoryFlowStore;
  let stack: Stack;
  before(async () => {
    const config = configOf([]);
    store = new MemoryFlowStore({
      ttlMs: config.flowTtlSec * 1000,
      challengeTtlMs: config.challengeTtlSec * 1000,
      maxFlows: 3,
      now: () => clock,
    });
    stack = await startStack({ store, logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
    await store.close();
  });

  const challenge = () => stack.api('/pkce/challenge');

  it('are abandoned after the challenge TTL, while a started flow lives on', async () => {
    const started = (await json<PKCE>(await challenge())).challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: started.state }));
    const url = await stack.nextAuthorizeUrl();
    const flood = [await challenge(), await challenge()];
    assert.deepEqual(
      flood.map((r) => r.status),
      [200, 200],
    );
    const abandoned = (await json<PKCE>(flood[0]!)).challenge!;
    const full = await challenge();
    assert.equal(full.status, 429);
    assert.equal((await json(full)).code, 'too_many_flows');

    clock += 61_000;
    // The flood is gone and its places under the cap are free again; the started flow is not.
    assert.equal((await challenge()).status, 200);
    assert.equal((await challenge()).status, 200);
    const late = await stack.api('/pkce/code', postJson({ state: abandoned.state }));
    assert.equal(late.status, 400);
    assert.match(String((await json(late)).detail), /Unknown, expired or already used state/);

    clock += 5 * 60_000;
    const { callbackResponse } = await scriptedLogin(url, { accept: 'application/json' });
    assert.equal(callbackResponse.status, 200);
    const answer = await waiting;
    assert.equal(answer.status, 200);
    assert.equal((await json<PKCE>(answer)).result?.state, started.state);

    // Started flows live --flow-ttl (600 s) from their start, not from their challenge.
    clock += 5 * 60_000;
    assert.equal(await store.get(started.state), undefined);
  });
});
