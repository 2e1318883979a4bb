/**
 * A whole stack for integration tests, all on loopback port 0: the bundled
 * oidc-provider, a broker wired to it, and an opener that hands each authorize
 * URL to the test instead of a browser.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { startBroker, type RunningBroker } from '../../src/broker.js';
import { loadConfig, type BrokerConfig } from '../../src/config/load.js';
import {
  startDevProvider,
  type DevProvider,
  type DevProviderOptions,
} from '../../src/devprovider/provider.js';
import { scriptedLogin } from '../../src/devprovider/login.js';
import { createLogger } from '../../src/logging.js';
import type { PKCE } from '../../src/protocol/models.js';
import { discoverProvider } from '../../src/provider/oidc.js';
import type { Scheduler } from '../../src/provider/registry.js';
import type { ProviderKind } from '../../src/provider/types.js';
import type { FlowStore } from '../../src/store/types.js';

export interface Stack {
  devProvider: DevProvider;
  broker: RunningBroker;
  /** The next authorize (or logout) URL the broker opens. */
  nextAuthorizeUrl(): Promise<URL>;
  /** Every line the broker logged. */
  logs: string[];
  /** Requests the provider client sent upstream, by URL path. */
  upstream: string[];
  api(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface StackOptions {
  argv?: string[];
  config?: Partial<BrokerConfig>;
  provider?: DevProviderOptions;
  store?: FlowStore;
  logLevel?: string;
}

export function urlQueue(): { push(url: URL): void; next(): Promise<URL> } {
  const ready: URL[] = [];
  const waiting: Array<(url: URL) => void> = [];
  return {
    push(url) {
      const waiter = waiting.shift();
      if (waiter) waiter(url);
      else ready.push(url);
    },
    next() {
      const url = ready.shift();
      if (url) return Promise.resolve(url);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const devProvider = await startDevProvider(options.provider ?? {});
  const upstream: string[] = [];
  const countingFetch: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    upstream.push(new URL(url).pathname);
    return fetch(input, init);
  };
  const base = loadConfig({
    // PAR off unless a test's argv turns it on (--par auto): most tests read state and the other
    // parameters off the URL the browser gets, which a pushed request leaves out (test/par.test.ts).
    argv: ['--port', '0', '--par', 'never', ...(options.argv ?? [])],
    env: {},
    readFile: () => undefined,
  }).config;
  const config = {
    ...base,
    issuer: devProvider.issuer,
    clientId: devProvider.clientId,
    ...options.config,
  };
  const provider = await discoverProvider({
    issuer: devProvider.issuer,
    clientId: devProvider.clientId,
    fetch: countingFetch,
    responseMode: config.responseMode,
    par: config.par,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: options.logLevel ?? 'debug', destination: sink });
  const queue = urlQueue();
  const broker = await startBroker({
    config,
    provider,
    logger,
    ...(options.store && { store: options.store }),
    openAuthorizeUrl: async (url) => queue.push(url),
    // POST /pkce/logout with "open": true: the same queue, never a real browser.
    openLogoutUrl: async (url) => queue.push(url),
  });
  devProvider.setRedirectUris([broker.redirectUri, ...config.allowRedirectUris]);
  return {
    devProvider,
    broker,
    logs,
    upstream,
    nextAuthorizeUrl: queue.next,
    api: (path, init) => fetch(`${broker.url}${path}`, init),
    async close() {
      await broker.close();
      await devProvider.close();
    },
  };
}

export interface ProvidersStack {
  /** The bundled providers by id (only those that run: a `down` one has none until started). */
  devProviders: Record<string, DevProvider>;
  broker: RunningBroker;
  nextAuthorizeUrl(): Promise<URL>;
  logs: string[];
  /** Resolves at the first log line (already written or to come) that contains `text`. */
  logged(text: string): Promise<string>;
  api(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface ProvidersStackEntry {
  id: string;
  kind?: ProviderKind;
  /** The bundled provider's options (clientId defaults to `client-<id>`). */
  provider?: DevProviderOptions;
  /**
   * Configured but not running at start: the broker finds nothing on its
   * port. Start it with `startDevProvider({ port, clientId })`.
   */
  down?: { port: number };
}

/**
 * Several bundled providers and a broker configured as a person would: a
 * config file with a `providers` list, discovered by the broker itself (so
 * start-up, down providers and their background discovery are the real ones).
 */
export async function startProvidersStack(options: {
  entries: ProvidersStackEntry[];
  argv?: string[];
  store?: FlowStore;
  scheduler?: Scheduler;
  /** Extra top-level config-file keys. */
  file?: Record<string, unknown>;
}): Promise<ProvidersStack> {
  const devProviders: Record<string, DevProvider> = {};
  try {
    await Promise.all(
      options.entries
        .filter((entry) => entry.down === undefined)
        .map(async (entry) => {
          devProviders[entry.id] = await startDevProvider({
            clientId: `client-${entry.id}`,
            ...entry.provider,
          });
        }),
    );
  } catch (error) {
    await Promise.all(Object.values(devProviders).map((p) => p.close()));
    throw error;
  }
  const file = {
    ...options.file,
    providers: options.entries.map((entry) => ({
      id: entry.id,
      ...(entry.kind !== undefined && { kind: entry.kind }),
      issuer: devProviders[entry.id]?.issuer ?? `http://127.0.0.1:${entry.down!.port}`,
      clientId:
        devProviders[entry.id]?.clientId ?? entry.provider?.clientId ?? `client-${entry.id}`,
    })),
  };
  const config = loadConfig({
    argv: ['--port', '0', '--par', 'never', '--provider-timeout', '2', ...(options.argv ?? [])],
    env: {},
    readFile: () => JSON.stringify(file),
  }).config;
  const { logs, listeners, sink } = logLines();
  const logger = createLogger({ level: 'debug', destination: sink });
  const queue = urlQueue();
  let broker: RunningBroker;
  try {
    broker = await startBroker({
      config,
      logger,
      ...(options.store && { store: options.store }),
      ...(options.scheduler && { scheduler: options.scheduler }),
      openAuthorizeUrl: async (url) => queue.push(url),
    });
  } catch (error) {
    await Promise.all(Object.values(devProviders).map((p) => p.close()));
    throw error;
  }
  for (const provider of Object.values(devProviders))
    provider.setRedirectUris([broker.redirectUri, ...config.allowRedirectUris]);
  return {
    devProviders,
    broker,
    logs,
    logged(text) {
      const seen = logs.find((line) => line.includes(text));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => {
        const listener = (line: string): void => {
          if (!line.includes(text)) return;
          listeners.splice(listeners.indexOf(listener), 1);
          resolve(line);
        };
        listeners.push(listener);
      });
    },
    nextAuthorizeUrl: queue.next,
    api: (path, init) => fetch(`${broker.url}${path}`, init),
    async close() {
      await broker.close();
      await Promise.all(Object.values(devProviders).map((p) => p.close()));
    },
  };
}

/** A log destination that keeps every line, and tells listeners of each as it comes. */
export function logLines(): {
  logs: string[];
  listeners: Array<(line: string) => void>;
  sink: Writable;
} {
  const logs: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        logs.push(line);
        for (const listener of [...listeners]) listener(line);
      }
      done();
    },
  });
  return { logs, listeners, sink };
}

/** A whole sign-in through the stack's broker at the bundled provider: the token answer's OAuth token. */
export async function signIn(stack: Stack) {
  const json = async <T>(response: Response): Promise<T> => (await response.json()) as T;
  const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
  const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
  const { callbackResponse } = await scriptedLogin(await stack.nextAuthorizeUrl(), {
    accept: 'application/json',
  });
  assert.equal(callbackResponse.status, 200);
  const { code } = (await json<PKCE>(await waiting)).result!;
  const token = await stack.api(
    '/pkce/token',
    postJson({ grant_type: 'authorization_code', code, code_verifier: challenge.verifier }),
  );
  assert.equal(token.status, 200);
  return (await json<PKCE>(token)).auth0!.oAuth.token!;
}

export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}
