/**
 * One test per defence of the security model (issue 4, items 1–9), each
 * against a whole broker wired to the bundled provider. Every refusal is
 * checked for its exact status and stable code, for having touched no flow,
 * and for carrying none of the live secrets of a pending flow.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { createBrowserOpener } from '../src/browser/open.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { BrokerError } from '../src/errors.js';
import { BODY_LIMIT } from '../src/http/app.js';
import { DEFAULT_SERVER_LIMITS } from '../src/http/limits.js';
import { createLogger } from '../src/logging.js';
import type { ChallengedPKCE, PKCE } from '../src/protocol/models.js';
import { discoverProvider } from '../src/provider/oidc.js';
import { postJson, startStack, type Stack } from './support/stack.js';

/** One request to each endpoint behind the gates (all but the callback and /healthz). */
function guardedRequests(grantType: string) {
  return [
    ['GET', '/pkce/challenge', undefined],
    ['POST', '/pkce/code', '{}'],
    ['POST', '/pkce/token', JSON.stringify({ grant_type: grantType, code: 'x' })],
    ['POST', '/pkce/clear', undefined],
  ] as const;
}

const PROBLEM_KEYS = new Set([
  'type',
  'title',
  'status',
  'detail',
  'code',
  'error',
  'error_description',
]);

/** A pending flow whose values must never come back in a refusal. */
interface Live {
  challenge: ChallengedPKCE;
  values: string[];
}

async function livePending(stack: Stack, headers: Record<string, string> = {}): Promise<Live> {
  const response = await stack.api('/pkce/challenge', { headers });
  assert.equal(response.status, 200);
  const challenge = ((await response.json()) as PKCE).challenge!;
  return {
    challenge,
    values: [challenge.verifier, challenge.state, challenge.nonce, challenge.challenge],
  };
}

function hostOf(stack: Stack): string {
  return `127.0.0.1:${stack.broker.port}`;
}

/** app.inject with the broker's own Host unless the test names another. */
function inject(stack: Stack, options: InjectOptions): Promise<LightMyRequestResponse> {
  return stack.broker.app.inject({
    ...options,
    headers: { host: hostOf(stack), ...options.headers },
  });
}

/** The exact refusal: status, problem+json, stable code, only problem members, no live secret. */
function assertRefusal(
  response: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  code: string,
  secrets: readonly string[] = [],
): Record<string, unknown> {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal(response.headers['cache-control'], 'no-store');
  const problem = JSON.parse(response.body) as Record<string, unknown>;
  assert.equal(problem.status, status);
  assert.equal(problem.code, code);
  for (const key of Object.keys(problem))
    assert.ok(PROBLEM_KEYS.has(key), `unexpected member ${key}`);
  for (const secret of secrets)
    assert.ok(!response.body.includes(secret), 'a live secret is in the refusal');
  return problem;
}

