/**
 * A flow belongs to the app that started it (issue 9): whoever knows only the
 * state — it is in the authorize URL, so in browser history, a launcher's
 * command line, a screenshot — gets nothing. Each case plays that stranger
 * against a whole broker on the bundled provider, once per store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { scriptedLogin } from '../src/devprovider/login.js';
import { createLogger } from '../src/logging.js';
import type { ChallengedPKCE, PKCE } from '../src/protocol/models.js';
import { generateVerifier, s256Challenge } from '../src/protocol/pkce.js';
import { MemoryFlowStore } from '../src/store/memory.js';
import type { FlowStore } from '../src/store/types.js';
import { redisSkip, startRedis, type RedisServer } from './support/redis.js';
import { postJson, startStack, type Stack } from './support/stack.js';

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** The store as the broker uses it, telling the test when a POST /pkce/code starts waiting on a state. */
function watched(store: FlowStore): { store: FlowStore; waiting(state: string): Promise<void> } {
  const listeners = new Map<string, Array<() => void>>();
  const proxy = new Proxy(store, {
    get(target, property) {
      if (property === 'waitForOutcome') {
        return (state: string, signal: AbortSignal) => {
          const wait = target.waitForOutcome(state, signal);
          for (const listener of listeners.get(state) ?? []) listener();
          listeners.delete(state);
          return wait;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    store: proxy,
    waiting: (state) =>
      new Promise((resolve) => listeners.set(state, [...(listeners.get(state) ?? []), resolve])),
  };
}

type StoreMaker = () => Promise<FlowStore>;

function ownershipSuite(name: string, makeStore: StoreMaker): void {
  describe(`flow ownership (${name} store)`, { timeout: 60_000 }, () => {
    let stack: Stack;
    let waits: ReturnType<typeof watched>;
    let store: FlowStore;
    before(async () => {
      store = await makeStore();
      waits = watched(store);
      stack = await startStack({ store: waits.store, logLevel: 'warn' });
    });
    after(async () => {
      await stack.close();
      await store.close();
    });

    async function challenge(): Promise<ChallengedPKCE> {
      return (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    }

    function code(seed: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
      return stack.api('/pkce/code', { ...postJson(seed), ...(signal && { signal }) });
    }

    function exchange(body: Record<string, unknown>): Promise<Response> {
      return stack.api('/pkce/token', postJson({ grant_type: 'authorization_code', ...body }));
    }

    const login = (url: URL) => scriptedLogin(url, { accept: 'application/json' });

    /** The browser was not sent anywhere since: the next URL opened is that of a flow started now. */
    async function assertNothingElseOpened(): Promise<void> {
      const fresh = await challenge();
      const pending = code({ state: fresh.state });
      assert.equal(
        (await stack.nextAuthorizeUrl()).searchParams.get('state'),
        fresh.state,
        'the browser was opened for another request',
      );
      await stack.api('/pkce/clear', { method: 'POST' });
      assert.equal((await pending).status, 409);
    }

    it('refuses a second POST /pkce/code on a waiting state at once, and opens the browser once', async () => {
      const c = await challenge();
      const app = code({ state: c.state });
      const url = await stack.nextAuthorizeUrl();
      const signingIn = login(url);
      const stranger = await code({ state: c.state });
      assert.equal(stranger.status, 409);
      const problem = await json(stranger);
      assert.equal(problem.code, 'flow_busy');
      assert.ok(!JSON.stringify(problem).includes(c.verifier));
      await signingIn;
      const answer = await app;
      assert.equal(answer.status, 200);
      assert.equal((await json<PKCE>(answer)).result?.state, c.state);
      await assertNothingElseOpened();
    });

    it('gives a client that knows only the state no tokens: a challenge flow needs its verifier', async () => {
      const c = await challenge();
      const app = code({ state: c.state });
      const url = await stack.nextAuthorizeUrl();
      await login(url);
      const result = (await json<PKCE>(await app)).result!;

      // The stranger read the state off the URL; asking again hands out the code, which is worth nothing alone.
      const state = url.searchParams.get('state')!;
      const again = await code({ state });
      assert.equal(again.status, 200);
      assert.equal((await json<PKCE>(again)).result?.code, result.code);
      const before = stack.upstream.length;
      const taken = await exchange({ code: result.code });
      assert.equal(taken.status, 400);
      const problem = await json(taken);
      assert.equal(problem.error, 'invalid_grant');
      assert.match(String(problem.detail), /code_verifier is required/);
      assert.equal(stack.upstream.length, before, 'no token request went upstream');

      const owner = await exchange({ code: result.code, code_verifier: c.verifier });
      assert.equal(owner.status, 200);
    });

    it("delivers a broker-run flow's result to its one waiter, once, and never to a later POST /pkce/code", async () => {
      const app = code({});
      const url = await stack.nextAuthorizeUrl();
      const state = url.searchParams.get('state')!;
      const signingIn = login(url);
      const during = await code({ state });
      assert.equal(during.status, 409);
      assert.equal((await json(during)).code, 'flow_busy');
      await signingIn;
      const answer = await app;
      assert.equal(answer.status, 200);
      const result = (await json<PKCE>(answer)).result!;

      const afterwards = await code({ state });
      assert.equal(afterwards.status, 409);
      assert.ok(!(await afterwards.text()).includes(result.code), 'the code went to a stranger');
      // The app never saw a verifier: the broker fills in its own.
      assert.equal((await exchange({ code: result.code })).status, 200);
      await assertNothingElseOpened();
    });

    it('keeps the code for its owner when a wrong verifier comes first', async () => {
      const c = await challenge();
      const app = code({ state: c.state });
      await login(await stack.nextAuthorizeUrl());
      const { code: received } = (await json<PKCE>(await app)).result!;
      const before = stack.upstream.length;
      const wrong = await exchange({ code: received, code_verifier: generateVerifier() });
      assert.equal(wrong.status, 400);
      assert.equal((await json(wrong)).error, 'invalid_grant');
      assert.equal(stack.upstream.length, before);
      const right = await exchange({ code: received, code_verifier: c.verifier });
      assert.equal(right.status, 200);
      const replay = await exchange({ code: received, code_verifier: c.verifier });
      assert.equal(replay.status, 400);
    });

    it('forgets the flow when the waiter that started it hangs up', async () => {
      const c = await challenge();
      const controller = new AbortController();
      const waiting = waits.waiting(c.state);
      const app = code({ state: c.state }, controller.signal);
      app.catch(() => undefined);
      await stack.nextAuthorizeUrl();
      await waiting;
      const gone = store.waitForOutcome(c.state, new AbortController().signal);
      controller.abort();
      assert.deepEqual(await gone, { kind: 'gone' });
      assert.equal(await store.get(c.state), undefined);
    });

    it("refuses a code delivered by GET to a form_post flow, and the stranger's request ends nothing", async () => {
      const c = await challenge();
      const app = code({ state: c.state });
      const url = await stack.nextAuthorizeUrl();
      assert.equal(url.searchParams.get('response_mode'), 'form_post');
      const forged = await stack.api(
        `/pkce/response/code?${new URLSearchParams({
          code: 'forged-by-a-stranger',
          state: c.state,
          iss: stack.devProvider.issuer,
        })}`,
        { headers: { accept: 'application/json' } },
      );
      assert.equal(forged.status, 400);
      const problem = await json(forged);
      assert.equal(problem.code, 'invalid_callback');
      assert.match(String(problem.detail), /form_post/);
      const flow = await store.get(c.state);
      assert.ok(flow && !flow.outcome, 'the flow is still waiting for the provider');
      const { callbackResponse } = await login(url);
      assert.equal(callbackResponse.status, 200);
      const result = (await json<PKCE>(await app)).result!;
      assert.notEqual(result.code, 'forged-by-a-stranger');
    });

    it('refuses a bad app state or nonce before anything is stored or the browser opens', async () => {
      const challengeOfApp = s256Challenge(generateVerifier());
      const before = await store.size();
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ state: 'short', code_challenge: challengeOfApp }, /state/],
        [{ state: 'state with spaces', code_challenge: challengeOfApp }, /state/],
        [{ state: `s-${'x'.repeat(511)}`, code_challenge: challengeOfApp }, /state/],
        [{ nonce: 'n', code_challenge: challengeOfApp }, /nonce/],
        [{ nonce: 'nonce with spaces', code_challenge: challengeOfApp }, /nonce/],
        [{ nonce: 'nonce-naïve-unicode', code_challenge: challengeOfApp }, /nonce/],
        [
          {
            state: 'app-state-0123456789',
            nonce: 'x\ny-0123456789',
            code_challenge: challengeOfApp,
          },
          /nonce/,
        ],
        [{ nonce: 'a nonce for a broker-run flow' }, /nonce/],
      ];
      for (const [seed, detail] of cases) {
        const response = await code(seed);
        assert.equal(response.status, 400, JSON.stringify(seed));
        const problem = await json(response);
        assert.equal(problem.code, 'invalid_request');
        assert.match(String(problem.detail), detail);
      }
      assert.equal(await store.size(), before, 'nothing was stored');
      await assertNothingElseOpened();
    });
  });

  describe(`resuming (${name} store)`, { timeout: 60_000 }, () => {
    let stack: Stack;
    let waits: ReturnType<typeof watched>;
    let store: FlowStore;
    before(async () => {
      store = await makeStore();
      waits = watched(store);
      stack = await startStack({
        store: waits.store,
        logLevel: 'warn',
        argv: ['--wait-timeout', '1'],
      });
    });
    after(async () => {
      await stack.close();
      await store.close();
    });

    it("resumes after a 504, and a resuming stranger's hang-up leaves the flow to the app", async () => {
      const c = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
      const first = stack.api('/pkce/code', postJson({ state: c.state }));
      const url = await stack.nextAuthorizeUrl();
      assert.equal((await first).status, 504);

      // The claim went with the timed-out wait: a new POST /pkce/code takes it.
      const controller = new AbortController();
      const waiting = waits.waiting(c.state);
      const stranger = stack.api('/pkce/code', {
        ...postJson({ state: c.state }),
        signal: controller.signal,
      });
      stranger.catch(() => undefined);
      await waiting;
      controller.abort();
      await assert.rejects(stranger);
      // Only the owner's hang-up cancels: the user can still finish, and the app collects.
      const { callbackResponse } = await scriptedLogin(url, { accept: 'application/json' });
      assert.equal(callbackResponse.status, 200);
      const resumed = await stack.api('/pkce/code', postJson({ state: c.state }));
      assert.equal(resumed.status, 200);
      const { code } = (await json<PKCE>(resumed)).result!;
      const token = await stack.api(
        '/pkce/token',
        postJson({ grant_type: 'authorization_code', code, code_verifier: c.verifier }),
      );
      assert.equal(token.status, 200);
    });
  });
}

ownershipSuite('memory', async () => new MemoryFlowStore({ ttlMs: 600_000, maxFlows: 1_000 }));

if (!redisSkip) {
  let redis: RedisServer | undefined;
  let prefixes = 0;
  const key = randomBytes(32).toString('hex');
  after(() => redis?.stop());
  ownershipSuite('redis', async () => {
    redis ??= await startRedis();
    const { connectRedisFlowStore } = await import('../src/store/redis.js');
    return connectRedisFlowStore({
      url: redis.url,
      key,
      prefix: `own${prefixes++}:`,
      ttlMs: 600_000,
      maxFlows: 1_000,
      logger: createLogger({ level: 'silent' }),
    });
  });
}
