/**
 * GET /metrics (--metrics): off by default, behind the API's gates, and after
 * a real sign-in against the bundled provider its counters have moved while
 * no label or value holds the flow's state, code, verifier or tokens. Every
 * flow counted started is counted ended once: expired after its wait timed
 * out, cleared, cancelled by its waiter's hang-up or POST /device/cancel.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { scriptedLogin } from '../src/devprovider/login.js';
import type { PKCE } from '../src/protocol/models.js';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import { WatchedDeviceStore } from './support/device.js';
import { ManualClock } from './support/manual-clock.js';
import { postJson, startProvidersStack, urlQueue, type ProvidersStack } from './support/stack.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The Prometheus text format's sample lines (`name{a="b",…} value`), enough
 * for prom-client's output: its label values escape only \\, \" and \n.
 */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels` (0 when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `several samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

const APP_ID = 'metrics-test-app';

/** A request with a Host of our choosing (fetch does not let a caller set Host). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /metrics', () => {
  let stack: ProvidersStack;
  const headers = { 'x-application-id': APP_ID };
  const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
    const response = await stack.api('/metrics', { headers });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    return { text, samples: parseMetrics(text) };
  };

  before(async () => {
    stack = await startProvidersStack({
      entries: [{ id: 'acme' }],
      argv: ['--metrics', '--app-id', APP_ID],
    });
  });
  after(() => stack?.close());

  it('counts a sign-in, its provider calls and a gate refusal, and holds none of its secrets', async () => {
    const before = (await scrape()).samples;
    // Discovery ran at start, through the provider's observer.
    assert.equal(
      valueOf(before, 'pkce_broker_provider_request_seconds_count', {
        provider: 'acme',
        endpoint: 'discovery',
        outcome: 'ok',
      }),
      1,
    );

    const challenge = ((await (await stack.api('/pkce/challenge', { headers })).json()) as PKCE)
      .challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }, headers));
    const url = await stack.nextAuthorizeUrl();
    // The /pkce/code is waiting now: the gauge reads it at scrape time.
    const during = (await scrape()).samples;
    assert.equal(valueOf(during, 'pkce_broker_waiting_requests', { endpoint: '/pkce/code' }), 1);
    const login = await scriptedLogin(url, { accept: 'application/json' });
    assert.equal(login.callbackResponse.status, 200);
    const { code } = ((await (await waiting).json()) as PKCE).result!;
    const token = await stack.api(
      '/pkce/token',
      postJson(
        { grant_type: 'authorization_code', code, code_verifier: challenge.verifier },
        headers,
      ),
    );
    assert.equal(token.status, 200);
    const answer = (await token.json()) as PKCE;
    const tokens = answer.auth0!.oAuth!.token!;

    // A request with another Host is refused by the gate, and counted under its route.
    assert.equal(await getWithHost(`${stack.broker.url}/pkce/challenge`, 'evil.example:80'), 421);

    const { text, samples } = await scrape();
    const flow = { provider: 'acme', kind: 'pkce' };
    assert.equal(
      valueOf(samples, 'pkce_broker_flows_started_total', flow) -
        valueOf(before, 'pkce_broker_flows_started_total', flow),
      1,
    );
    assert.equal(
      valueOf(samples, 'pkce_broker_flows_ended_total', { ...flow, outcome: 'completed' }),
      1,
    );
    const tokenCall = { provider: 'acme', endpoint: 'token', outcome: 'ok' };
    assert.equal(valueOf(samples, 'pkce_broker_provider_request_seconds_count', tokenCall), 1);
    assert.ok(valueOf(samples, 'pkce_broker_provider_request_seconds_sum', tokenCall) > 0);
    assert.equal(
      valueOf(samples, 'pkce_broker_provider_request_seconds_count', {
        provider: 'acme',
        endpoint: 'jwks',
        outcome: 'ok',
      }),
      1,
    );
    assert.equal(
      valueOf(samples, 'pkce_broker_errors_total', {
        route: '/pkce/challenge',
        code: 'misdirected_request',
      }),
      1,
    );
    assert.equal(valueOf(samples, 'pkce_broker_waiting_requests', { endpoint: '/pkce/code' }), 0);

    const secrets = {
      state: challenge.state,
      nonce: challenge.nonce,
      verifier: challenge.verifier,
      challenge: challenge.challenge,
      code,
      access_token: tokens.access_token,
      id_token: tokens.id_token,
      refresh_token: tokens.refresh_token,
    };
    for (const [name, secret] of Object.entries(secrets)) {
      if (typeof secret !== 'string' || secret === '') continue;
      assert.ok(!text.includes(secret), `the metrics hold the ${name}`);
    }
  });

  it('is refused without the app id, like the API', async () => {
    const response = await stack.api('/metrics');
    assert.equal(response.status, 401);
    const wrong = await stack.api('/metrics', { headers: { 'x-application-id': 'not-it' } });
    assert.equal(wrong.status, 401);
    // Counted under the route template, not the URL.
    await stack.api('/metrics?state=abc', { headers: { 'x-application-id': 'not-it' } });
    const { text, samples } = await scrape();
    assert.equal(
      valueOf(samples, 'pkce_broker_errors_total', { route: '/metrics', code: 'unauthorized_app' }),
      3,
    );
    assert.ok(!text.includes('state=abc'));
  });
});

describe('GET /metrics without --metrics', () => {
  let stack: ProvidersStack;
  before(async () => {
    stack = await startProvidersStack({ entries: [{ id: 'acme' }] });
  });
  after(() => stack?.close());

  it('is not served (404)', async () => {
    assert.equal(stack.broker.app.hasRoute({ method: 'GET', url: '/metrics' }), false);
    const response = await stack.api('/metrics');
    assert.equal(response.status, 404);
  });
});

describe('dev --metrics', () => {
  it("times the requests to its bundled providers, discovery first, under each provider's id", async () => {
    const { startDevEnvironment } = await import('../src/cli/dev.js');
    const env = await startDevEnvironment(
      loadConfig({ argv: ['--port', '0', '--metrics'], env: {}, readFile: () => undefined }),
      { logger: createLogger({ level: 'silent' }) },
    );
    try {
      const response = await fetch(`${env.broker.url}/metrics`);
      assert.equal(response.status, 200);
      const discoveries = parseMetrics(await response.text()).filter(
        (s) =>
          s.name === 'pkce_broker_provider_request_seconds_count' &&
          s.labels.endpoint === 'discovery' &&
          s.labels.outcome === 'ok',
      );
      assert.deepEqual(discoveries.map((s) => [s.labels.provider, s.value]).sort(), [
        ['auth0', 1],
        ['descope', 1],
      ]);
    } finally {
      await env.close();
    }
  });
});

describe('pkce_broker_flows_ended_total: every flow counted started is counted ended once', () => {
  let devProvider: DevProvider;
  let broker: RunningBroker;
  const urls = urlQueue();
  /** The metrics' expiry count and the device poller run on clocks the test moves. */
  const flowClock = new ManualClock();
  const deviceClock = new ManualClock();
  const deviceStore = new WatchedDeviceStore();

  before(async () => {
    devProvider = await startDevProvider({ deviceInterval: 2 });
    broker = await startBroker({
      config: {
        ...loadConfig({
          argv: ['--port', '0', '--par', 'never'],
          env: {},
          readFile: () => undefined,
        }).config,
        issuer: devProvider.issuer,
        clientId: devProvider.clientId,
        metrics: true,
        // The broker's own wait timeout, so that a flow outlives its wait within the test.
        waitTimeoutSec: 1,
      },
      logger: createLogger({ level: 'silent' }),
      openAuthorizeUrl: (url) => urls.push(url),
      flowScheduler: flowClock,
      deviceScheduler: deviceClock,
      deviceStore,
    });
    devProvider.setRedirectUris([broker.redirectUri]);
  });
  after(async () => {
    await broker.close();
    await deviceStore.close();
    await devProvider.close();
  });

  const scrape = async (): Promise<Sample[]> =>
    parseMetrics(await (await fetch(`${broker.url}/metrics`)).text());
  const provider = (): string => broker.providers.defaultId;
  /** Started, and ended by outcome, for one kind. */
  const tally = async (kind: 'pkce' | 'device') => {
    const samples = await scrape();
    const labels = { provider: provider(), kind };
    const ended: Record<string, number> = {};
    for (const s of samples)
      if (
        s.name === 'pkce_broker_flows_ended_total' &&
        s.labels['provider'] === labels.provider &&
        s.labels['kind'] === kind
      )
        ended[s.labels['outcome']!] = s.value;
    return {
      started: valueOf(samples, 'pkce_broker_flows_started_total', labels),
      ended,
      endedSum: Object.values(ended).reduce((a, b) => a + b, 0),
    };
  };
  const balanced = async (kind: 'pkce' | 'device', outcome: string, count: number) => {
    const { started, ended, endedSum } = await tally(kind);
    assert.equal(ended[outcome], count, JSON.stringify(ended));
    assert.equal(endedSum, started, `${kind}: started ${started}, ended ${JSON.stringify(ended)}`);
  };

  /** A browser flow started (its /pkce/code sent, its URL opened); the request's answer to come. */
  const startPkce = async (signal?: AbortSignal) => {
    const challenge = ((await (await fetch(`${broker.url}/pkce/challenge`)).json()) as PKCE)
      .challenge!;
    const answer = fetch(`${broker.url}/pkce/code`, {
      ...postJson({ state: challenge.state }),
      ...(signal && { signal }),
    });
    const url = await urls.next();
    return { challenge, answer, url };
  };

  it('a flow whose wait timed out and that nobody resumed ends `expired`', async () => {
    const { answer } = await startPkce();
    assert.equal((await answer).status, 504);
    assert.equal(flowClock.pending, 1, 'the expiry count is armed');
    await flowClock.run();
    await balanced('pkce', 'expired', 1);
  });

  it('a flow whose code was never exchanged ends `expired`, and its code is spent', async () => {
    const { answer, url, challenge } = await startPkce();
    const login = await scriptedLogin(url, { accept: 'application/json' });
    assert.equal(login.callbackResponse.status, 200);
    const { code } = ((await (await answer).json()) as PKCE).result!;
    assert.equal(flowClock.pending, 1, 'the expiry count is armed');
    await flowClock.run();
    await balanced('pkce', 'expired', 2);
    const late = await fetch(
      `${broker.url}/pkce/token`,
      postJson({ grant_type: 'authorization_code', code, code_verifier: challenge.verifier }),
    );
    assert.equal(late.status, 400);
    await balanced('pkce', 'expired', 2);
  });

  it('POST /pkce/clear: a waiting flow and one whose wait timed out both end `cleared`', async () => {
    const timedOut = await startPkce();
    assert.equal((await timedOut.answer).status, 504);
    const waiting = await startPkce();
    assert.equal((await fetch(`${broker.url}/pkce/clear`, postJson({}))).status, 204);
    assert.equal((await waiting.answer).status, 409);
    await balanced('pkce', 'cleared', 2);
    // Nothing is left to expire: the expiry count finds no flow.
    assert.equal(flowClock.pending, 0);
  });

  it('a device flow whose waiter hung up ends `cancelled`', async () => {
    const device = await startDeviceFlow(broker);
    const dropped = new AbortController();
    const claimed = deviceStore.claimed(device.handle);
    const waiting = fetch(`${broker.url}/device/token`, {
      ...postJson({ handle: device.handle }),
      signal: dropped.signal,
    }).catch(() => undefined);
    await claimed;
    const ended = deviceStore.waitForOutcome(device.handle, new AbortController().signal);
    dropped.abort();
    await waiting;
    const lookup = await ended;
    assert.deepEqual(lookup.kind === 'live' && lookup.outcome, { kind: 'cancelled' });
    await balanced('device', 'cancelled', 1);
  });

  it('a device flow ended by POST /device/cancel ends `cancelled`', async () => {
    const device = await startDeviceFlow(broker);
    const cancelled = await fetch(
      `${broker.url}/device/cancel`,
      postJson({ handle: device.handle }),
    );
    assert.equal(cancelled.status, 204);
    await balanced('device', 'cancelled', 2);
    // Once: a second cancel counts nothing.
    await fetch(`${broker.url}/device/cancel`, postJson({ handle: device.handle }));
    await balanced('device', 'cancelled', 2);
  });

  it('a device flow ended by POST /pkce/clear ends `cleared`', async () => {
    await startDeviceFlow(broker);
    assert.equal((await fetch(`${broker.url}/pkce/clear`, postJson({}))).status, 204);
    await balanced('device', 'cleared', 1);
  });
});

async function startDeviceFlow(broker: RunningBroker): Promise<{ handle: string }> {
  const response = await fetch(`${broker.url}/device/code`, postJson({}));
  assert.equal(response.status, 200);
  return ((await response.json()) as { device: { handle: string } }).device;
}