/** assertRefusal for an answer read off a raw socket. */
function assertRawRefusal(
  answer: { status: number; head: string; body: string },
  status: number,
  code: string,
  secrets: readonly string[] = [],
): void {
  const headers: Record<string, string> = {};
  for (const line of answer.head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  assertRefusal({ statusCode: answer.status, headers, body: answer.body }, status, code, secrets);
}

async function refusal(
  response: Response,
  status: number,
  code: string,
  secrets: readonly string[] = [],
) {
  const headers: Record<string, unknown> = {};
  response.headers.forEach((value, key) => (headers[key] = value));
  return assertRefusal(
    { statusCode: response.status, headers, body: await response.text() },
    status,
    code,
    secrets,
  );
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * One request over a raw socket, the request line as given: inject() and fetch
 * both rewrite an absolute-form target before it reaches the server.
 */
function rawRequest(
  port: number,
  requestLine: string,
  headers: Record<string, string>,
): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
      const split = received.indexOf('\r\n\r\n');
      resolve({ status, head: received.slice(0, split), body: received.slice(split + 4) });
    });
    const lines = Object.entries({ ...headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}`);
    socket.end(`${requestLine}\r\n${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('security gates (default configuration)', () => {
  let stack: Stack;
  let live: Live;
  before(async () => {
    stack = await startStack({ logLevel: 'warn' });
    live = await livePending(stack);
  });
  after(async () => {
    await stack.close();
  });

  it('1. refuses any Host but its own loopback names and port (DNS rebinding), before any handler', async () => {
    const port = stack.broker.port;
    const flowsBefore = await stack.broker.store.size();
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1:${port + 1}`,
      `localhost.:${port}`,
      `127.0.0.2:${port}`,
      `[::2]:${port}`,
      `127.0.0.1`,
    ]) {
      for (const [method, url] of [
        ['GET', '/pkce/challenge'],
        ['POST', '/pkce/code'],
        ['POST', '/pkce/clear'],
        ['GET', '/healthz'],
      ] as const) {
        const response = await inject(stack, {
          method,
          url,
          headers: { host, 'content-type': 'application/json' },
          payload: method === 'POST' ? '{}' : undefined,
        });
        assertRefusal(response, 421, 'misdirected_request', live.values);
      }
    }
    assert.equal(await stack.broker.store.size(), flowsBefore, 'a refused request created a flow');
    // The flow is still there: POST /pkce/clear with a foreign Host did not run.
    assert.ok(await stack.broker.store.get(live.challenge.state));
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
    ]) {
      const response = await inject(stack, { method: 'GET', url: '/healthz', headers: { host } });
      assert.equal(response.statusCode, 200, host);
    }
  });

  it('2a. refuses a foreign Origin on every API endpoint, sends no CORS headers, and touches no flow', async () => {
    const flowsBefore = await stack.broker.store.size();
    for (const origin of [
      'https://evil.example',
      'null',
      `http://localhost:${stack.broker.port + 1}`,
      stack.devProvider.issuer,
    ]) {
      for (const [method, url, payload] of guardedRequests('authorization_code')) {
        const response = await inject(stack, {
          method,
          url,
          payload,
          headers: { origin, ...(payload && { 'content-type': 'application/json' }) },
        });
        assertRefusal(response, 403, 'forbidden_origin', live.values);
        assert.equal(response.headers['access-control-allow-origin'], undefined);
      }
    }
    assert.equal(await stack.broker.store.size(), flowsBefore);
    // Its own origin is not cross-origin.
    const own = await inject(stack, {
      method: 'GET',
      url: '/healthz',
      headers: { origin: `http://${hostOf(stack)}` },
    });
    assert.equal(own.statusCode, 200);
    assert.equal(own.headers['access-control-allow-origin'], undefined);
    // A CORS preflight from a foreign page gets no grant.
    const preflight = await inject(stack, {
      method: 'OPTIONS',
      url: '/pkce/challenge',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    assertRefusal(preflight, 403, 'forbidden_origin');
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  });

  it('2b. lets only the provider (and Origin: null) post to the callback cross-origin', async () => {
    const form = new URLSearchParams({
      code: 'forged',
      state: live.challenge.state,
      iss: stack.devProvider.issuer,
    }).toString();
    const foreign = await inject(stack, {
      method: 'POST',
      url: '/pkce/response/code',
      payload: form,
      headers: { origin: 'https://evil.example', 'content-type': FORM },
    });
    assertRefusal(foreign, 403, 'forbidden_origin', live.values);
    const stored = await stack.broker.store.get(live.challenge.state);
    assert.ok(stored && stored.outcome === undefined, 'the refused callback touched the flow');

    // From the provider's origin and from `null` the gate lets the callback through to its own checks (unknown state: 400).
    for (const origin of [new URL(stack.devProvider.issuer).origin, 'null']) {
      const response = await inject(stack, {
        method: 'POST',
        url: '/pkce/response/code',
        payload: new URLSearchParams({
          code: 'c',
          state: 'not-a-pending-state',
          iss: stack.devProvider.issuer,
        }).toString(),
        headers: { origin, 'content-type': FORM },
      });
      assertRefusal(response, 400, 'invalid_callback', live.values);
    }
  });

  it('1c. checks an absolute-form request target like Host (RFC 9112 §3.2.2), and routes only its path', async () => {
    const port = stack.broker.port;
    const own = hostOf(stack);
    const flowsBefore = await stack.broker.store.size();
    for (const [target, host] of [
      ['http://evil.example/pkce/challenge', own],
      [`http://evil.example:${port}/pkce/challenge`, own],
      [`http://localhost:${port}/pkce/challenge`, own],
      [`https://${own}/pkce/challenge`, own],
      [`http://user@${own}/pkce/challenge`, own],
      [`http://127.1:${port}/pkce/challenge`, own],
      ['http://evil.example/nowhere', own],
      [`http://evil.example/pkce/response/code?code=c&state=s`, own],
      [`ftp://${own}/pkce/challenge`, own],
      // Host is refused on its own, the target would pass: still refused.
      [`http://${own}/pkce/challenge`, 'evil.example'],
    ] as const) {
      const answer = await rawRequest(port, `GET ${target} HTTP/1.1`, { host });
      assert.equal(answer.status, 421, `${target} (Host ${host}): ${answer.body}`);
      assertRawRefusal(answer, 421, 'misdirected_request', live.values);
    }
    // One the router cannot parse is refused before routing, as a problem too (no echo of the target).
    const malformed = await rawRequest(
      port,
      `GET http://${own}.evil.example/pkce/challenge HTTP/1.1`,
      {
        host: own,
      },
    );
    assertRawRefusal(malformed, 400, 'invalid_request');
    assert.ok(!malformed.body.includes('evil.example'));
    const options = await rawRequest(port, 'OPTIONS * HTTP/1.1', { host: own });
    assert.equal(options.status, 421);
    assert.equal(await stack.broker.store.size(), flowsBefore, 'a refused target created a flow');

    // The broker's own authority in absolute-form is served, and routed by its path.
    const health = await rawRequest(port, `GET http://${own}/healthz HTTP/1.1`, { host: own });
    assert.equal(health.status, 200, health.body);
    assert.equal((JSON.parse(health.body) as { status: string }).status, 'ok');
    const upper = await rawRequest(
      port,
      `GET HTTP://${own.toUpperCase()}/pkce/challenge HTTP/1.1`,
      {
        host: own,
      },
    );
    assert.equal(upper.status, 200, upper.body);
    assert.ok((JSON.parse(upper.body) as PKCE).challenge?.state);
    assert.equal(await stack.broker.store.size(), flowsBefore + 1);
  });

  it('2e. refuses requests from other web sites by Fetch Metadata (no Origin needed), before any handler', async () => {
    const flowsBefore = await stack.broker.store.size();
    for (const site of ['cross-site', 'same-site', 'cross-site, same-origin', 'bogus']) {
      for (const [method, url, payload] of [
        ...guardedRequests('authorization_code'),
        ['GET', '/healthz', undefined],
        ['GET', '/openapi.json', undefined],
      ] as const) {
        const response = await inject(stack, {
          method,
          url,
          payload,
          headers: {
            'sec-fetch-site': site,
            'sec-fetch-mode': 'no-cors',
            ...(payload && { 'content-type': 'application/json' }),
          },
        });
        const problem = assertRefusal(response, 403, 'forbidden_origin', live.values);
        assert.match(String(problem.detail), /other web sites/);
      }
    }
    assert.equal(await stack.broker.store.size(), flowsBefore, 'a page created a flow');
    assert.ok(await stack.broker.store.get(live.challenge.state), 'a page cleared the flows');

    // The broker's own pages (same-origin), a URL a person typed (none), and non-browser apps (none sent) pass.
    for (const headers of [
      { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' },
      { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' },
      { 'sec-fetch-mode': 'cors' },
      {},
    ] as Array<Record<string, string>>) {
      const response = await inject(stack, { method: 'GET', url: '/pkce/challenge', headers });
      assert.equal(response.statusCode, 200, JSON.stringify(headers));
    }
    assert.equal(await stack.broker.store.size(), flowsBefore + 4);
  });

  it("2f. lets the provider's callback through Fetch Metadata: form_post and query redirects are cross-site", async () => {
    for (const site of ['cross-site', 'same-site']) {
      const post = await inject(stack, {
        method: 'POST',
        url: '/pkce/response/code',
        payload: new URLSearchParams({
          code: 'c',
          state: 'not-a-pending-state',
          iss: stack.devProvider.issuer,
        }).toString(),
        headers: {
          origin: 'null',
          'sec-fetch-site': site,
          'sec-fetch-mode': 'navigate',
          'content-type': FORM,
        },
      });
      assertRefusal(post, 400, 'invalid_callback', live.values);
      const get = await inject(stack, {
        method: 'GET',
        url: `/pkce/response/code?code=c&state=not-a-pending-state`,
        headers: { 'sec-fetch-site': site, 'sec-fetch-mode': 'navigate' },
      });
      assertRefusal(get, 400, 'invalid_callback', live.values);
    }
    // The exemption is the callback's Fetch Metadata only: a foreign Origin is still refused there.
    const foreign = await inject(stack, {
      method: 'POST',
      url: '/pkce/response/code',
      payload: 'code=c&state=s',
      headers: {
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
        'content-type': FORM,
      },
    });
    assertRefusal(foreign, 403, 'forbidden_origin', live.values);
  });

  it('2c. enforces content types per endpoint: JSON endpoints refuse text/plain, forms, multipart and untyped bodies', async () => {
    assert.equal(
      stack.broker.app.hasContentTypeParser('text/plain'),
      false,
      "fastify's text/plain parser is still there",
    );
    const flowsBefore = await stack.broker.store.size();
    const bodies: Array<[string | undefined, string]> = [
      ['text/plain', JSON.stringify({ grant_type: 'refresh_token', code: 'x' })],
      ['text/plain;charset=utf-8', '{}'],
      [FORM, 'grant_type=refresh_token&code=x'],
      [
        'multipart/form-data; boundary=XyZ',
        '--XyZ\r\nContent-Disposition: form-data; name="code"\r\n\r\nx\r\n--XyZ--\r\n',
      ],
      ['application/x-json', '{}'],
      [undefined, '{}'],
    ];
    for (const url of ['/pkce/code', '/pkce/token', '/pkce/clear']) {
      for (const [type, payload] of bodies) {
        const response = await inject(stack, {
          method: 'POST',
          url,
          payload,
          headers: type === undefined ? {} : { 'content-type': type },
        });
        assertRefusal(response, 415, 'unsupported_media_type', live.values);
      }
    }
    // The callback takes a form (what form_post sends) and nothing else.
    const json = await inject(stack, {
      method: 'POST',
      url: '/pkce/response/code',
      payload: JSON.stringify({ code: 'c', state: live.challenge.state }),
      headers: { 'content-type': 'application/json' },
    });
    assertRefusal(json, 415, 'unsupported_media_type', live.values);
    assert.equal(await stack.broker.store.size(), flowsBefore);
    assert.equal((await stack.broker.store.get(live.challenge.state))?.outcome, undefined);
  });

  it('4a. refuses bodies over 64 KiB with 413', async () => {
    const big = JSON.stringify({ grant_type: 'refresh_token', code: 'x'.repeat(BODY_LIMIT) });
    const json = await inject(stack, {
      method: 'POST',
      url: '/pkce/token',
      payload: big,
      headers: { 'content-type': 'application/json' },
    });
    assertRefusal(json, 413, 'payload_too_large', live.values);
    const form = await inject(stack, {
      method: 'POST',
      url: '/pkce/response/code',
      payload: `state=${live.challenge.state}&code=${'x'.repeat(BODY_LIMIT)}`,
      headers: { 'content-type': FORM },
    });
    assertRefusal(form, 413, 'payload_too_large', live.values);
    assert.equal((await stack.broker.store.get(live.challenge.state))?.outcome, undefined);
    // Just under the limit is parsed (and judged on its content).
    const under = await inject(stack, {
      method: 'POST',
      url: '/pkce/token',
      payload: JSON.stringify({ grant_type: 'x', code: 'y'.repeat(BODY_LIMIT - 100) }),
      headers: { 'content-type': 'application/json' },
    });
    assertRefusal(under, 400, 'invalid_request');
  });

  it('4e. refuses JSON with prototype-poisoning keys (400) while parsing, before any handler', async () => {
    // /pkce/clear takes any JSON and has no schema: only the parser stands between these bodies and a clear.
    const poisoned = [
      '{"__proto__":{"polluted":true}}',
      '{"\\u005f_proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"a":[{"b":{"__proto__":{"polluted":true}}}]}',
    ];
    for (const url of ['/pkce/clear', '/pkce/token']) {
      for (const payload of poisoned) {
        const response = await inject(stack, {
          method: 'POST',
          url,
          payload:
            url === '/pkce/token'
              ? payload.replace('{', '{"grant_type":"refresh_token","code":"x",')
              : payload,
          headers: { 'content-type': 'application/json' },
        });
        assertRefusal(response, 400, 'invalid_request', live.values);
      }
    }
    assert.ok(await stack.broker.store.get(live.challenge.state), 'the pending flow was cleared');
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  });

  it('4b. applies header and request timeouts by default, checked every second', () => {
    const server = stack.broker.app.server;
    assert.equal(server.headersTimeout, DEFAULT_SERVER_LIMITS.headersTimeoutMs);
    assert.equal(server.requestTimeout, DEFAULT_SERVER_LIMITS.requestTimeoutMs);
    assert.equal(server.keepAliveTimeout, DEFAULT_SERVER_LIMITS.keepAliveTimeoutMs);
    // Socket inactivity must not cut a POST /pkce/code waiting for the browser.
    assert.equal(server.timeout, 0);
  });

  it('5. refuses seeds outside the policy (domain, method, redirect_uri, response_type) before opening anything', async () => {
    const flowsBefore = await stack.broker.store.size();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ domain: 'evil.example' }, /domain/],
      [{ domain: `http://${new URL(stack.devProvider.issuer).hostname}:1/` }, /domain/],
      [{ domain: `${new URL(stack.devProvider.issuer).host}@evil.example` }, /domain/],
      [{ code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) }, /S256/],
      [{ code_challenge_method: 's256', code_challenge: 'x'.repeat(43) }, /S256/],
      [{ redirect_uri: 'http://evil.example/pkce/response/code' }, /redirect_uri/],
      [{ redirect_uri: `${stack.broker.redirectUri}/` }, /redirect_uri/],
      [
        { redirect_uri: stack.broker.redirectUri.replace('127.0.0.1', 'localhost') },
        /redirect_uri/,
      ],
      [{ response_type: 'token' }, /response_type/],
      [{ response_type: 'code id_token' }, /response_type/],
    ];
    for (const [seed, detail] of cases) {
      const response = await inject(stack, {
        method: 'POST',
        url: '/pkce/code',
        payload: JSON.stringify({ state: live.challenge.state, ...seed }),
        headers: { 'content-type': 'application/json' },
      });
      const problem = assertRefusal(response, 400, 'invalid_request', live.values);
      assert.match(String(problem.detail), detail, JSON.stringify(seed));
    }
    assert.equal(await stack.broker.store.size(), flowsBefore);
    const flow = await stack.broker.store.get(live.challenge.state);
    assert.equal(flow?.request, undefined, 'a refused seed reached the flow');
  });

  it('9. refuses a forged error= or code= for a state that is not pending, and the real flow still completes', async () => {
    const own = await livePending(stack);
    const waiting = stack.api('/pkce/code', postJson({ state: own.challenge.state }));
    const authorizeUrl = await stack.nextAuthorizeUrl();
    const forgeries: Array<Record<string, string>> = [
      { error: 'access_denied', state: 'a-state-nobody-issued' },
      { error: 'access_denied', error_description: 'forged', state: live.challenge.state.slice(1) },
      { code: 'attacker-code', state: 'a-state-nobody-issued', iss: stack.devProvider.issuer },
      { code: 'attacker-code', state: `${own.challenge.state}x`, iss: stack.devProvider.issuer },
      { error: 'access_denied' },
    ];
    for (const forged of forgeries) {
      const post = await inject(stack, {
        method: 'POST',
        url: '/pkce/response/code',
        payload: new URLSearchParams(forged).toString(),
        headers: { 'content-type': FORM, origin: 'null' },
      });
      assertRefusal(post, 400, 'invalid_callback', [...own.values, ...live.values]);
      const get = await inject(stack, {
        method: 'GET',
        url: `/pkce/response/code?${new URLSearchParams(forged).toString()}`,
      });
      assertRefusal(get, 400, 'invalid_callback', [...own.values, ...live.values]);
    }
    const pending = await stack.broker.store.get(own.challenge.state);
    assert.ok(
      pending && pending.outcome === undefined,
      'a forged callback disturbed the pending flow',
    );

    const { callbackResponse } = await scriptedLogin(authorizeUrl, { accept: 'application/json' });
    assert.equal(callbackResponse.status, 200);
    const codeResponse = await waiting;
    assert.equal(codeResponse.status, 200);
    assert.equal(codeResponse.headers.get('cache-control'), 'no-store');
    const code = ((await codeResponse.json()) as PKCE).result!.code;

    // Token answers (and every other answer holding a secret) are not cacheable.
    const exchange = {
      grant_type: 'authorization_code',
      code,
      code_verifier: own.challenge.verifier,
    };
    const token = await stack.api('/pkce/token', postJson(exchange));
    assert.equal(token.status, 200);
    assert.equal(token.headers.get('cache-control'), 'no-store');
    const refreshToken = ((await token.json()) as PKCE).auth0!.oAuth.token!.refresh_token!;
    const refreshed = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'refresh_token', code: refreshToken }),
    );
    assert.equal(refreshed.status, 200);
    assert.equal(refreshed.headers.get('cache-control'), 'no-store');
    const challenge = await stack.api('/pkce/challenge');
    assert.equal(challenge.headers.get('cache-control'), 'no-store');
    // A replayed code is refused without a secret in the answer.
    const replay = await stack.api('/pkce/token', postJson(exchange));
    await refusal(replay, 400, 'invalid_grant', [code, own.challenge.verifier]);
  });
});

