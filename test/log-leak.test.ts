/**
 * Secrets out of logs: whole flows at debug level — success, refresh, denial,
 * callback errors, query-mode callbacks, token errors, clear, hostile bodies —
 * then not one verifier, code, access/refresh/ID token, state, nonce or app ID
 * may occur anywhere in what the broker logged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createBrowserOpener } from '../src/browser/open.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { loadConfig } from '../src/config/load.js';
import { BrokerError } from '../src/errors.js';
import { createLogger, MAX_LOGGED_MESSAGE, MAX_LOGGED_URL } from '../src/logging.js';
import { redactUrl, scrubText, truncateForLog } from '../src/redact.js';
import { createFlowStore } from '../src/store/create.js';
import type { PKCE } from '../src/protocol/models.js';
import { generateVerifier, s256Challenge } from '../src/protocol/pkce.js';
import { freePort } from './support/redis.js';
import { postJson, startStack, type Stack } from './support/stack.js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';

const APP_ID = 'the-app-id-value-7f3a9c';
const WRONG_APP_ID = 'someone-elses-app-id-1b2c';
const FORM = 'application/x-www-form-urlencoded';

describe('no secret reaches the logs', () => {
  let stack: Stack;
  const secrets = new Map<string, string>();
  const keep = (label: string, value: string | undefined | null): void => {
    assert.ok(value && value.length >= 8, `${label} is not a usable secret: ${value}`);
    secrets.set(value, label);
  };
  const headers = { 'x-application-id': APP_ID };
  const api = (path: string, init: RequestInit = {}) =>
    stack.api(path, {
      ...init,
      headers: { ...headers, ...(init.headers as Record<string, string>) },
    });
  const json = (body: unknown, extra: Record<string, string> = {}) =>
    postJson(body, { ...headers, ...extra });

  async function challenge() {
    const c = ((await (await api('/pkce/challenge')).json()) as PKCE).challenge!;
    keep('verifier', c.verifier);
    keep('state', c.state);
    keep('nonce', c.nonce);
    return c;
  }

  before(async () => {
    stack = await startStack({ logLevel: 'trace', argv: ['--app-id', APP_ID] });
    keep('app id', APP_ID);
    keep('wrong app id', WRONG_APP_ID);
  });
  after(async () => {
    await stack.close();
  });

  it('runs every kind of flow at trace level', async () => {
    // 1. The whole flow, form_post, then refresh.
    const c = await challenge();
    const waiting = api('/pkce/code', json({ state: c.state }));
    const { delivered } = await scriptedLogin(await stack.nextAuthorizeUrl(), {
      accept: 'application/json',
    });
    keep('code', delivered.get('code'));
    const code = ((await (await waiting).json()) as PKCE).result!.code;
    const token = await api(
      '/pkce/token',
      json({ grant_type: 'authorization_code', code, code_verifier: c.verifier }),
    );
    assert.equal(token.status, 200);
    const tokens = ((await token.json()) as PKCE).auth0!.oAuth.token!;
    keep('access token', tokens.access_token);
    keep('refresh token', tokens.refresh_token);
    keep('id token', tokens.id_token);
    const refreshed = await api(
      '/pkce/token',
      json({ grant_type: 'refresh_token', code: tokens.refresh_token }),
    );
    assert.equal(refreshed.status, 200);
    const again = ((await refreshed.json()) as PKCE).auth0!.oAuth.token!;
    keep('refreshed access token', again.access_token);
    keep('refreshed refresh token', again.refresh_token);
    if (again.id_token) keep('refreshed id token', again.id_token);
    // Replays and foreign values.
    assert.equal(
      (await api('/pkce/token', json({ grant_type: 'authorization_code', code }))).status,
      400,
    );
    assert.equal(
      (await api('/pkce/token', json({ grant_type: 'refresh_token', code: tokens.refresh_token })))
        .status,
      400,
    );
    keep('unknown refresh token', 'rt-nobody-issued-0123456789');
    assert.ok(
      (
        await api(
          '/pkce/token',
          json({ grant_type: 'refresh_token', code: 'rt-nobody-issued-0123456789' }),
        )
      ).status >= 400,
    );

    // 2. The user denies consent.
    const d = await challenge();
    const denied = api('/pkce/code', json({ state: d.state }));
    await scriptedLogin(await stack.nextAuthorizeUrl(), { deny: true });
    assert.equal((await denied).status, 403);

    // 3. A flow the app prepared, response_mode=query: the code travels in the callback URL.
    const verifier = generateVerifier();
    keep('app verifier', verifier);
    const appState = `app-state-${Date.now()}-secret`;
    keep('app state', appState);
    keep('app nonce', 'app-nonce-0123456789');
    const prepared = api(
      '/pkce/code',
      json({
        state: appState,
        nonce: 'app-nonce-0123456789',
        code_challenge: s256Challenge(verifier),
        response_mode: 'query',
      }),
    );
    const { delivered: viaQuery } = await scriptedLogin(await stack.nextAuthorizeUrl(), {
      accept: 'application/json',
    });
    keep('query code', viaQuery.get('code'));
    const preparedCode = ((await (await prepared).json()) as PKCE).result!.code;
    const wrongVerifier = generateVerifier();
    keep('wrong verifier', wrongVerifier);
    assert.equal(
      (
        await api(
          '/pkce/token',
          json({
            grant_type: 'authorization_code',
            code: preparedCode,
            code_verifier: wrongVerifier,
          }),
        )
      ).status,
      400,
    );

    // 4. Callback errors: iss missing (relayed by hand), forged state, error= for a live flow.
    const e = await challenge();
    const ending = api('/pkce/code', json({ state: e.state }));
    await stack.nextAuthorizeUrl();
    keep('relayed code', 'relayed-code-by-hand-0123');
    const relayed = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: new URLSearchParams({ code: 'relayed-code-by-hand-0123', state: e.state }),
    });
    assert.equal(relayed.status, 400);
    assert.equal((await ending).status, 400);
    keep('forged code', 'forged-code-0123456789');
    keep('forged state', 'forged-state-0123456789');
    const forged = await stack.api(
      `/pkce/response/code?code=forged-code-0123456789&state=forged-state-0123456789&iss=${encodeURIComponent(stack.devProvider.issuer)}`,
    );
    assert.equal(forged.status, 400);
    const f = await challenge();
    const errored = api('/pkce/code', json({ state: f.state }));
    await stack.nextAuthorizeUrl();
    // A form_post flow's answer comes as a form: a URL query for it would be refused and the flow kept.
    await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: new URLSearchParams({
        error: 'server_error',
        state: f.state,
        iss: stack.devProvider.issuer,
      }),
    });
    assert.ok((await errored).status >= 400);

    // 5. Clear with flows pending.
    const g = await challenge();
    const cleared = api('/pkce/code', json({ state: g.state }));
    await stack.nextAuthorizeUrl();
    assert.equal((await api('/pkce/clear', { method: 'POST' })).status, 204);
    assert.equal((await cleared).status, 409);

    // 6. Hostile requests carrying secrets: wrong app ID, broken JSON, wrong type, too large, secrets in a URL.
    assert.equal(
      (await stack.api('/pkce/challenge', { headers: { 'x-application-id': WRONG_APP_ID } }))
        .status,
      401,
    );
    keep('secret in broken json', 'verifier-in-broken-json-0123');
    const broken = await api('/pkce/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"code_verifier":"verifier-in-broken-json-0123",',
    });
    assert.equal(broken.status, 400);
    keep('secret in text body', 'code-in-text-plain-0123');
    assert.equal(
      (
        await api('/pkce/token', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{"code":"code-in-text-plain-0123"}',
        })
      ).status,
      415,
    );
    keep('secret in large body', 'code-in-large-body-0123');
    assert.equal(
      (await api('/pkce/token', json({ code: 'code-in-large-body-0123', pad: 'x'.repeat(70_000) })))
        .status,
      413,
    );
    keep('secret in a query', 'token-in-a-query-0123');
    assert.equal(
      (
        await api(
          '/pkce/challenge?access_token=token-in-a-query-0123&id_token=token-in-a-query-0123',
        )
      ).status,
      200,
    );
    keep('secret in a 404 url', 'refresh-in-a-404-0123');
    assert.equal(
      (await api('/nowhere?refresh_token=refresh-in-a-404-0123&code=refresh-in-a-404-0123')).status,
      404,
    );
    keep('secret in invalid body', 'verifier-in-invalid-body-0123');
    assert.equal(
      (
        await api(
          '/pkce/token',
          json({
            grant_type: 'authorization_code',
            code: 42,
            code_verifier: 'verifier-in-invalid-body-0123',
          }),
        )
      ).status,
      400,
    );

    // 7. The authorize URL, logged by the real opener: state and nonce redacted, the rest kept.
    const h = await challenge();
    const opening = api('/pkce/code', json({ state: h.state }));
    const authorizeUrl = await stack.nextAuthorizeUrl();
    await createBrowserOpener('never', stack.broker.logger, { announce: () => undefined })(
      authorizeUrl,
    );
    await api('/pkce/clear', { method: 'POST' });
    await opening;
    const logged = stack.logs.filter((line) => line.includes('Sign-in started'));
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /state=\[redacted\]/);
    assert.match(logged[0]!, /nonce=\[redacted\]/);
    assert.match(logged[0]!, /code_challenge_method=S256/);
  });

  it('finds none of them in the captured logs', () => {
    // The check is not vacuous: requests, errors and URLs were logged at trace level.
    assert.ok(stack.logs.length > 50, `only ${stack.logs.length} lines`);
    assert.ok(stack.logs.some((line) => line.includes('/pkce/response/code?')));
    assert.equal(stack.broker.logger.level, 'trace');
    assert.ok(
      secrets.size >= 30,
      `only ${secrets.size} secrets collected: ${[...secrets.values()].join(', ')}`,
    );
    const leaks: string[] = [];
    for (const line of stack.logs) {
      for (const [value, label] of secrets) {
        if (line.includes(value) || line.includes(encodeURIComponent(value)))
          leaks.push(`${label} in: ${line.slice(0, 300)}`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});

describe('the logger scrubs secrets wherever a module puts them', () => {
  function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
    const lines: string[] = [];
    const log = createLogger({
      level: 'trace',
      destination: new Writable({
        write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()),
      }),
    });
    return { lines, log };
  }
  const SECRET = 'S3cretValue-abcdef-0123456789';

  it('redacts by field name at any depth, camelCase too', () => {
    const { lines, log } = capture();
    log.info(
      {
        code: SECRET,
        nested: { refresh_token: SECRET, deeper: { codeVerifier: SECRET, idToken: SECRET } },
        accessToken: SECRET,
      },
      'fields',
    );
    log.info(
      {
        headers: {
          authorization: `Bearer ${SECRET}`,
          cookie: `sid=${SECRET}`,
          'x-application-id': SECRET,
        },
      },
      'headers',
    );
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(!line.includes(SECRET), line);
  });

  it('redacts inside messages, error messages, URLs and quoted JSON', () => {
    const { lines, log } = capture();
    log.info(`redirect to /cb?code=${SECRET}&state=${SECRET}`);
    log.warn({ err: new Error(`upstream said {"access_token":"${SECRET}"}`) }, 'failed');
    log.error({ detail: `body ${JSON.stringify({ refresh_token: SECRET, ok: 1 })}` }, 'quoted');
    log.info({ url: `http://x/?id_token=${SECRET}` }, `Authorization: Bearer ${SECRET}`);
    log.info(`a JWT eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.${SECRET}`);
    assert.equal(lines.length, 5);
    for (const line of lines) assert.ok(!line.includes(SECRET), line);
    // What is not secret stays readable.
    assert.match(lines[0]!, /redirect to \/cb\?code=\[redacted\]&state=\[redacted\]/);
    assert.match(lines[2]!, /ok/);
  });

  it('scrubText leaves ordinary text alone', () => {
    const text = 'GET /pkce/challenge 200 code_challenge_method=S256 errorCode=invalid_grant';
    assert.equal(scrubText(text), text);
  });
});

function captureLogs(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({
    level: 'trace',
    destination: new Writable({
      write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()),
    }),
  });
  return { lines, log };
}

/** `unit` repeated to exactly `length` characters. */
function repeatTo(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

/** The longest prefix of `secret` that occurs in `text`. */
function leakedPrefix(text: string, secret: string): number {
  let length = 0;
  while (length < secret.length && text.includes(secret.slice(0, length + 1))) length++;
  return length;
}

describe('scrubbing is linear in its input (attacker-chosen paths are logged)', () => {
  /** Milliseconds per call: the best of several batches, a batch cut short once it exceeds its budget. */
  function perCall(text: string, calls: number): number {
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const started = performance.now();
      let done = 0;
      while (done < calls) {
        scrubText(text);
        done++;
        // Quadratic code would take minutes for the whole batch: one slow call is enough to know.
        if (performance.now() - started > 500) break;
      }
      best = Math.min(best, (performance.now() - started) / done);
    }
    return best;
  }

  /** Inputs that made a regex engine restart inside its own match, or scan far for nothing. */
  const ADVERSARIAL: Record<string, string> = {
    'a request path of eyJeyJ…': 'eyJ',
    'eyJ runs with one dot': 'eyJaaaaa.',
    '&code= repeated': '&code=',
    '"state":" repeated (JSON)': '"state":"',
    'an unterminated JSON string of escapes': '"state":"\\\\',
    '\\"state\\":\\" repeated (quoted JSON)': '\\"state\\":\\"',
    'Bearer repeated': 'Bearer ',
    'authorities without @': '//a',
  };

  for (const length of [15_000, 60_000]) {
    it(`costs within 20x of plain text of the same length, at ${length / 1000} KB`, () => {
      const plain = repeatTo('GET /pkce/challenge?scope=openid plain words ', length);
      const calls = Math.max(5, Math.round(600_000 / length));
      const base = perCall(plain, calls);
      const ratios: Record<string, number> = {};
      for (const [name, unit] of Object.entries(ADVERSARIAL)) {
        const text = repeatTo(unit, length);
        ratios[name] = Math.round(perCall(text, calls) / base);
      }
      const slow = Object.entries(ratios).filter(([, ratio]) => ratio > 20);
      assert.deepEqual(slow, [], `cost relative to plain text: ${JSON.stringify(ratios)}`);
    });
  }

  it('still finds a JWT glued to other characters, as the regex did', () => {
    const jwt = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.${'s'.repeat(20)}`;
    for (const text of [
      `id_token%3D${jwt}`,
      `xx${jwt}.more`,
      `eyJeyJeyJ${jwt}`,
      `eyJabc.${jwt}`,
      `a ${jwt} b ${jwt}`,
    ])
      assert.ok(!scrubText(text).includes('sssss'), text);
    // Not a JWT: too short a segment, or one dot only.
    for (const text of ['eyJabcd.efghi.jkl', 'eyJabcde.efgh.jkl', 'eyJabcde.efghijk'])
      assert.equal(scrubText(text), text);
  });
});

describe('long URLs and messages are cut before they are scrubbed', () => {
  it('logs a 15 KB request path cut to the URL limit, with a marker', () => {
    const { lines, log } = captureLogs();
    const url = `/${repeatTo('eyJ', 15_000)}`;
    log.info({ req: { method: 'GET', url, headers: {} } }, `No such endpoint: GET ${url}`);
    const line = JSON.parse(lines[0]!) as { req: { url: string }; msg: string };
    assert.ok(line.req.url.length <= MAX_LOGGED_URL + 40, `url of ${line.req.url.length}`);
    assert.match(line.req.url, /^\/[eyJ]{1900,} …\[\d+ more characters\]$/);
    assert.ok(line.msg.length <= MAX_LOGGED_MESSAGE + 40, `message of ${line.msg.length}`);
    assert.match(line.msg, / …\[\d+ more characters\]$/);
  });

  it('cuts error messages and stacks but keeps the frames', () => {
    const { lines, log } = captureLogs();
    const error = new Error(`upstream answered ${'x'.repeat(20_000)}`);
    log.error({ err: error }, 'failed');
    log.error(error);
    for (const text of lines) {
      const line = JSON.parse(text) as { err: { message: string; stack: string }; msg: string };
      assert.ok(line.err.message.length <= MAX_LOGGED_MESSAGE + 40);
      assert.ok(line.msg.length <= MAX_LOGGED_MESSAGE + 40);
      assert.ok(line.err.stack.length < 2 * MAX_LOGGED_MESSAGE);
      assert.match(line.err.stack, /\n\s+at /);
    }
  });

  // Each secret in the context the scrubber recognises; the cut is moved across it, one character at a time.
  const verifier = randomBytes(32).toString('base64url');
  const longToken = randomBytes(240).toString('base64url'); // 320 characters
  const jwt = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.${randomBytes(64).toString('base64url')}`;
  const shapes: Array<[string, string, string]> = [
    ['a query parameter', `/cb?state=x&code=${verifier}&iss=y`, verifier],
    ['a JSON member', `upstream said {"code_verifier":"${verifier}","ok":1}`, verifier],
    ['a form body', `body client_id=app&code_verifier=${verifier}`, verifier],
    ['an Authorization header', `header Authorization: Bearer ${verifier} sent`, verifier],
    ['a JWT', `got ${jwt} back`, jwt],
    ['a long token in JSON', `upstream said {"refresh_token":"${longToken}"}`, longToken],
  ];

  for (const [shape, template, secret] of shapes) {
    it(`never keeps a usable prefix of a secret the cut falls in: ${shape}`, () => {
      const { lines, log } = captureLogs();
      const at = template.indexOf(secret);
      // Everything the cut may hide stays hidden: with a long secret, at least 128 characters.
      const allowed = Math.max(7, secret.length - 128);
      for (let cut = at - 4; cut <= at + secret.length + 6; cut++) {
        const filler = repeatTo('lorem ipsum ', MAX_LOGGED_MESSAGE - cut);
        log.info(`${filler}${template}`);
        log.info({ req: { method: 'GET', url: `${filler.slice(2048)}${template}`, headers: {} } });
        log.info({ req: { url: `${repeatTo('/p', MAX_LOGGED_URL - cut)}${template}` } });
        // Where text is cut and scrubbed outside a JSON line (JSON stays unescaped).
        lines.push(scrubText(truncateForLog(`${filler}${template}`, MAX_LOGGED_MESSAGE)));
      }
      assert.ok(lines.length > 4 * secret.length);
      for (const line of lines) {
        const leaked = leakedPrefix(line, secret);
        assert.ok(leaked <= allowed, `${leaked} characters of the secret in: ${line.slice(-300)}`);
      }
    });
  }
});

describe('one redactor for URLs shown to people', () => {
  it('hides userinfo and secret parameters, keeps the rest', () => {
    assert.equal(
      redactUrl('redis://user:pa55@10.0.0.1:6379/2'),
      'redis://[redacted]@10.0.0.1:6379/2',
    );
    assert.equal(redactUrl('rediss://only-a-token@h:6380'), 'rediss://[redacted]@h:6380');
    assert.equal(redactUrl('redis://u:p@ss@h'), 'redis://[redacted]@h');
    assert.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
    assert.equal(
      redactUrl('https://idp.example/authorize?client_id=app&state=abc123&nonce=n0nce&x=1'),
      'https://idp.example/authorize?client_id=app&state=[redacted]&nonce=[redacted]&x=1',
    );
    // Not a URL the parser accepts, still no password.
    assert.ok(!redactUrl('//user:pa55@host').includes('pa55'));
    // In a log line: one JSON field, never two.
    assert.equal(scrubText('{"a":"see //x","b":"y@z"}'), '{"a":"see //x","b":"y@z"}');
  });

  it('a mistyped --store and an unreachable Redis never show the password', async () => {
    const password = 'pa55word-0123456789';
    assert.throws(
      () => loadConfig({ argv: ['--store', `redis:/admin:${password}@127.0.0.1:6379`], env: {} }),
      (error: unknown) =>
        error instanceof BrokerError &&
        error.code === 'config_invalid' &&
        /--store must be/.test(error.message) &&
        !error.message.includes(password),
    );
    const port = await freePort();
    const { lines, log } = captureLogs();
    await assert.rejects(
      createFlowStore({
        url: `redis://admin:${password}@127.0.0.1:${port}`,
        key: randomBytes(32).toString('hex'),
        prefix: 'x:',
        ttlMs: 1000,
        maxFlows: 1,
        logger: log,
      }),
      (error: unknown) =>
        error instanceof BrokerError &&
        error.code === 'startup_failed' &&
        error.message.includes(`127.0.0.1:${port}`) &&
        !error.message.includes(password),
    );
    for (const line of lines) assert.ok(!line.includes(password), line);
  });
});
