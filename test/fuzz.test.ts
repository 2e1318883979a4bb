/**
 * Hostile input, property-based (fast-check): random and mutated bodies,
 * headers, content types, query strings, unicode, huge and deeply nested JSON
 * and prototype-poisoning keys, at every endpoint the broker serves (read from
 * its own OpenAPI document, so a new route is fuzzed too). Every answer must be
 * the documented success or a 4xx problem — never a 5xx — the process stays
 * up, and memory stays bounded. Volume goes through app.inject(); a few raw
 * sockets send what inject cannot (broken HTTP).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import { discoverProvider } from '../src/provider/oidc.js';

const MAX_FLOWS = 200;
const APP_ID = 'fuzz-app-id-0123456789';
/** Keeps CI time bounded: each property stays well under its share of 30 s. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** `arb` once in `odds` draws, otherwise undefined (the usual, valid request). */
function rarely<T>(arb: fc.Arbitrary<T>, odds: number): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: odds - 1 },
    { arbitrary: arb, weight: 1 },
  );
}

interface Route {
  method: string;
  url: string;
}

describe('fuzzing every endpoint', () => {
  let dev: DevProvider;
  let broker: RunningBroker;
  let routes: Route[];
  let host: string;
  const fatal: string[] = [];

  before(async () => {
    dev = await startDevProvider();
    const provider = await discoverProvider({
      issuer: dev.issuer,
      clientId: dev.clientId,
      timeoutMs: 5_000,
      // The opener answers each flow by the state in its URL, which a pushed request (PAR) leaves out.
      par: 'never',
    });
    const config = {
      ...loadConfig({
        argv: [
          '--port',
          '0',
          '--max-pending-flows',
          String(MAX_FLOWS),
          '--wait-timeout',
          '5',
          '--app-id',
          APP_ID,
        ],
        env: {},
        readFile: () => undefined,
      }).config,
      issuer: dev.issuer,
      clientId: dev.clientId,
    };
    // Only errors are kept: a 5xx is logged at error level, and nothing else should be.
    const logger = createLogger({
      level: 'error',
      destination: new Writable({
        write: (chunk: Buffer, _e, done) => (fatal.push(chunk.toString()), done()),
      }),
    });
    broker = await startBroker({
      config,
      provider,
      logger,
      // Every sign-in the fuzzer starts is denied at once, so its POST /pkce/code answers (403) instead of waiting.
      openAuthorizeUrl: async (url) => {
        const state = url.searchParams.get('state') ?? '';
        setImmediate(() => {
          void broker.app.inject({
            method: 'POST',
            url: '/pkce/response/code',
            headers: { host, 'content-type': 'application/x-www-form-urlencoded' },
            payload: new URLSearchParams({
              error: 'access_denied',
              state,
              iss: dev.issuer,
            }).toString(),
          });
        });
      },
    });
    dev.setRedirectUris([broker.redirectUri]);
    host = `127.0.0.1:${broker.port}`;
    const { paths } = await broker.app.openApiDocument();
    routes = Object.entries(paths).flatMap(([url, methods]) =>
      Object.keys(methods).map((m) => ({ method: m.toUpperCase(), url })),
    );
    assert.ok(routes.length >= 6, `only ${routes.length} routes documented`);
    for (const expected of [
      '/pkce/challenge',
      '/pkce/code',
      '/pkce/response/code',
      '/pkce/token',
      '/pkce/clear',
    ]) {
      assert.ok(
        routes.some((r) => r.url === expected),
        `${expected} is not documented`,
      );
    }
    routes.push(
      { method: 'GET', url: '/no/such/endpoint' },
      { method: 'DELETE', url: '/pkce/token' },
    );
  });
  after(async () => {
    await broker.close();
    await dev.close();
  });

  // ---------------------------------------------------------------- arbitraries

  const interestingKeys = fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'schema',
    'code',
    'state',
    'nonce',
    'iss',
    'error',
    'error_description',
    'grant_type',
    'code_verifier',
    'code_challenge',
    'code_challenge_method',
    'redirect_uri',
    'domain',
    'scope',
    'response_type',
    'response_mode',
    'client_id',
    'audience',
    'ADDITIONAL_PARAMETERS',
    'toString',
    'hasOwnProperty',
  );
  const anyKey = fc.oneof(interestingKeys, fc.string({ unit: 'grapheme', maxLength: 12 }));
  const text = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      '',
      'UNKNOWN',
      'S256',
      'plain',
      'code',
      'token',
      'authorization_code',
      'refresh_token',
      'form_post',
      'query',
      'null',
      '[object Blob]',
      '\u0000',
      '\ud800',
      '%00',
      '../../etc/passwd',
      '<script>alert(1)</script>',
    ),
  );
  const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(anyKey, tie('v'), { maxKeys: 5 }),
    ),
  })).v;
  /** Objects shaped like the API's models, with fields of the right or wrong types. */
  const modelLike = fc.dictionary(interestingKeys, value, { maxKeys: 8 });

  const deep = fc
    .tuple(fc.integer({ min: 100, max: 30_000 }), fc.constantFrom('[', '{"a":'))
    .map(([n, open]) =>
      open === '[' ? '['.repeat(n) + ']'.repeat(n) : open.repeat(n) + '1' + '}'.repeat(n),
    );
  const jsonBody = fc.oneof(
    modelLike.map((o) => JSON.stringify(o)),
    value.map((v) => JSON.stringify(v) ?? ''),
    fc.constantFrom(
      '{"__proto__":{"polluted":true},"grant_type":"refresh_token","code":"x"}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"\\u005f_proto__":{"x":1}}',
      '{"grant_type":"authorization_code","code":"x","code":"y"}',
      '{',
      '',
      '   ',
      'null',
      '"just a string"',
      '\ufeff{}',
      '{"a":1}garbage',
    ),
    deep,
    fc
      .integer({ min: 60_000, max: 70_000 })
      .map((n) => JSON.stringify({ grant_type: 'refresh_token', code: 'x'.repeat(n) })),
  );
  const formBody = fc.oneof(
    fc
      .array(fc.tuple(anyKey, text), { maxLength: 8 })
      .map((pairs) => new URLSearchParams(pairs).toString()),
    fc.constantFrom(
      'code=a&code=b&state=c',
      'state=%ZZ',
      '%%%',
      '__proto__[x]=1&state=s',
      'a[b][c][d]=1',
      '=&&==',
    ),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
  const contentType = fc.option(
    fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/json; charset=utf-16',
        'APPLICATION/JSON',
        'application/x-www-form-urlencoded',
        'text/plain',
        'multipart/form-data; boundary=x',
        'application/problem+json',
        'application/json, text/plain',
        ';',
        'application/json;',
        'text/html',
      ),
      fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
    ),
    { nil: undefined },
  );
  const query = fc.option(
    fc
      .array(fc.tuple(anyKey, text), { maxLength: 6 })
      .map((pairs) => `?${new URLSearchParams(pairs).toString()}`),
    { nil: '' },
  );
  const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });

  const request: fc.Arbitrary<InjectOptions> = fc
    .record({
      route: fc.constant(undefined).chain(() => fc.constantFrom(...routes)),
      otherMethod: rarely(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
        5,
      ),
      query,
      body: fc.option(fc.oneof(jsonBody, formBody), { freq: 4, nil: undefined }),
      contentType,
      accept: fc.option(
        fc.constantFrom(
          'text/html',
          'application/json',
          '*/*',
          'text/html;q=0.1, application/json',
          'garbage;q=x',
        ),
        { nil: undefined },
      ),
      origin: rarely(
        fc.oneof(fc.constantFrom('null', `http://127.0.0.1`, 'https://evil.example'), headerValue),
        6,
      ),
      appId: fc.oneof(fc.constant(APP_ID), fc.constant(APP_ID), headerValue),
      host: rarely(fc.oneof(fc.constantFrom('evil.example', 'localhost', '[::1]'), headerValue), 8),
      extra: fc.dictionary(
        fc.constantFrom(
          'x-forwarded-for',
          'x-forwarded-host',
          'cookie',
          'authorization',
          'transfer-encoding',
          'expect',
        ),
        headerValue,
        { maxKeys: 2 },
      ),
    })
    .map((r) => {
      const headers: Record<string, string> = {
        host: r.host ?? host,
        'x-application-id': r.appId,
        ...r.extra,
      };
      delete headers['transfer-encoding'];
      if (r.contentType !== undefined) headers['content-type'] = r.contentType;
      if (r.accept !== undefined) headers.accept = r.accept;
      if (r.origin !== undefined) headers.origin = r.origin;
      const method = (r.otherMethod ?? r.route.method) as InjectOptions['method'];
      return {
        method,
        url: `${r.route.url}${r.query}`,
        headers,
        ...(r.body !== undefined && method !== 'GET' && method !== 'HEAD' && { payload: r.body }),
      };
    });

  // ---------------------------------------------------------------- the property

  function checkAnswer(req: InjectOptions, res: LightMyRequestResponse): void {
    const where = `${req.method} ${String(req.url).slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`;
    assert.ok(res.statusCode < 500, where);
    if (res.statusCode < 400) {
      assert.ok([200, 204].includes(res.statusCode), where);
      return;
    }
    if (req.method === 'HEAD') return;
    const type = String(res.headers['content-type'] ?? '');
    if (type.startsWith('text/html')) {
      // Only the callback answers browsers with a page.
      assert.ok(String(req.url).startsWith('/pkce/response/code'), where);
      return;
    }
    assert.match(type, /^application\/problem\+json/, where);
    const problem = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(problem.status, res.statusCode, where);
    assert.equal(typeof problem.code, 'string', where);
    assert.equal(res.headers['cache-control'], 'no-store', where);
  }

  it('answers every request with a documented success or a 4xx problem, never a 5xx', async (t) => {
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await broker.app.inject(req);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        checkAnswer(req, res);
      }),
      {
        numRuns: RUNS * 4,
        seed: Number(process.env.FUZZ_SEED ?? Date.now() % 100_000),
        verbose: 1,
      },
    );
    // Prototypes are untouched by __proto__ / constructor keys.
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    // The fuzzer reached the handlers, not only the gates.
    for (const status of [200, 400, 401, 403, 404, 415, 421])
      assert.ok(statuses.has(status), `no ${status} in ${JSON.stringify([...statuses])}`);
    assert.deepEqual(fatal, [], 'something was logged at error level (a 5xx)');
    t.diagnostic(`statuses: ${JSON.stringify([...statuses].sort(([a], [b]) => a - b))}`);

    // Memory is bounded: pending flows stay under the cap, and the heap did not balloon.
    assert.ok((await broker.store.size()) <= MAX_FLOWS);
    gc();
    const grownMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    t.diagnostic(
      `heap growth ${grownMb.toFixed(1)} MiB, ${await broker.store.size()} flows pending`,
    );
    assert.ok(grownMb < 64, `heap grew by ${grownMb.toFixed(1)} MiB`);
  });

  it('survives valid-looking requests with one field mutated, for each endpoint', async () => {
    const base: Array<[string, string, Record<string, unknown> | string, string]> = [
      [
        'POST',
        '/pkce/code',
        {
          state: 'x'.repeat(20),
          code_challenge: 'a'.repeat(43),
          code_challenge_method: 'S256',
          scope: ['openid'],
          response_mode: 'query',
        },
        'application/json',
      ],
      [
        'POST',
        '/pkce/token',
        {
          grant_type: 'authorization_code',
          code: 'abc',
          code_verifier: 'v'.repeat(43),
          redirect_uri: 'http://127.0.0.1/cb',
        },
        'application/json',
      ],
      [
        'POST',
        '/pkce/response/code',
        'code=abc&state=def&iss=x',
        'application/x-www-form-urlencoded',
      ],
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...base),
        interestingKeys,
        value,
        async ([method, url, body, type], key, mutated) => {
          const asText = typeof mutated === 'string' ? mutated : (JSON.stringify(mutated) ?? '');
          const payload =
            typeof body === 'string'
              ? `${body}&${new URLSearchParams([[key, asText]]).toString()}`
              : JSON.stringify({ ...body, [key]: mutated });
          const req: InjectOptions = {
            method: method as InjectOptions['method'],
            url,
            payload,
            headers: { host, 'content-type': type, 'x-application-id': APP_ID },
          };
          checkAnswer(req, await broker.app.inject(req));
        },
      ),
      { numRuns: RUNS },
    );
    assert.deepEqual(fatal, []);
  });

  it('stays up through broken HTTP on a real socket', async () => {
    const raw = [
      'GARBAGE\r\n\r\n',
      `GET /pkce/challenge HTTP/1.1\r\nHost: ${host}\r\nContent-Length: -1\r\n\r\n`,
      `POST /pkce/token HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nX-Application-ID: ${APP_ID}\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`,
      `POST /pkce/token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `GET /pkce/challenge HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /\u00ff\u2603/%ZZ/../../etc/passwd HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      `GET /pkce/challenge HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\nX-Application-ID: ${APP_ID}\r\n\r\n`,
      `GET /pkce/challenge HTTP/1.1\r\nHost: ${host}\r\nHost: ${host}\r\nX-Application-ID: ${APP_ID}\r\n\r\n`,
      `\u0000\u0001\u0002\r\n\r\n`,
    ];
    for (const bytes of raw) {
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(broker.port, '127.0.0.1', () =>
          socket.end(Buffer.from(bytes, 'latin1')),
        );
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString('latin1')));
        socket.on('error', () => resolve(received));
        socket.on('close', () => resolve(received));
      });
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      assert.ok(
        status === 0 || (status >= 400 && status < 500),
        `${JSON.stringify(bytes.slice(0, 40))} → ${answer.slice(0, 60)}`,
      );
    }
    const alive = await fetch(`http://${host}/healthz`);
    assert.equal(alive.status, 200);
    assert.deepEqual(fatal, []);
  });
});
