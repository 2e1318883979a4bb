/**
 * The callback's `error` and `error_description` are provider text that anyone
 * holding the state can write. Whatever arrives, the waiting /pkce/code, the
 * callback page and the log get a clean OAuth code and one short printable
 * line. End to end against the bundled provider, plus the two rules on their own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PKCE } from '../src/protocol/models.js';
import { oauthErrorCode, sanitize } from '../src/provider/http-util.js';
import { postJson, startStack, type Stack } from './support/stack.js';

/** What "clean" means: no whitespace but the plain space, no controls, no format characters, no lone surrogates. */
const UNCLEAN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\t\n\r]/u;

function assertCleanLine(text: string): void {
  assert.ok(!UNCLEAN.test(text), `unclean text: ${JSON.stringify(text.slice(0, 80))}`);
  assert.ok(Array.from(text).length <= 300, `${Array.from(text).length} characters`);
  assert.equal(text, text.trim());
}

const DIRTY_DESCRIPTION =
  'Line one\r\nLine two\u001b[31m red\u001b[0m\u0000 \u0085next\u2028line \u202egnp.exe' +
  'x'.repeat(10 * 1024);
const BOGUS_ERROR = `<script>alert(1)</script>${'e'.repeat(1024)}`;

/** The RFC 6749 §4.1.2.1 and OIDC Core §3.1.2.6 codes: each reaches the app as sent. */
const AUTHORIZATION_ERRORS = [
  'invalid_request',
  'unauthorized_client',
  'access_denied',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
];

describe('oauthErrorCode', () => {
  it('keeps every RFC 6749 and OIDC authorization error code', () => {
    for (const code of AUTHORIZATION_ERRORS) assert.equal(oauthErrorCode(code), code);
  });

  it('keeps unknown codes shaped like registered ones (extension codes)', () => {
    for (const code of ['org_internal', 'user_cancelled_authorize', 'invalid_target'])
      assert.equal(oauthErrorCode(code), code);
  });

  it('replaces everything else with server_error, RFC-legal syntax included', () => {
    for (const bogus of [
      BOGUS_ERROR,
      '<script>',
      'a'.repeat(1024),
      'a'.repeat(65),
      'Access Denied',
      'access-denied',
      'ACCESS_DENIED',
      '"quoted"',
      'access_denied\n',
      '',
    ])
      assert.equal(oauthErrorCode(bogus), 'server_error', JSON.stringify(bogus.slice(0, 40)));
  });
});

describe('sanitize', () => {
  it('makes one printable line: controls, ANSI escapes, NUL, NEL, U+2028 and bidi overrides go', () => {
    const clean = sanitize(DIRTY_DESCRIPTION);
    assertCleanLine(clean);
    assert.ok(clean.startsWith('Line one Line two [31m red [0m next line gnp.exe'), clean);
    assert.ok(clean.endsWith('…'));
  });

  it('cuts at 300 characters, the ellipsis included, without splitting a surrogate pair', () => {
    assert.equal(sanitize('a'.repeat(300)), 'a'.repeat(300));
    assert.equal(sanitize('a'.repeat(301)), `${'a'.repeat(299)}…`);
    assert.equal(sanitize('😀'.repeat(300)), '😀'.repeat(300));
    assert.equal(sanitize('😀'.repeat(301)), `${'😀'.repeat(299)}…`);
    assert.equal(sanitize(`a${'😀'.repeat(300)}`), `a${'😀'.repeat(298)}…`);
  });

  it('keeps ordinary text, accents and all', () => {
    assert.equal(
      sanitize('  Connexion refusée par l’utilisateur  '),
      'Connexion refusée par l’utilisateur',
    );
  });
});

describe('a dirty error= at the callback', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  /** Starts a flow, sends the callback a browser would with `params`, and returns both answers. */
  async function refused(params: Record<string, string>) {
    const challenge = (await (await stack.api('/pkce/challenge')).json()) as PKCE;
    const state = challenge.challenge!.state;
    const waiting = stack.api('/pkce/code', postJson({ state }));
    await stack.nextAuthorizeUrl();
    const page = await stack.api('/pkce/response/code', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
      },
      body: new URLSearchParams({ state, iss: stack.devProvider.issuer, ...params }),
    });
    const html = await page.text();
    // Checked before waiting: a callback refused outright would leave /pkce/code pending.
    assert.equal(page.status, 403, html.slice(-400));
    const answer = await waiting;
    const problem = (await answer.json()) as Record<string, unknown>;
    const detail = /<p class="detail" id="detail">([^<]*)<\/p>/.exec(html)?.[1];
    return {
      page,
      html,
      detail: detail === undefined ? undefined : unescape(detail),
      answer,
      problem,
    };
  }

  /** The page escapes &<>"'` as numeric references. */
  function unescape(html: string): string {
    return html.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
  }

  it('reaches the waiting /pkce/code as a clean 403, and the page shows the same clean text', async () => {
    const { page, html, detail, answer, problem } = await refused({
      error: 'access_denied',
      error_description: DIRTY_DESCRIPTION,
    });
    assert.equal(answer.status, 403);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(problem.code, 'access_denied');
    assert.equal(problem.error, 'access_denied');
    const text = String(problem.detail);
    assertCleanLine(text);
    assert.ok(text.startsWith('Line one Line two [31m red [0m next line gnp.exe'), text);
    assert.equal(problem.error_description, text);

    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(detail, text);
    assert.ok(!UNCLEAN.test(html.replace(/\n/g, '')), 'the page carries control characters');

    // The broker logs the refusal; the log line is as clean as the answer.
    const refusals = stack.logs
      .map((line) => JSON.parse(line) as { msg?: string })
      .filter((entry) => entry.msg?.startsWith('Line one'));
    assert.ok(refusals.length > 0, 'the refusal was not logged');
    for (const entry of refusals) assertCleanLine(entry.msg!);
  });

  it('replaces a bogus error code, and shows the generic one instead', async () => {
    const { html, detail, answer, problem } = await refused({ error: BOGUS_ERROR });
    assert.equal(answer.status, 403);
    assert.equal(problem.error, 'server_error');
    assertCleanLine(String(problem.detail));
    assert.ok(!String(problem.detail).includes('script'), String(problem.detail));
    assert.match(String(problem.detail), /server_error/);

    assert.equal(detail, problem.detail);
    assert.ok(!html.includes('script'), 'the page shows the bogus code');
  });

  it('keeps a well-formed extension code and a clean description together', async () => {
    const { answer, problem } = await refused({
      error: 'org_internal',
      error_description: 'Only members of the organisation may sign in.',
    });
    assert.equal(answer.status, 403);
    assert.equal(problem.error, 'org_internal');
    assert.equal(problem.detail, 'Only members of the organisation may sign in.');
  });

  it('treats a description that cleans to nothing as absent', async () => {
    const { problem } = await refused({
      error: 'login_required',
      error_description: '\u0000\r\n\u001b\u202e ',
    });
    assert.equal(problem.error, 'login_required');
    assert.match(String(problem.detail), /refused the sign-in \(login_required\)/);
  });
});