describe('security gates (configured)', () => {
  let stack: Stack;
  const APP_IDS = ['app-one-0123456789', 'app-two-abcdefghij'];
  before(async () => {
    stack = await startStack({
      logLevel: 'warn',
      argv: [
        ...APP_IDS.flatMap((id) => ['--app-id', id]),
        '--allow-origin',
        'https://app.example',
        '--allow-host',
        'broker.test',
        '--allow-redirect-uri',
        'http://127.0.0.1:9/other/callback',
        '--max-pending-flows',
        '3',
        '--max-waiters',
        '1',
      ],
    });
  });
  after(async () => {
    await stack.close();
  });
  const withId = { 'x-application-id': APP_IDS[1]! };

  it('1b. serves the --allow-host names on its port, and only those', async () => {
    const port = stack.broker.port;
    assert.equal(
      (
        await inject(stack, {
          method: 'GET',
          url: '/healthz',
          headers: { host: `broker.test:${port}` },
        })
      ).statusCode,
      200,
    );
    assertRefusal(
      await inject(stack, {
        method: 'GET',
        url: '/healthz',
        headers: { host: `broker.test:${port + 1}` },
      }),
      421,
      'misdirected_request',
    );
    assertRefusal(
      await inject(stack, {
        method: 'GET',
        url: '/healthz',
        headers: { host: `sub.broker.test:${port}` },
      }),
      421,
      'misdirected_request',
    );
  });

  it('3. requires a listed X-Application-ID on every endpoint but the callback and /healthz', async () => {
    const live = await livePending(stack, withId);
    const flowsBefore = await stack.broker.store.size();
    const wrongIds = [
      undefined,
      '',
      'app-one',
      `${APP_IDS[0]}x`,
      APP_IDS[0]!.toUpperCase(),
      `${APP_IDS[0]}, ${APP_IDS[1]}`,
      ` ${APP_IDS[0]}`,
    ];
    for (const id of wrongIds) {
      for (const [method, url, payload] of guardedRequests('refresh_token')) {
        const response = await inject(stack, {
          method,
          url,
          payload,
          headers: {
            ...(id !== undefined && { 'x-application-id': id }),
            ...(payload && { 'content-type': 'application/json' }),
          },
        });
        const problem = assertRefusal(response, 401, 'unauthorized_app', [
          ...live.values,
          ...APP_IDS,
        ]);
        assert.ok(!JSON.stringify(problem).includes('app-'), 'the refusal hints at an app ID');
      }
    }
    assert.equal(await stack.broker.store.size(), flowsBefore);
    assert.ok(
      await stack.broker.store.get(live.challenge.state),
      'POST /pkce/clear ran without an app ID',
    );
    for (const id of APP_IDS) {
      assert.equal(
        (
          await inject(stack, {
            method: 'GET',
            url: '/pkce/challenge',
            headers: { 'x-application-id': id },
          })
        ).statusCode,
        200,
      );
    }
    assert.equal((await inject(stack, { method: 'GET', url: '/healthz' })).statusCode, 200);
    // The callback is the provider's, which has no app ID: it reaches its own checks.
    const callback = await inject(stack, {
      method: 'POST',
      url: '/pkce/response/code',
      payload: 'code=c&state=unknown-state',
      headers: { 'content-type': FORM },
    });
    assertRefusal(callback, 400, 'invalid_callback');
    await inject(stack, { method: 'POST', url: '/pkce/clear', headers: withId });
  });

  it('2d. grants CORS to --allow-origin origins only, preflight included', async () => {
    const allowed = 'https://app.example';
    const preflight = await inject(stack, {
      method: 'OPTIONS',
      url: '/pkce/code',
      headers: {
        origin: allowed,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-application-id',
      },
    });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], allowed);
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    assert.match(String(preflight.headers['access-control-allow-headers']), /x-application-id/i);
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);

    const actual = await inject(stack, {
      method: 'GET',
      url: '/pkce/challenge',
      headers: { origin: allowed, ...withId },
    });
    assert.equal(actual.statusCode, 200);
    assert.equal(actual.headers['access-control-allow-origin'], allowed);
    assert.match(String(actual.headers.vary), /Origin/i);
    // The app ID is still required from an allowed origin.
    const noId = await inject(stack, {
      method: 'GET',
      url: '/pkce/challenge',
      headers: { origin: allowed },
    });
    assertRefusal(noId, 401, 'unauthorized_app');

    for (const origin of [
      'https://app.example.evil',
      'http://app.example',
      'https://APP.example.',
      'null',
    ]) {
      const pre = await inject(stack, {
        method: 'OPTIONS',
        url: '/pkce/code',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      assertRefusal(pre, 403, 'forbidden_origin');
      assert.equal(pre.headers['access-control-allow-origin'], undefined);
    }
    await inject(stack, { method: 'POST', url: '/pkce/clear', headers: withId });
  });

  it('2g. lets an --allow-origin app through Fetch Metadata, and only with its Origin', async () => {
    const allowed = 'https://app.example';
    const flowsBefore = await stack.broker.store.size();
    const granted = await inject(stack, {
      method: 'GET',
      url: '/pkce/challenge',
      headers: {
        origin: allowed,
        'sec-fetch-site': 'cross-site',
        'sec-fetch-mode': 'cors',
        ...withId,
      },
    });
    assert.equal(granted.statusCode, 200, granted.body);
    assert.equal(granted.headers['access-control-allow-origin'], allowed);
    const preflight = await inject(stack, {
      method: 'OPTIONS',
      url: '/pkce/code',
      headers: {
        origin: allowed,
        'sec-fetch-site': 'cross-site',
        'sec-fetch-mode': 'cors',
        'access-control-request-method': 'POST',
      },
    });
    assert.equal(preflight.statusCode, 204);
    // The same page without its Origin (a no-cors request), or another page: refused.
    for (const headers of [
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', ...withId },
      { origin: 'https://app.example.evil', 'sec-fetch-site': 'cross-site', ...withId },
    ]) {
      const response = await inject(stack, { method: 'GET', url: '/pkce/challenge', headers });
      assertRefusal(response, 403, 'forbidden_origin');
    }
    assert.equal(await stack.broker.store.size(), flowsBefore + 1);
    await inject(stack, { method: 'POST', url: '/pkce/clear', headers: withId });
  });

  it('4c. caps pending flows (429 too_many_flows with Retry-After) and waiting /pkce/code requests (429 too_many_waiters)', async () => {
    await inject(stack, { method: 'POST', url: '/pkce/clear', headers: withId });
    const first = stack.api('/pkce/code', postJson({}, withId));
    await stack.nextAuthorizeUrl();
    const second = await stack.api('/pkce/code', postJson({}, withId));
    const waiterProblem = await refusal(second, 429, 'too_many_waiters');
    assert.ok(Number(second.headers.get('retry-after')) >= 1);
    assert.ok(!JSON.stringify(waiterProblem).includes('state'));

    const values: string[] = [];
    for (let i = 0; i < 2; i++) values.push(...(await livePending(stack, withId)).values);
    const over = await stack.api('/pkce/challenge', { headers: withId });
    await refusal(over, 429, 'too_many_flows', values);
    const retryAfter = Number(over.headers.get('retry-after'));
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 600,
      `Retry-After ${retryAfter}`,
    );

    assert.equal((await stack.api('/pkce/clear', { method: 'POST', headers: withId })).status, 204);
    assert.equal((await first).status, 409);
    assert.equal((await stack.api('/pkce/challenge', { headers: withId })).status, 200);
  });

  it('5b. accepts an allow-listed redirect_uri', async () => {
    const waiting = stack.api(
      '/pkce/code',
      postJson({ redirect_uri: 'http://127.0.0.1:9/other/callback' }, withId),
    );
    const url = await stack.nextAuthorizeUrl();
    assert.equal(url.searchParams.get('redirect_uri'), 'http://127.0.0.1:9/other/callback');
    await stack.api('/pkce/clear', { method: 'POST', headers: withId });
    assert.equal((await waiting).status, 409);
  });
});

