/**
 * The discovery cache: a broker starts from a document an earlier run kept,
 * with no request to the provider, and revalidates it once listening.
 * Each test keeps its documents in a directory of its own (never the shared
 * XDG_CACHE_HOME of the CLI children), so no test starts from another's.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { BrokerError } from '../src/errors.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { DiscoveryCache } from '../src/provider/discovery-cache.js';
import { providerFromKeptMetadata } from '../src/provider/oidc.js';
import { REVALIDATE_AFTER_MS, type Scheduler } from '../src/provider/registry.js';
import { logLines, postJson, urlQueue } from './support/stack.js';

const DAY_MS = 24 * 60 * 60 * 1000;

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** Background tasks the registry schedules, run when the test says. */
function manualScheduler(): { scheduler: Scheduler; tasks: Array<{ run(): void; ms: number }> } {
  const tasks: Array<{ run(): void; ms: number }> = [];
  return {
    tasks,
    scheduler: (run, ms) => {
      const task = { run, ms };
      tasks.push(task);
      return () => {
        const at = tasks.indexOf(task);
        if (at >= 0) tasks.splice(at, 1);
      };
    },
  };
}

/** Runs (and removes) the one pending task scheduled `ms` after its scheduling. */
function runTask(tasks: Array<{ run(): void; ms: number }>, ms: number): void {
  const at = tasks.findIndex((task) => task.ms === ms);
  assert.ok(at >= 0, `a task in ${ms} ms, got ${JSON.stringify(tasks.map((t) => t.ms))}`);
  const [task] = tasks.splice(at, 1);
  task!.run();
}

interface Broker {
  broker: RunningBroker;
  tasks: Array<{ run(): void; ms: number }>;
  logged(text: string): Promise<string>;
  logs: string[];
  health(): Promise<{ status: number; providers: Array<Record<string, unknown>> }>;
  /** POST /pkce/code: the URL it opens (the request then cancelled), or its status when it fails. */
  signInUrl(): Promise<{ url?: URL; status?: number }>;
  close(): Promise<void>;
}

async function broker(
  issuer: string,
  clientId: string,
  cacheDirectory: string | false,
  argv: string[] = [],
): Promise<Broker> {
  const config = loadConfig({
    argv: ['--port', '0', '--par', 'never', '--issuer', issuer, '--client-id', clientId, ...argv],
    env: {},
    readFile: () => undefined,
  }).config;
  const { logs, listeners, sink } = logLines();
  const { scheduler, tasks } = manualScheduler();
  const opened = urlQueue();
  const running = await startBroker({
    config,
    logger: createLogger({ level: 'debug', destination: sink }),
    scheduler,
    ...(cacheDirectory !== false && { discoveryCache: { cacheDirectory } }),
    openAuthorizeUrl: (url) => void opened.push(url),
  });
  const api = (path: string) => fetch(`${running.url}${path}`);
  return {
    broker: running,
    tasks,
    logs,
    logged: (text) =>
      new Promise((resolve) => {
        const found = logs.find((line) => line.includes(text));
        if (found !== undefined) return resolve(found);
        const listener = (line: string): void => {
          if (!line.includes(text)) return;
          listeners.splice(listeners.indexOf(listener), 1);
          resolve(line);
        };
        listeners.push(listener);
      }),
    async health() {
      const response = await api('/healthz');
      return { ...(await json<{ providers: [] }>(response)), status: response.status };
    },
    async signInUrl() {
      const { challenge } = await json<PKCE>(await api('/pkce/challenge'));
      const hangUp = new AbortController();
      const failed = fetch(`${running.url}/pkce/code`, {
        ...postJson({ state: challenge!.state }),
        signal: hangUp.signal,
      }).then(
        (response) => ({ status: response.status }),
        () => ({}),
      );
      const result = await Promise.race([opened.next().then((url) => ({ url })), failed]);
      hangUp.abort();
      return result;
    },
    close: () => running.close(),
  };
}

function authorizeUrlOf(result: { url?: URL; status?: number }): URL {
  assert.ok(result.url !== undefined, `no sign-in URL: ${result.status}`);
  return result.url;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pkce-broker-discovery-'));
}

