/**
 * A provider that misbehaves: a fake OpenID provider of our own on loopback
 * (a real one never serves these faults) answers 500, broken JSON, the wrong
 * content type, or never answers — at discovery, the token exchange, refresh
 * and the JWKS — or rotates its keys. Each fault must give the documented
 * problem within the configured timeout, retries must happen only where
 * idempotent (discovery, JWKS), and the broker must keep serving.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable, pipeline } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { BrokerError } from '../src/errors.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { discoverProvider } from '../src/provider/oidc.js';
import { postJson, urlQueue } from './support/stack.js';

type Fault = 'ok' | '500' | 'broken-json' | 'wrong-type' | 'hang' | '500-once' | Flood;
/** 128 MiB of JSON-looking body: `huge` chunked (no Content-Length), `huge-declared` announced by one. */
type Flood = 'huge' | 'huge-declared';
const FLOOD_BYTES = 128 * 1024 * 1024;
const FLOOD_CHUNK = Buffer.alloc(64 * 1024, 'a');

/** What the provider saw of one flood it sent. */
interface FloodRecord {
  /** Bytes handed to the socket before it closed. */
  written: number;
  /** Whether all FLOOD_BYTES went out. */
  finished: boolean;
  /** Settles when the response is over, finished or not. */
  closed: Promise<void>;
}
const CLIENT_ID = 'fault-client';
const TIMEOUT_MS = 400;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return {
    kid,
    privateKey,
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/** The fake provider: discovery, token and JWKS endpoints whose behaviour each test sets. */
class FaultyProvider {
  issuer = '';
  faults = { discovery: 'ok' as Fault, token: 'ok' as Fault, jwks: 'ok' as Fault };
  counts = { discovery: 0, token: 0, jwks: 0 };
  /** The key ID tokens are signed with, and the keys the JWKS lists. */
  signer!: SigningKey;
  published: SigningKey[] = [];
  /** The nonce of the last authorize URL, for the next ID token. */
  nonce = '';
  /** Every flood sent, in order. */
  floods: FloodRecord[] = [];
  #server!: Server;

  async start(): Promise<void> {
    this.signer = await signingKey('key-1');
    this.published = [this.signer];
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.issuer = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  reset(): void {
    this.faults = { discovery: 'ok', token: 'ok', jwks: 'ok' };
    this.counts = { discovery: 0, token: 0, jwks: 0 };
    this.floods = [];
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', this.issuer).pathname;
    let body = '';
    for await (const chunk of req) body += String(chunk);
    if (path === '/.well-known/openid-configuration') {
      this.counts.discovery++;
      return this.#answer(res, 'discovery', () => ({
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/auth`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        response_types_supported: ['code'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
      }));
    }
    if (path === '/jwks') {
      this.counts.jwks++;
      return this.#answer(res, 'jwks', () => ({ keys: this.published.map((k) => k.jwk) }));
    }
    if (path === '/token') {
      this.counts.token++;
      const params = new URLSearchParams(body);
      const tokens = await this.#tokens(params.get('grant_type') === 'refresh_token');
      return this.#answer(res, 'token', () => tokens);
    }
    res.writeHead(404).end();
  }

  async #tokens(refresh: boolean): Promise<Record<string, unknown>> {
    const idToken = await new SignJWT({ ...(refresh ? {} : { nonce: this.nonce }) })
      .setProtectedHeader({ alg: 'RS256', kid: this.signer.kid })
      .setIssuer(this.issuer)
      .setAudience(CLIENT_ID)
      .setSubject('fault-user')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(this.signer.privateKey);
    return {
      access_token: randomBytes(24).toString('base64url'),
      token_type: 'Bearer',
      expires_in: 300,
      refresh_token: randomBytes(24).toString('base64url'),
      id_token: idToken,
    };
  }

  #answer(
    res: ServerResponse,
    endpoint: keyof FaultyProvider['faults'],
    body: () => unknown,
  ): void {
    const fault = this.faults[endpoint];
    if (fault === '500-once') this.faults[endpoint] = 'ok';
    switch (fault) {
      case 'hang':
        return; // never answers; closeAllConnections ends it
      case '500':
      case '500-once':
        res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>Internal Server Error</h1>');
        return;
      case 'broken-json':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"access_token": "abc", "keys": [');
        return;
      case 'wrong-type':
        res.writeHead(200, { 'content-type': 'text/html' }).end(JSON.stringify(body()));
        return;
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body()));
        return;
      case 'huge':
      case 'huge-declared':
        return this.#flood(res, fault === 'huge-declared');
    }
  }

  /**
   * 128 MiB generated as it is sent, never held: the same 64 KiB chunk again
   * and again, pulled only as fast as the socket drains. pipeline() destroys
   * the generator when the client hangs up, so the provider stops writing.
   */
  #flood(res: ServerResponse, declareLength: boolean): void {
    let closed!: () => void;
    const record: FloodRecord = {
      written: 0,
      finished: false,
      closed: new Promise<void>((resolve) => (closed = resolve)),
    };
    this.floods.push(record);
    res.writeHead(200, {
      'content-type': 'application/json',
      ...(declareLength && { 'content-length': String(FLOOD_BYTES) }),
    });
    function* body(): Generator<Buffer> {
      yield Buffer.from('{"access_token":"');
      record.written += 17;
      while (record.written + FLOOD_CHUNK.length <= FLOOD_BYTES) {
        yield FLOOD_CHUNK;
        record.written += FLOOD_CHUNK.length;
      }
      const rest = FLOOD_BYTES - record.written;
      yield Buffer.alloc(rest, 'a');
      record.written += rest;
    }
    res.on('finish', () => (record.finished = true));
    res.on('close', () => closed());
    pipeline(Readable.from(body(), { objectMode: false }), res, () => undefined);
  }
}

interface Broker {
  broker: RunningBroker;
  logs: string[];
  api(path: string, init?: RequestInit): Promise<Response>;
  /** challenge → code → callback: a code the broker received, ready for /pkce/token. */
  receivedCode(): Promise<string>;
}

async function startFaultBroker(
  fake: FaultyProvider,
  jwksCooldownMs: number,
  timeoutMs = TIMEOUT_MS,
): Promise<Broker> {
  const provider = await discoverProvider({
    issuer: fake.issuer,
    clientId: CLIENT_ID,
    timeoutMs,
    jwksCooldownMs,
  });
  const logs: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write: (chunk: Buffer, _e, done) => (logs.push(chunk.toString()), done()),
    }),
  });
  const config = {
    ...loadConfig({ argv: ['--port', '0'], env: {}, readFile: () => undefined }).config,
    issuer: fake.issuer,
    clientId: CLIENT_ID,
  };
  const queue = urlQueue();
  const broker = await startBroker({
    config,
    provider,
    logger,
    openAuthorizeUrl: async (url) => queue.push(url),
  });
  const api = (path: string, init?: RequestInit) => fetch(`${broker.url}${path}`, init);
  return {
    broker,
    logs,
    api,
    async receivedCode() {
      const waiting = api('/pkce/code', { method: 'POST' });
      const url = await queue.next();
      fake.nonce = url.searchParams.get('nonce')!;
      const code = randomBytes(16).toString('base64url');
      const callback = await api('/pkce/response/code', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ code, state: url.searchParams.get('state')! }),
      });
      assert.equal(callback.status, 200);
      const answer = await waiting;
      assert.equal(answer.status, 200);
      return ((await answer.json()) as PKCE).result!.code;
    },
  };
}

interface Timed {
  response: Response;
  problem: Record<string, unknown>;
  ms: number;
}

async function timed(request: Promise<Response>): Promise<Timed> {
  const started = performance.now();
  const response = await request;
  const text = await response.text();
  const ms = performance.now() - started;
  return { response, problem: JSON.parse(text) as Record<string, unknown>, ms };
}

function assertProblem(answer: Timed, status: number, code: string, detail: RegExp): void {
  assert.equal(answer.response.status, status, JSON.stringify(answer.problem));
  assert.match(answer.response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(answer.problem.code, code);
  assert.match(String(answer.problem.detail), detail);
  assert.ok(answer.ms < TIMEOUT_MS + 1500, `answered after ${Math.round(answer.ms)} ms`);
}

const FAULTS: Array<[Fault, number, string, RegExp]> = [
  ['500', 502, 'provider_error', /answered 500/],
  ['broken-json', 502, 'provider_error', /not valid|JSON/],
  ['wrong-type', 502, 'provider_error', /content type text\/html/],
  ['hang', 504, 'provider_timeout', /did not answer .* within 0\.4 s/],
];

describe('provider faults at the token endpoint', () => {
  const fake = new FaultyProvider();
  let b: Broker;
  before(async () => {
    await fake.start();
    b = await startFaultBroker(fake, 5_000);
  });
  after(async () => {
    await b.broker.close();
    await fake.close();
  });

  for (const [fault, status, code, detail] of FAULTS) {
    it(`code exchange, provider ${fault}: ${status} ${code}, asked exactly once`, async () => {
      fake.reset();
      const received = await b.receivedCode();
      fake.faults.token = fault;
      const answer = await timed(
        b.api('/pkce/token', postJson({ grant_type: 'authorization_code', code: received })),
      );
      assertProblem(answer, status, code, detail);
      // A code is single-use: a retry would only burn it, so there is none.
      assert.equal(fake.counts.token, 1);
      if (fault === 'hang')
        assert.ok(answer.ms >= TIMEOUT_MS - 50, `gave up after ${Math.round(answer.ms)} ms`);
      assert.equal((await b.api('/healthz')).status, 200);
    });

    it(`refresh, provider ${fault}: ${status} ${code}`, async () => {
      fake.reset();
      fake.faults.token = fault;
      const answer = await timed(
        b.api('/pkce/token', postJson({ grant_type: 'refresh_token', code: 'a-refresh-token' })),
      );
      assertProblem(answer, status, code, detail);
      assert.equal(fake.counts.token, 1, 'a refresh was retried');
      assert.equal((await b.api('/healthz')).status, 200);
    });
  }

  it('code exchange, provider answers 500 once: no retry, the app sees the 502', async () => {
    fake.reset();
    const received = await b.receivedCode();
    fake.faults.token = '500-once';
    const answer = await timed(
      b.api('/pkce/token', postJson({ grant_type: 'authorization_code', code: received })),
    );
    assertProblem(answer, 502, 'provider_error', /answered 500/);
    assert.equal(fake.counts.token, 1);
  });

  it('keeps serving whole flows after every fault', async () => {
    fake.reset();
    const received = await b.receivedCode();
    const token = await b.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code: received }),
    );
    assert.equal(token.status, 200);
    const refreshToken = ((await token.json()) as PKCE).auth0!.oAuth.token!.refresh_token!;
    assert.equal(
      (await b.api('/pkce/token', postJson({ grant_type: 'refresh_token', code: refreshToken })))
        .status,
      200,
    );
    assert.equal(fake.counts.token, 2);
  });
});

describe('provider faults at the JWKS', () => {
  const fake = new FaultyProvider();
  before(async () => {
    await fake.start();
  });
  after(async () => {
    await fake.close();
  });

  /** A fresh broker each time: the JWKS is cached after its first fetch. */
  async function exchangeWithJwks(fault: Fault): Promise<{ answer: Timed; b: Broker }> {
    fake.reset();
    const b = await startFaultBroker(fake, 5_000);
    const received = await b.receivedCode();
    fake.faults.jwks = fault;
    const answer = await timed(
      b.api('/pkce/token', postJson({ grant_type: 'authorization_code', code: received })),
    );
    return { answer, b };
  }

  const JWKS_FAULTS: Array<[Fault, number, string, RegExp, number]> = [
    ['500', 502, 'provider_error', /answered 500 to the request for its signing keys \(JWKS\)$/, 2],
    [
      'broken-json',
      502,
      'provider_error',
      /answer to the request for its signing keys \(JWKS\) is not valid/,
      1,
    ],
    [
      'hang',
      504,
      'provider_timeout',
      /did not answer the request for its signing keys \(JWKS\) within 0\.4 s/,
      1,
    ],
  ];
  for (const [fault, status, code, detail, fetches] of JWKS_FAULTS) {
    it(`JWKS ${fault}: ${status} ${code} (${fetches} fetch${fetches > 1 ? 'es: retried once' : ''}), and the broker keeps serving`, async () => {
      const { answer, b } = await exchangeWithJwks(fault);
      try {
        assertProblem(answer, status, code, detail);
        assert.equal(fake.counts.jwks, fetches);
        assert.equal(fake.counts.token, 1);
        fake.faults.jwks = 'ok';
        const again = await b.api(
          '/pkce/token',
          postJson({ grant_type: 'authorization_code', code: await b.receivedCode() }),
        );
        assert.equal(again.status, 200);
      } finally {
        await b.broker.close();
      }
    });
  }

  it('JWKS 500 once: the idempotent GET is retried and the exchange succeeds', async () => {
    const { answer, b } = await exchangeWithJwks('500-once');
    await b.broker.close();
    assert.equal(answer.response.status, 200, JSON.stringify(answer.problem));
    assert.equal(fake.counts.jwks, 2);
  });

  it('refetches a JWKS that changed (unknown kid), at most once per cooldown', async () => {
    fake.reset();
    const original = fake.signer;
    const eager = await startFaultBroker(fake, 0);
    const patient = await startFaultBroker(fake, 60_000);
    try {
      for (const b of [eager, patient]) {
        const first = await b.api(
          '/pkce/token',
          postJson({ grant_type: 'authorization_code', code: await b.receivedCode() }),
        );
        assert.equal(first.status, 200);
      }
      assert.equal(fake.counts.jwks, 2);

      // Key rotation: new tokens are signed with a key neither broker has seen.
      const rotated = await signingKey('key-2');
      fake.signer = rotated;
      fake.published = [original, rotated];

      const refetched = await eager.api(
        '/pkce/token',
        postJson({ grant_type: 'authorization_code', code: await eager.receivedCode() }),
      );
      assert.equal(refetched.status, 200);
      assert.equal(fake.counts.jwks, 3);

      // Within the cooldown an unknown kid does not make the broker hammer the provider.
      const limited = await timed(
        patient.api(
          '/pkce/token',
          postJson({ grant_type: 'authorization_code', code: await patient.receivedCode() }),
        ),
      );
      assertProblem(limited, 502, 'provider_error', /no key in the provider's JWKS matches/);
      assert.equal(limited.problem.error, 'invalid_id_token');
      assert.equal(fake.counts.jwks, 3);
    } finally {
      fake.signer = original;
      fake.published = [original];
      await eager.broker.close();
      await patient.broker.close();
    }
  });
});

describe('provider faults at discovery', () => {
  const fake = new FaultyProvider();
  before(async () => {
    await fake.start();
  });
  after(async () => {
    await fake.close();
  });

  const CASES: Array<[Fault, RegExp, number]> = [
    ['500', /answered HTTP 500/, 2],
    ['broken-json', /not valid JSON/, 1],
    ['wrong-type', /served as text\/html, not application\/json/, 1],
    ['hang', /did not answer within 0\.4 s/, 2],
  ];
  for (const [fault, message, requests] of CASES) {
    it(`discovery ${fault}: startup_failed with a clear message, ${requests} request(s), within the timeout`, async () => {
      fake.reset();
      fake.faults.discovery = fault;
      const started = performance.now();
      try {
        await discoverProvider({ issuer: fake.issuer, clientId: CLIENT_ID, timeoutMs: TIMEOUT_MS });
        assert.fail('discovery succeeded');
      } catch (error) {
        assert.ok(error instanceof BrokerError, String(error));
        assert.equal(error.code, 'startup_failed');
        assert.match(error.message, message);
      }
      const ms = performance.now() - started;
      // Discovery is idempotent: retried once on 5xx or no answer, each attempt bounded by the timeout.
      assert.equal(fake.counts.discovery, requests);
      assert.ok(ms < requests * TIMEOUT_MS + 1000, `gave up after ${Math.round(ms)} ms`);
    });
  }

  it('discovery 500 once: retried, and succeeds', async () => {
    fake.reset();
    fake.faults.discovery = '500-once';
    const provider = await discoverProvider({
      issuer: fake.issuer,
      clientId: CLIENT_ID,
      timeoutMs: TIMEOUT_MS,
    });
    assert.equal(provider.issuer, fake.issuer);
    assert.equal(fake.counts.discovery, 2);
  });
});

/**
 * Samples the process's resident memory every millisecond from a worker
 * thread, so that a peak during synchronous work on the main thread (joining
 * and parsing a huge body) is seen too.
 */
const RSS_SAMPLER = `
const { parentPort } = require('node:worker_threads');
let peak = process.memoryUsage.rss();
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 1);
parentPort.once('message', () => {
  clearInterval(timer);
  parentPort.postMessage(Math.max(peak, process.memoryUsage.rss()));
});
parentPort.postMessage('ready');
`;

/** Runs `work` and returns how far the process's resident memory rose above where it started, at its peak. */
async function rssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const sampler = new Worker(RSS_SAMPLER, { eval: true });
  try {
    await once(sampler, 'message');
    const start = process.memoryUsage.rss();
    const result = await work();
    sampler.postMessage('stop');
    const [peak] = (await once(sampler, 'message')) as [number];
    return { result, growth: peak - start };
  } finally {
    await sampler.terminate();
  }
}

const MiB = 1024 * 1024;
/** The cap is 1 MiB; what the provider manages to write past it sits in socket buffers, a few MiB at most. */
const WRITTEN_BOUND = 32 * MiB;
const TOO_LARGE = /is larger than the 1 MiB the broker accepts/;

/** The provider saw its flood cut short: the broker hung up long before 128 MiB. */
async function assertCutShort(fake: FaultyProvider): Promise<void> {
  assert.equal(fake.floods.length, 1);
  const [flood] = fake.floods as [FloodRecord];
  await flood.closed;
  assert.equal(flood.finished, false, 'the provider wrote all 128 MiB');
  assert.ok(
    flood.written < WRITTEN_BOUND,
    `the provider wrote ${Math.round(flood.written / MiB)} MiB before the broker hung up`,
  );
}

describe('provider answers too large to read (128 MiB)', () => {
  const fake = new FaultyProvider();
  // A timeout far above what reading 128 MiB on loopback takes: the cap, not the clock, must stop the read.
  const PATIENT_MS = 60_000;
  let b: Broker;
  before(async () => {
    await fake.start();
    b = await startFaultBroker(fake, 5_000, PATIENT_MS);
  });
  after(async () => {
    await b.broker.close();
    await fake.close();
  });

  function assertTooLarge(answer: Timed, endpoint: string): void {
    assert.equal(answer.response.status, 502, JSON.stringify(answer.problem));
    assert.match(answer.response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(answer.problem.code, 'provider_error');
    assert.match(String(answer.problem.detail), TOO_LARGE);
    assert.ok(
      String(answer.problem.detail).includes(`${fake.issuer}${endpoint}`),
      `${String(answer.problem.detail)} does not name ${endpoint}`,
    );
  }

  for (const flood of ['huge', 'huge-declared'] as const) {
    const how = flood === 'huge' ? 'chunked, no Content-Length' : 'Content-Length: 128 MiB';
    it(`token answer of 128 MiB (${how}): 502, memory bounded, the provider cut short`, async () => {
      fake.reset();
      const received = await b.receivedCode();
      fake.faults.token = flood;
      const { result: answer, growth } = await rssGrowth(() =>
        timed(b.api('/pkce/token', postJson({ grant_type: 'authorization_code', code: received }))),
      );
      assertTooLarge(answer, '/token');
      assert.ok(growth < 64 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`);
      await assertCutShort(fake);
      assert.equal((await b.api('/healthz')).status, 200);
    });
  }

  it('refresh answer of 128 MiB: 502, the provider cut short', async () => {
    fake.reset();
    fake.faults.token = 'huge';
    const answer = await timed(
      b.api('/pkce/token', postJson({ grant_type: 'refresh_token', code: 'a-refresh-token' })),
    );
    assertTooLarge(answer, '/token');
    await assertCutShort(fake);
  });

  it('JWKS of 128 MiB: 502, fetched once, memory bounded, the provider cut short', async () => {
    fake.reset();
    // A fresh broker: the JWKS is fetched on its first exchange.
    const fresh = await startFaultBroker(fake, 5_000, PATIENT_MS);
    try {
      const received = await fresh.receivedCode();
      fake.faults.jwks = 'huge';
      const { result: answer, growth } = await rssGrowth(() =>
        timed(
          fresh.api('/pkce/token', postJson({ grant_type: 'authorization_code', code: received })),
        ),
      );
      assertTooLarge(answer, '/jwks');
      assert.ok(growth < 64 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`);
      // A provider fault, not a transport one: not retried.
      assert.equal(fake.counts.jwks, 1);
      await assertCutShort(fake);
    } finally {
      await fresh.broker.close();
    }
  });

  it('discovery document of 128 MiB: startup_failed naming it and the cap, memory bounded, the provider cut short', async () => {
    fake.reset();
    fake.faults.discovery = 'huge';
    const { result: error, growth } = await rssGrowth(() =>
      discoverProvider({ issuer: fake.issuer, clientId: CLIENT_ID, timeoutMs: PATIENT_MS }).then(
        () => assert.fail('discovery succeeded'),
        (err: unknown) => err,
      ),
    );
    assert.ok(error instanceof BrokerError, String(error));
    assert.equal(error.code, 'startup_failed');
    assert.match(error.message, TOO_LARGE);
    assert.ok(error.message.includes(`${fake.issuer}/.well-known/openid-configuration`));
    // Translated by type: the cap's own provider_error is the cause.
    assert.ok(error.cause instanceof BrokerError && error.cause.code === 'provider_error');
    assert.ok(growth < 64 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`);
    assert.equal(fake.counts.discovery, 1);
    await assertCutShort(fake);
  });
});
