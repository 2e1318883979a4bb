/**
 * GET /metrics (--metrics): off by default, behind the API's gates, and after
 * a real sign-in against the bundled provider its counters have moved while
 * no label or value holds the flow's state, code, verifier or tokens.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { scriptedLogin } from '../src/devprovider/login.js';
import type { PKCE } from '../src/protocol/models.js';
import { postJson, startProvidersStack, type ProvidersStack } from './support/stack.js';

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