/** A discovery server of the test's own, whose document the test changes; counts its requests. */
async function documentServer(): Promise<{
  issuer: string;
  document: Record<string, unknown>;
  requests: number;
  close(): void;
}> {
  const state = { issuer: '', document: {} as Record<string, unknown>, requests: 0 };
  const server: Server = createServer((_request, response) => {
    state.requests++;
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(state.document));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const iss = state.issuer;
  state.document = {
    issuer: iss,
    authorization_endpoint: `${iss}/authorize-v1`,
    token_endpoint: `${iss}/token`,
    jwks_uri: `${iss}/jwks`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
  };
  return Object.assign(state, { close: () => server.close() });
}

describe('discovery cache: start from a kept document', () => {
  const closing: Array<() => unknown> = [];
  after(async () => {
    for (const close of closing.reverse()) await close();
  });

  it('starts with the provider stopped, answers a sign-in URL, and keeps the document while it is unreachable', async () => {
    const cacheDirectory = tempDir();
    const dev: DevProvider = await startDevProvider({});
    let providerClosed = false;
    closing.push(() => (providerClosed ? undefined : dev.close()));

    const first = await broker(dev.issuer, dev.clientId, cacheDirectory);
    closing.push(() => first.close());
    assert.equal((await first.health()).providers[0]!['discovery'], 'network');
    // Kept once listening, not on the way there.
    const file = new DiscoveryCache({ cacheDirectory }).fileOf(dev.issuer);
    assert.equal(existsSync(file), false);
    runTask(first.tasks, 0);
    await first.logged('kept in');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(cacheDirectory, 'discovery')).mode & 0o777, 0o700);
    const kept = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(kept['issuer'], dev.issuer);
    assert.equal((kept['metadata'] as Record<string, unknown>)['issuer'], dev.issuer);
    assert.equal(typeof kept['fetchedAt'], 'number');
    await first.close();

    await dev.close();
    providerClosed = true;
    const second = await broker(dev.issuer, dev.clientId, cacheDirectory);
    closing.push(() => second.close());
    await second.logged('discovery of default from cache (age 0 s), revalidating');
    let health = await second.health();
    assert.equal(health.status, 200);
    assert.deepEqual(
      [health.providers[0]!['state'], health.providers[0]!['discovery']],
      ['up', 'cache'],
    );
    const url = authorizeUrlOf(await second.signInUrl());
    assert.equal(url.origin, new URL(dev.issuer).origin);
    assert.equal(url.searchParams.get('client_id'), dev.clientId);

    // Revalidation a while after listening: the provider cannot be reached, the kept one stays.
    runTask(second.tasks, REVALIDATE_AFTER_MS);
    assert.match(
      await second.logged('could not be reached to revalidate'),
      /kept discovery document, which stays in use.*ECONNREFUSED/,
    );
    health = await second.health();
    assert.deepEqual(
      [health.status, health.providers[0]!['state'], health.providers[0]!['discovery']],
      [200, 'up', 'cache'],
    );
    assert.equal(existsSync(file), true);
    await second.close();
    // close() left nothing scheduled behind.
    assert.deepEqual(second.tasks, []);
  });

  it('swaps in a changed document after revalidation; a document naming another issuer takes the provider down and deletes the file', async () => {
    const cacheDirectory = tempDir();
    const server = await documentServer();
    closing.push(() => server.close());
    const file = new DiscoveryCache({ cacheDirectory }).fileOf(server.issuer);

    const first = await broker(server.issuer, 'app', cacheDirectory);
    closing.push(() => first.close());
    runTask(first.tasks, 0);
    await first.logged('kept in');
    await first.close();

    server.document = {
      ...server.document,
      authorization_endpoint: `${server.issuer}/authorize-v2`,
    };
    const requestsBefore = server.requests;
    const second = await broker(server.issuer, 'app', cacheDirectory);
    closing.push(() => second.close());
    // Started from the kept document: no request, the old endpoint.
    assert.equal(server.requests, requestsBefore);
    assert.equal(authorizeUrlOf(await second.signInUrl()).pathname, '/authorize-v1');
    runTask(second.tasks, REVALIDATE_AFTER_MS);
    await second.logged('its discovery document changed since it was kept');
    assert.equal(authorizeUrlOf(await second.signInUrl()).pathname, '/authorize-v2');
    assert.equal((await second.health()).providers[0]!['discovery'], 'network');
    // And the file is rewritten with the fresh document.
    runTask(second.tasks, 0);
    await second.logged('kept in');
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { metadata: Record<string, unknown> };
    assert.equal(kept.metadata['authorization_endpoint'], `${server.issuer}/authorize-v2`);
    await second.close();

    server.document = { ...server.document, issuer: 'https://other.example/' };
    const third = await broker(server.issuer, 'app', cacheDirectory);
    closing.push(() => third.close());
    assert.equal((await third.health()).providers[0]!['discovery'], 'cache');
    runTask(third.tasks, REVALIDATE_AFTER_MS);
    assert.match(await third.logged('is down'), /answered with issuer https:\/\/other\.example\//);
    assert.equal(existsSync(file), false);
    const health = await third.health();
    assert.equal(health.status, 503);
    assert.equal(health.providers[0]!['state'], 'down');
    assert.match(String(health.providers[0]!['detail']), /must match exactly/);
    assert.deepEqual(await third.signInUrl(), { status: 503 });
    await third.close();
    assert.deepEqual(third.tasks, []);
  });

  it('a 4xx at revalidation takes the provider down; a 5xx keeps the kept document', async () => {
    const cacheDirectory = tempDir();
    const server = await documentServer();
    closing.push(() => server.close());
    const cache = new DiscoveryCache({ cacheDirectory });
    await cache.write(server.issuer, server.document);
    server.close();
    // The same port, now answering with errors.
    const port = Number(new URL(server.issuer).port);
    let status = 503;
    const failing = createServer((_request, response) => void response.writeHead(status).end());
    failing.listen(port, '127.0.0.1');
    await once(failing, 'listening');
    closing.push(() => failing.close());

    const kept = await broker(server.issuer, 'app', cacheDirectory);
    closing.push(() => kept.close());
    runTask(kept.tasks, REVALIDATE_AFTER_MS);
    await kept.logged('could not be reached to revalidate');
    assert.equal((await kept.health()).providers[0]!['state'], 'up');
    await kept.close();

    status = 404;
    const down = await broker(server.issuer, 'app', cacheDirectory);
    closing.push(() => down.close());
    runTask(down.tasks, REVALIDATE_AFTER_MS);
    await down.logged('is down');
    assert.equal((await down.health()).providers[0]!['state'], 'down');
    assert.equal(existsSync(cache.fileOf(server.issuer)), false);
    await down.close();
  });

  it('ignores a kept document it cannot trust, and discovers afresh', async () => {
    const cacheDirectory = tempDir();
    const server = await documentServer();
    closing.push(() => server.close());
    const cache = new DiscoveryCache({ cacheDirectory });
    const file = cache.fileOf(server.issuer);
    const start = async (): Promise<Record<string, unknown>> => {
      const before = server.requests;
      const running = await broker(server.issuer, 'app', cacheDirectory);
      const entry = (await running.health()).providers[0]!;
      await running.close();
      return { ...entry, requests: server.requests - before };
    };

    await cache.write(server.issuer, server.document);
    assert.equal((await start())['discovery'], 'cache');

    writeFileSync(file, '{"version":1,"issuer":', { mode: 0o600 });
    assert.deepEqual(await start(), {
      id: 'default',
      kind: 'oidc',
      issuer: server.issuer,
      state: 'up',
      discovery: 'network',
      requests: 1,
    });

    // Another issuer's file under this issuer's name.
    await cache.write('http://127.0.0.1:1', { ...server.document, issuer: 'http://127.0.0.1:1' });
    copyFileSync(cache.fileOf('http://127.0.0.1:1'), file);
    chmodSync(file, 0o600);
    assert.equal((await start())['discovery'], 'network');

    // The record names the issuer, its document another.
    await cache.write(server.issuer, { ...server.document, issuer: `${server.issuer}/` });
    assert.equal((await start())['discovery'], 'network');

    // Writable by others.
    await cache.write(server.issuer, server.document);
    chmodSync(file, 0o622);
    assert.equal((await start())['discovery'], 'network');
  });

  it('refuses, like a fresh one, a kept document that breaks a rule, or one too old', async () => {
    const cacheDirectory = tempDir();
    let now = 1_000 * DAY_MS;
    const cache = new DiscoveryCache({ cacheDirectory, now: () => now });
    const issuer = 'https://login.example.com/';
    const document = {
      issuer,
      authorization_endpoint: 'https://login.example.com/authorize',
      token_endpoint: 'https://login.example.com/oauth/token',
      jwks_uri: 'https://login.example.com/.well-known/jwks.json',
      code_challenge_methods_supported: ['S256'],
    };
    const entry = cache.entry(issuer, (metadata) =>
      providerFromKeptMetadata({ issuer, clientId: 'app' }, metadata),
    );

    await cache.write(issuer, document);
    const loaded = await entry.load();
    assert.equal(loaded?.provider.metadata['token_endpoint'], document.token_endpoint);

    now += 6 * DAY_MS;
    assert.equal((await entry.load())?.ageMs, 6 * DAY_MS);
    now += 2 * DAY_MS;
    assert.equal(await entry.load(), undefined);

    await cache.write(issuer, {
      ...document,
      token_endpoint: 'http://login.example.com/oauth/token',
    });
    assert.equal(await entry.load(), undefined);
    await cache.write(issuer, { ...document, code_challenge_methods_supported: ['plain'] });
    assert.equal(await entry.load(), undefined);
    await cache.write(issuer, { ...document, authorization_endpoint: undefined });
    assert.equal(await entry.load(), undefined);
    await cache.write(issuer, { ...document, issuer: 'https://login.example.com' });
    assert.equal(await entry.load(), undefined);
    // And the file names only a hash of the issuer, whatever it holds.
    assert.match(cache.fileOf('https://x/../../etc/passwd'), /\/discovery\/[0-9a-f]{64}\.json$/);
  });

  it('a cache directory that cannot be written does not stop start-up', async () => {
    const dev = await startDevProvider({});
    closing.push(() => dev.close());
    // A file where the directory should be: mkdir fails even for root.
    const blocked = join(tempDir(), 'not-a-directory');
    writeFileSync(blocked, '');
    const running = await broker(dev.issuer, dev.clientId, blocked);
    closing.push(() => running.close());
    runTask(running.tasks, 0);
    assert.match(await running.logged('is not kept'), /ENOTDIR|EEXIST/);
    assert.equal((await running.health()).status, 200);
    await running.close();
  });

  it('off (the default of startBroker, or config false): nothing scheduled, nothing written', async () => {
    const cacheDirectory = tempDir();
    const dev = await startDevProvider({});
    closing.push(() => dev.close());
    const off = await broker(dev.issuer, dev.clientId, false);
    closing.push(() => off.close());
    assert.deepEqual(off.tasks, []);
    assert.equal((await off.health()).providers[0]!['discovery'], undefined);
    await off.close();

    // The config's false wins over nothing given to startBroker.
    const config = loadConfig({
      argv: ['--port', '0', '--issuer', dev.issuer, '--client-id', dev.clientId],
      env: { PKCE_BROKER_DISCOVERY_CACHE: 'false' },
    }).config;
    assert.equal(config.discoveryCache, false);
    const { scheduler, tasks } = manualScheduler();
    const running = await startBroker({
      config,
      scheduler,
      logger: createLogger({ level: 'silent' }),
    });
    closing.push(() => running.close());
    assert.deepEqual(tasks, []);
    await running.close();
    assert.equal(existsSync(join(cacheDirectory, 'discovery')), false);
  });

  it('a kept document of a provider that is down and unusable fails start-up as today', async () => {
    const cacheDirectory = tempDir();
    const server = await documentServer();
    const cache = new DiscoveryCache({ cacheDirectory });
    await cache.write(server.issuer, { ...server.document, jwks_uri: undefined });
    server.close();
    await assert.rejects(
      broker(server.issuer, 'app', cacheDirectory),
      (error: unknown) => error instanceof BrokerError && error.code === 'startup_failed',
    );
  });
});

describe('discovery cache options', () => {
  const parse = (argv: string[], file?: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    loadConfig({
      argv,
      env,
      readFile: () => (file === undefined ? undefined : JSON.stringify(file)),
    }).config.discoveryCache;

  it('is unset by default, and set by flag, environment or config file', () => {
    assert.equal(parse([]), undefined);
    assert.equal(parse(['--no-discovery-cache']), false);
    assert.equal(parse(['--discovery-cache']), true);
    assert.equal(parse([], { discoveryCache: false }), false);
    assert.equal(parse([], undefined, { PKCE_BROKER_DISCOVERY_CACHE: 'off' }), false);
    assert.equal(parse(['--discovery-cache'], { discoveryCache: false }), true);
  });

  it('refuses a value that is not a boolean, and both flags', () => {
    assert.throws(
      () => parse([], { discoveryCache: 'no' }),
      /"discoveryCache" must be true or false/,
    );
    assert.throws(
      () => parse(['--discovery-cache', '--no-discovery-cache']),
      /either --discovery-cache or --no-discovery-cache/,
    );
    assert.throws(
      () => parse([], undefined, { PKCE_BROKER_DISCOVERY_CACHE: 'maybe' }),
      /--discovery-cache must be true or false/,
    );
  });
});