/** Writes bytes to a raw socket one at a time; `closed` resolves with what came back when the server closes it. */
function slowClient(
  port: number,
  bytes: string,
  everyMs: number,
): { closed: Promise<string>; finished: () => boolean } {
  const socket: Socket = connect(port, '127.0.0.1');
  let received = '';
  let index = 0;
  // The slowloris itself: its pace is what the server's timeouts are for, not a wait of the test's.
  const timer = setInterval(() => {
    if (index < bytes.length && socket.writable) socket.write(bytes[index++]!);
  }, everyMs);
  socket.on('data', (chunk) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => {
    socket.once('close', () => {
      clearInterval(timer);
      resolve(received);
    });
  });
  return { closed, finished: () => index >= bytes.length };
}

describe('4d. timeouts against slow clients', () => {
  it('cuts a slowloris (headers or body byte by byte) but not a /pkce/code waiting longer for the browser', async () => {
    const stack = await startStack({ logLevel: 'warn' });
    try {
      const server = stack.broker.app.server;
      const limitMs = 700;
      server.headersTimeout = limitMs;
      server.requestTimeout = limitMs;
      const host = hostOf(stack);

      const live = await livePending(stack);
      const startedWait = Date.now();
      const waiting = stack.api('/pkce/code', postJson({ state: live.challenge.state }));
      const authorizeUrl = await stack.nextAuthorizeUrl();

      const headers = slowClient(
        stack.broker.port,
        `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`,
        50,
      );
      const body = slowClient(
        stack.broker.port,
        `POST /pkce/token HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n${'{'.padEnd(300, ' ')}`,
        20,
      );
      const idle = slowClient(stack.broker.port, '', 50);
      // The slow clients are the clock: at their pace the headers take 13 s and the body 8 s, far
      // past the broker's limit, and inside Node's own 30 s check interval, which would let them
      // finish and be served. Each must be cut while the headers are still coming.
      const [headersAnswer, bodyAnswer, idleCutEarly] = await Promise.all([
        headers.closed,
        body.closed,
        idle.closed.then(() => !headers.finished()),
      ]);
      assert.ok(!headers.finished(), 'the headers were sent whole before the server cut them');
      assert.ok(!body.finished(), 'the body was sent whole before the server cut it');
      assert.ok(idleCutEarly, 'the idle connection outlived a slow header');
      // Node answers 408 where it still can; the socket is closed either way, and nothing was served.
      for (const answer of [headersAnswer, bodyAnswer]) {
        assert.ok(answer === '' || answer.startsWith('HTTP/1.1 408'), answer.slice(0, 40));
      }
      const waitedMs = Date.now() - startedWait;
      assert.ok(waitedMs > limitMs, `the slow clients were cut after ${waitedMs} ms`);

      // The app's request was read long ago; it is still waiting, and completes.
      const { callbackResponse } = await scriptedLogin(authorizeUrl, {
        accept: 'application/json',
      });
      assert.equal(callbackResponse.status, 200);
      const answer = await waiting;
      assert.equal(answer.status, 200);
      assert.ok(Date.now() - startedWait > limitMs);
    } finally {
      await stack.close();
    }
  });
});

