/**
 * Two brokers sharing one standalone Redis (not a Redis Cluster: the store's
 * scripts rule that out, see src/store/redis-scripts.ts), against the bundled provider and a real
 * redis-server started here. Brokers A and B run as separate processes
 * (`node bin/pkce-broker.js serve`, from the build `npm test` makes first),
 * both with B's callback as redirect URI, so the provider's form_post always
 * lands on B while /pkce/code waits on A. The race runs two in-process brokers
 * whose redirect URI is a page of the test's own, so the test holds a real
 * code and state and can replay them 200 times at once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { discoverProvider } from '../src/provider/oidc.js';
import { dumpRedis, freePort, redisSkip, startRedis, type RedisServer } from './support/redis.js';
import { postJson, urlQueue } from './support/stack.js';

const KEY = randomBytes(32).toString('hex');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/pkce-broker.js', import.meta.url));

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** A `pkce-broker serve` process: its output as lines, and the sign-in URLs it announces. */
class BrokerProcess {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  stderr = '';
  readonly #urls = urlQueue();
  #scanned = 0;
  /** Called with each sign-in URL as it is announced, before it is queued. */
  onAnnounce: ((url: URL) => void) | undefined;
  readonly #watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];

  private constructor(port: number, child: ChildProcess) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.child = child;
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        this.stdout.push(line);
        for (const w of [...this.#watchers]) {
          if (w.pattern.test(line)) {
            this.#watchers.splice(this.#watchers.indexOf(w), 1);
            w.resolve();
          }
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
      // `--open never` announces each sign-in URL on stderr, whole, for a person to open.
      const announced = /sign in:\n\s+(\S+)\n/g;
      announced.lastIndex = this.#scanned;
      for (let match = announced.exec(this.stderr); match; match = announced.exec(this.stderr)) {
        const url = new URL(match[1]!);
        this.onAnnounce?.(url);
        this.#urls.push(url);
        this.#scanned = announced.lastIndex;
      }
    });
  }

  static async start(port: number, args: string[]): Promise<BrokerProcess> {
    const child = spawn(
      process.execPath,
      // PAR off: the tests read the flow's state off its authorize URL, which a pushed request leaves out.
      [BIN, 'serve', '--port', String(port), '--open', 'never', '--par', 'never', ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const broker = new BrokerProcess(port, child);
    const listening = broker.next(/^pkce-broker listening on /);
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`broker exited with ${code} before listening:\n${broker.stderr}`);
    });
    await Promise.race([listening, exited]);
    exited.catch(() => {});
    return broker;
  }

  /** Resolves on the next stdout line matching `pattern`. */
  next(pattern: RegExp): Promise<void> {
    return new Promise((resolve) => this.#watchers.push({ pattern, resolve }));
  }

  nextAuthorizeUrl(): Promise<URL> {
    return this.#urls.next();
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  api(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.url}${path}`, init);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.alive) return;
    const exited = once(this.child, 'exit');
    this.child.kill(signal);
    await exited;
  }
}

if (redisSkip) {
  test('two brokers sharing one Redis', { skip: redisSkip }, () => {});
} else {
  if (!existsSync(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  }
  const redis: RedisServer = await startRedis();
  const devProvider: DevProvider = await startDevProvider();
  after(async () => {
    await devProvider.close();
    await redis.stop();
  });

  describe('two broker processes sharing one Redis', { timeout: 30_000 }, () => {
    let a: BrokerProcess;
    let b: BrokerProcess;
    let portA: number;
    let args: string[];
    before(async () => {
      portA = await freePort();
      const portB = await freePort();
      const redirectUri = `http://127.0.0.1:${portB}/pkce/response/code`;
      devProvider.setRedirectUris([redirectUri]);
      args = [
        '--issuer',
        devProvider.issuer,
        '--client-id',
        devProvider.clientId,
        '--redirect-uri',
        redirectUri,
        '--store',
        redis.url,
        '--store-key',
        KEY,
      ];
      [a, b] = await Promise.all([
        BrokerProcess.start(portA, args),
        BrokerProcess.start(portB, args),
      ]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    /** Challenge and /pkce/code on `on`; returns the pending code answer and the URL the broker announced. */
    async function begin(on: BrokerProcess) {
      const challenge = (await json<PKCE>(await on.api('/pkce/challenge'))).challenge!;
      const codeAnswer = on.api('/pkce/code', postJson({ state: challenge.state }));
      codeAnswer.catch(() => {});
      const authorizeUrl = await on.nextAuthorizeUrl();
      assert.equal(authorizeUrl.searchParams.get('state'), challenge.state);
      return { challenge, codeAnswer, authorizeUrl };
    }

    async function exchange(on: BrokerProcess, code: string, verifier: string) {
      return on.api(
        '/pkce/token',
        postJson({ grant_type: 'authorization_code', code, code_verifier: verifier }),
      );
    }

    it('waits on A, takes the callback on B, wakes A, and exchanges the code on B', async () => {
      const { challenge, codeAnswer, authorizeUrl } = await begin(a);
      assert.equal(authorizeUrl.searchParams.get('redirect_uri'), `${b.url}/pkce/response/code`);
      const { callbackResponse, delivered } = await scriptedLogin(authorizeUrl, {
        accept: 'application/json',
      });
      assert.equal(callbackResponse.status, 200);
      const codeResponse = await codeAnswer;
      assert.equal(codeResponse.status, 200);
      const result = (await json<PKCE>(codeResponse)).result!;
      assert.equal(result.state, challenge.state);
      assert.equal(result.code, delivered.get('code'));

      const tokenResponse = await exchange(b, result.code, challenge.verifier);
      assert.equal(tokenResponse.status, 200);
      const token = (await json<PKCE>(tokenResponse)).auth0!.oAuth!.token!;
      assert.ok(token.access_token);
      assert.equal(decodeJwt(token.id_token!).nonce, challenge.nonce);
      const replay = await exchange(a, result.code, challenge.verifier);
      assert.equal(replay.status, 400);
      assert.equal((await json(replay)).error, 'invalid_grant');
    });

    it('completes a flow whose broker was killed mid-flow and started again', async () => {
      const { challenge, codeAnswer, authorizeUrl } = await begin(a);
      await a.stop('SIGKILL');
      await assert.rejects(codeAnswer);
      a = await BrokerProcess.start(portA, args);

      const { callbackResponse, delivered } = await scriptedLogin(authorizeUrl, {
        accept: 'application/json',
      });
      assert.equal(callbackResponse.status, 200);
      // The callback is over and nothing else will deliver the code: a 200 with it means the
      // restarted A read the result Redis kept, and it did so without opening the browser again.
      const reopened = new Promise<never>((_resolve, reject) => {
        a.onAnnounce = (url) =>
          reject(new Error(`the restarted broker started a new sign-in: ${url.origin}`));
      });
      let again: Response;
      try {
        again = await Promise.race([
          a.api('/pkce/code', postJson({ state: challenge.state })),
          reopened,
        ]);
      } finally {
        a.onAnnounce = undefined;
      }
      assert.equal(again.status, 200);
      const result = (await json<PKCE>(again)).result!;
      assert.equal(result.code, delivered.get('code'));
      const tokenResponse = await exchange(a, result.code, challenge.verifier);
      assert.equal(tokenResponse.status, 200);
      assert.equal(
        decodeJwt((await json<PKCE>(tokenResponse)).auth0!.oAuth!.token!.id_token!).nonce,
        challenge.nonce,
      );
    });

    it('answers 503 while Redis is down, recovers when it is back, and never crashes', async () => {
      const lost = [a.next(/Redis connection lost/), b.next(/Redis connection lost/)];
      await redis.kill();
      await Promise.all(lost);

      for (const [broker, path, init] of [
        [a, '/pkce/challenge', undefined],
        [b, '/pkce/code', postJson({ state: 'x'.repeat(43) })],
        [b, '/pkce/token', postJson({ grant_type: 'authorization_code', code: 'some-code' })],
        [a, '/pkce/clear', { method: 'POST' }],
      ] as const) {
        const response = await broker.api(path, init);
        assert.equal(response.status, 503, path);
        assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
        assert.equal((await json(response)).code, 'store_unavailable');
      }
      const health = await a.api('/healthz');
      assert.equal(health.status, 503);
      const body = await json<{ store: { ok: boolean; detail: string } }>(health);
      assert.equal(body.store.ok, false);
      assert.match(body.store.detail, new RegExp(`redis ${redis.url} unreachable`));

      const restored = [a.next(/Redis connection restored/), b.next(/Redis connection restored/)];
      await redis.restart();
      await Promise.all(restored);
      assert.equal((await a.api('/healthz')).status, 200);

      const { challenge, codeAnswer, authorizeUrl } = await begin(a);
      const { callbackResponse } = await scriptedLogin(authorizeUrl, {
        accept: 'application/json',
      });
      assert.equal(callbackResponse.status, 200);
      const result = (await json<PKCE>(await codeAnswer)).result!;
      assert.equal(result.state, challenge.state);
      assert.equal((await exchange(b, result.code, challenge.verifier)).status, 200);
      assert.ok(a.alive && b.alive);
      for (const line of [...a.stdout, ...b.stdout])
        assert.ok(!line.includes(KEY), 'the store key is never logged');
    });

    it('refuses to start, in one line, when Redis is unreachable', async () => {
      const closed = await freePort();
      const child = spawn(
        process.execPath,
        [
          BIN,
          'serve',
          '--port',
          '0',
          '--issuer',
          devProvider.issuer,
          '--client-id',
          devProvider.clientId,
          '--store',
          `redis://127.0.0.1:${closed}`,
          '--store-key',
          KEY,
        ],
        { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1);
      assert.equal(
        stderr,
        `pkce-broker serve: Cannot reach Redis at redis://127.0.0.1:${closed} (ECONNREFUSED); start it or fix --store\n`,
      );
    });
  });

  describe(
    'two in-process brokers sharing one Redis: races and what Redis holds',
    { timeout: 20_000 },
    () => {
      let page: Server;
      let pageUrl: string;
      let a: RunningBroker;
      let b: RunningBroker;
      /** Waits one second only: its POST /pkce/code times out (504) while the user is still out. */
      let hasty: RunningBroker;
      const upstream: string[] = [];
      const opened = urlQueue();
      const prefix = `race-${randomBytes(4).toString('hex')}:`;

      before(async () => {
        // Stands in for the broker's callback: the provider posts the code here, and the test replays it.
        page = createServer((_request, response) => response.end('ok'));
        page.listen(0, '127.0.0.1');
        await once(page, 'listening');
        pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}/cb`;
        devProvider.setRedirectUris([pageUrl]);
        const countingFetch: typeof fetch = (input, init) => {
          upstream.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
          return fetch(input, init);
        };
        const provider = await discoverProvider({
          issuer: devProvider.issuer,
          clientId: devProvider.clientId,
          fetch: countingFetch,
          // The tests read the flow's state off its authorize URL, which a pushed request (PAR) leaves out.
          par: 'never',
        });
        const config = {
          ...loadConfig({ argv: ['--port', '0'], env: {}, readFile: () => undefined }).config,
          issuer: devProvider.issuer,
          clientId: devProvider.clientId,
          redirectUri: pageUrl,
          store: redis.url,
          storeKey: KEY,
          storePrefix: prefix,
        };
        const logger = createLogger({ level: 'silent' });
        const start = (waitTimeoutSec = config.waitTimeoutSec) =>
          startBroker({
            config: { ...config, waitTimeoutSec },
            provider,
            logger,
            openAuthorizeUrl: async (url) => opened.push(url),
          });
        [a, b, hasty] = await Promise.all([start(), start(), start(1)]);
      });
      after(async () => {
        await Promise.all([a?.close(), b?.close(), hasty?.close()]);
        page?.close();
      });

      it('keeps one waiter per flow across brokers, and frees its claim when the wait times out', async () => {
        const challenge = (await json<PKCE>(await fetch(`${a.url}/pkce/challenge`))).challenge!;
        const first = await fetch(`${hasty.url}/pkce/code`, postJson({ state: challenge.state }));
        assert.equal(first.status, 504);
        const url = await opened.next();
        assert.equal(url.searchParams.get('state'), challenge.state);

        // The timed-out wait let go of the flow: another broker resumes it, without a new browser.
        const resumed = fetch(`${a.url}/pkce/code`, postJson({ state: challenge.state }));
        const { delivered } = await scriptedLogin(url);
        // While A waits, B turns a stranger with the same state away at once.
        const stranger = await fetch(`${b.url}/pkce/code`, postJson({ state: challenge.state }));
        assert.equal(stranger.status, 409);
        assert.equal((await json(stranger)).code, 'flow_busy');
        const callback = await fetch(`${b.url}/pkce/response/code`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: delivered.toString(),
        });
        assert.equal(callback.status, 200);
        const answer = await resumed;
        assert.equal(answer.status, 200);
        const { code } = (await json<PKCE>(answer)).result!;
        assert.equal(code, delivered.get('code'));
        const token = await fetch(
          `${b.url}/pkce/token`,
          postJson({ grant_type: 'authorization_code', code, code_verifier: challenge.verifier }),
        );
        assert.equal(token.status, 200);

        // No broker opened the browser again for this flow: the next URL is a new flow's.
        const next = (await json<PKCE>(await fetch(`${b.url}/pkce/challenge`))).challenge!;
        const pending = fetch(`${b.url}/pkce/code`, postJson({ state: next.state }));
        assert.equal((await opened.next()).searchParams.get('state'), next.state);
        await fetch(`${a.url}/pkce/clear`, { method: 'POST' });
        assert.equal((await pending).status, 409);
      });

      it('lets exactly one of 200 concurrent callbacks, then one of 200 token requests, succeed; Redis holds no secret', async () => {
        const challenge = (await json<PKCE>(await fetch(`${a.url}/pkce/challenge`))).challenge!;
        const codeAnswer = fetch(`${a.url}/pkce/code`, postJson({ state: challenge.state }));
        const { delivered } = await scriptedLogin(await opened.next());
        const code = delivered.get('code')!;
        assert.equal(delivered.get('state'), challenge.state);

        const form = delivered.toString();
        const callbacks = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            fetch(`${(i % 2 ? a : b).url}/pkce/response/code`, {
              method: 'POST',
              headers: {
                'content-type': 'application/x-www-form-urlencoded',
                accept: 'application/json',
              },
              body: form,
            }).then(async (r) => {
              await r.body?.cancel();
              return r.status;
            }),
          ),
        );
        assert.equal(callbacks.filter((s) => s === 200).length, 1);
        assert.equal(callbacks.filter((s) => s === 400).length, 199);
        assert.equal((await json<PKCE>(await codeAnswer)).result?.code, code);

        const dump = await dumpRedis(redis.url);
        assert.ok(
          dump.includes(`${prefix}f:`) && dump.includes(`${prefix}c:`),
          'the flow and its code are in Redis',
        );
        for (const secret of [challenge.state, challenge.nonce, challenge.verifier, code]) {
          assert.ok(!dump.includes(secret), 'a secret is readable in Redis');
        }

        const before = upstream.filter((path) => path.endsWith('/token')).length;
        const tokens = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            fetch(
              `${(i % 2 ? a : b).url}/pkce/token`,
              postJson({
                grant_type: 'authorization_code',
                code,
                code_verifier: challenge.verifier,
              }),
            ).then(async (r) => ({
              status: r.status,
              body: await json(r),
            })),
          ),
        );
        assert.equal(tokens.filter((t) => t.status === 200).length, 1);
        assert.ok(
          tokens
            .filter((t) => t.status !== 200)
            .every((t) => t.status === 400 && t.body.error === 'invalid_grant'),
        );
        assert.equal(
          upstream.filter((path) => path.endsWith('/token')).length - before,
          1,
          'one token request reached the provider',
        );
      });
    },
  );
}