describe('8. provider metadata is untrusted input', () => {
  let server: Server;
  let base: string;
  let document: (base: string) => Record<string, unknown>;
  before(async () => {
    server = createServer((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(document(base)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const good = (issuer: string): Record<string, unknown> => ({
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
  });

  async function refused(
    overrides: (issuer: string) => Record<string, unknown>,
    message: RegExp,
    issuer?: string,
  ): Promise<void> {
    document = (b) => ({ ...good(b), ...overrides(b) });
    try {
      await discoverProvider({ issuer: issuer ?? base, clientId: 'c', timeoutMs: 2000 });
    } catch (error) {
      assert.ok(error instanceof BrokerError, String(error));
      assert.equal(error.code, 'startup_failed');
      assert.match(error.message, message);
      return;
    }
    assert.fail('discovery accepted a hostile document');
  }

  it('refuses a discovery document whose endpoints are not http(s) on loopback, or carry shell syntax', async () => {
    document = good;
    assert.ok(await discoverProvider({ issuer: base, clientId: 'c', timeoutMs: 2000 }));
    await refused(
      () => ({ authorization_endpoint: 'javascript:alert(document.cookie)' }),
      /authorization_endpoint/,
    );
    await refused(
      () => ({ authorization_endpoint: 'file:///etc/passwd' }),
      /authorization_endpoint/,
    );
    await refused(
      () => ({ authorization_endpoint: 'https://evil.example/auth' }),
      /authorization_endpoint/,
    );
    await refused(
      (b) => ({ authorization_endpoint: `${b}/auth;touch /tmp/pwned` }),
      /authorization_endpoint.*shell/,
    );
    await refused(
      (b) => ({ authorization_endpoint: `${b}/auth$(id)` }),
      /authorization_endpoint.*shell/,
    );
    await refused(
      (b) => ({ authorization_endpoint: `${b}/auth\`id\`` }),
      /authorization_endpoint.*shell/,
    );
    await refused(
      (b) => ({ authorization_endpoint: `${b}/auth|id` }),
      /authorization_endpoint.*shell/,
    );
    await refused((b) => ({ token_endpoint: `${b}/token\nX: y` }), /token_endpoint/);
    await refused(() => ({ jwks_uri: 'ftp://127.0.0.1/jwks' }), /jwks_uri/);
  });

  it('requires the exact issuer string (no normalising) and S256', async () => {
    await refused((b) => ({ issuer: `${b}/` }), /must match exactly/);
    await refused(
      (b) => ({ issuer: b.replace('127.0.0.1', 'localhost') }),
      /must match exactly|issuer/,
    );
    await refused(() => ({ code_challenge_methods_supported: ['plain'] }), /S256/);
  });

  it('hands the browser command the URL as ONE argument, never through a shell, and only for http(s)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkce-open-'));
    const marker = join(dir, 'pwned');
    const recorder = join(dir, 'record.mjs');
    // The "browser": reports its argv to the test over loopback.
    writeFileSync(
      recorder,
      `const [, , port, ...args] = process.argv;\nawait fetch('http://127.0.0.1:' + port + '/', { method: 'POST', body: JSON.stringify(args) });\n`,
    );
    const received: string[][] = [];
    let notify: () => void = () => undefined;
    const sink = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        received.push(JSON.parse(text) as string[]);
        res.end();
        notify();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const sinkPort = (sink.address() as AddressInfo).port;
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()),
      }),
    });
    try {
      // Shell syntax that survives URL serialisation (no spaces, braces or backquotes, which get percent-encoded).
      const hostile = new URL(
        `http://127.0.0.1:1/auth;touch$IFS${marker};$(touch$IFS${marker})|true&x=1`,
      );
      assert.match(hostile.href, /;.*\$\(/);
      const command = `"${process.execPath}" "${recorder}" ${sinkPort}`;
      for (const open of [
        createBrowserOpener(command, logger),
        createBrowserOpener('auto', logger, { env: { BROWSER: command } }),
      ]) {
        const reported = new Promise<void>((resolve) => (notify = resolve));
        await open(hostile);
        await reported;
      }
      assert.equal(received.length, 2);
      for (const argv of received) assert.deepEqual(argv, [hostile.href]);
      assert.equal(existsSync(marker), false, 'a shell ran part of the URL');
      // Sanity: the same string through a shell would have created the marker.
      spawnSync('/bin/sh', ['-c', `true ${hostile.href}`], { stdio: 'ignore' });
      assert.equal(existsSync(marker), true, 'the URL is not actually hostile to a shell');

      const announced: string[] = [];
      const refuse = createBrowserOpener(command, logger, {
        announce: (href) => announced.push(href),
      });
      for (const url of [
        'javascript:alert(1)',
        'file:///etc/passwd',
        'data:text/html,<script>1</script>',
      ]) {
        await refuse(new URL(url));
      }
      assert.deepEqual(announced, []);
      assert.equal(received.length, 2, 'a non-http(s) URL reached the browser command');
      assert.equal(lines.filter((l) => l.includes('Refusing to open')).length, 3);
    } finally {
      sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
