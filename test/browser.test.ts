/**
 * A real sign-in in a real browser: `pkce-broker serve` runs as a child process
 * with an --open command that hands the sign-in URL to this test; headless
 * Chromium follows it through the bundled provider's own login and consent
 * pages; the provider's form_post lands on the broker, whose page the browser
 * shows while the waiting POST /pkce/code resolves; then the token exchange.
 * Screenshots go to test-output/browser/. Then web pages on other loopback
 * origins try to fill the broker with flows, and must not.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import type { PKCE } from '../src/protocol/models.js';
import { browserAvailability, launchChromium } from './support/browser.js';
import { ROOT, startCli, type CliProcess } from './support/cli.js';
import { postJson, startStack, type Stack } from './support/stack.js';
import { startUrlHook, type UrlHook } from './support/url-hook.js';

const available = browserAvailability('browser suite');
const OUTPUT = join(ROOT, 'test-output', 'browser');

describe('sign-in in headless Chromium', { skip: !available.ok && available.reason }, () => {
  let browser: Browser;
  let provider: DevProvider;
  let hook: UrlHook;
  let serve: CliProcess;
  let brokerUrl: string;
  let callbackUrl: string;

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    [browser, provider, hook] = await Promise.all([
      launchChromium(),
      startDevProvider({}),
      startUrlHook(),
    ]);
    serve = startCli(
      [
        'serve',
        '--issuer',
        provider.issuer,
        '--client-id',
        provider.clientId,
        '--port',
        '0',
        '--log-level',
        'warn',
        '--open',
        hook.openCommand,
      ],
      { timeoutMs: 120_000 },
    );
    const [, url, callback] = await serve.waitFor(
      'stdout',
      /listening on (\S+) .* callback (\S+)\n/,
    );
    brokerUrl = url!;
    callbackUrl = callback!;
    provider.setRedirectUris([callbackUrl]);
  });

  after(async () => {
    await browser?.close();
    if (serve && serve.child.exitCode === null) {
      serve.child.kill('SIGTERM');
      const { code } = await serve.exited;
      assert.equal(code, 0, `serve should stop cleanly on SIGTERM; stderr: ${serve.stderr()}`);
    }
    await hook?.close();
    await provider?.close();
  });

  /** challenge → POST /pkce/code held open → the URL the broker opened through --open. */
  async function startSignIn(): Promise<{
    state: string;
    verifier: string;
    code: Promise<Response>;
    url: URL;
  }> {
    const challenge = (await (await fetch(`${brokerUrl}/pkce/challenge`)).json()) as PKCE;
    const { state, verifier } = challenge.challenge!;
    const code = fetch(`${brokerUrl}/pkce/code`, postJson({ state }));
    const url = await hook.next();
    // The bundled provider takes pushed requests (PAR): the launcher's command line holds no state.
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.equal(url.href.includes(state), false);
    return { state, verifier, code, url };
  }

  /** The provider's pages, as a person fills them; a fresh context, so no provider session carries over. */
  async function throughProviderPages(
    url: URL,
    choice: 'allow' | 'deny',
  ): Promise<{ page: Page; headers: Record<string, string> }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    const page = await context.newPage();
    await page.goto(url.href);
    await page.fill('#username', 'demo');
    await page.fill('#password', 'demo');
    await page.click('#login-submit');
    await page.waitForSelector(choice === 'allow' ? '#consent-submit' : '#consent-deny');
    // The provider answers the consent with an auto-submitting form_post to the broker's callback.
    const callback = page.waitForResponse(
      (response) => response.url() === callbackUrl && response.request().method() === 'POST',
    );
    await page.click(choice === 'allow' ? '#consent-submit' : '#consent-deny');
    const response = await callback;
    await page.waitForSelector('h1#title');
    return { page, headers: response.headers() };
  }

  it('logs in through the provider pages; form_post reaches the broker; the success page shows; code and token follow', async () => {
    const { state, verifier, code, url } = await startSignIn();
    const { page, headers } = await throughProviderPages(url, 'allow');

    assert.equal(await page.textContent('h1#title'), "You're signed in");
    assert.match((await page.textContent('main')) ?? '', /You can close this tab and return to/);
    assert.equal(new URL(page.url()).origin, new URL(brokerUrl).origin);
    assert.match(headers['content-security-policy'] ?? '', /default-src 'none'/);
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    await page.screenshot({ path: join(OUTPUT, 'success.png') });

    const codeResponse = await code;
    assert.equal(codeResponse.status, 200);
    const result = ((await codeResponse.json()) as PKCE).result!;
    assert.equal(result.state, state);
    // The page never shows the code.
    assert.equal((await page.content()).includes(result.code), false);

    const tokenResponse = await fetch(
      `${brokerUrl}/pkce/token`,
      postJson({ grant_type: 'authorization_code', code: result.code, code_verifier: verifier }),
    );
    assert.equal(tokenResponse.status, 200);
    const token = ((await tokenResponse.json()) as PKCE).auth0!.oAuth.token!;
    assert.equal(token.token_type, 'Bearer');
    assert.ok(token.access_token.length > 0);
    assert.ok(token.refresh_token);
    assert.equal(decodeJwt(token.id_token!).sub, provider.user.sub);
    await page.context().close();
  });

  it('shows the failure page when the person denies, and the waiting code request answers 403', async () => {
    const { code, url } = await startSignIn();
    const { page, headers } = await throughProviderPages(url, 'deny');

    assert.equal(await page.textContent('h1#title'), 'Sign-in failed');
    assert.match((await page.textContent('#detail')) ?? '', /\S/);
    assert.match(headers['content-security-policy'] ?? '', /default-src 'none'/);
    assert.equal(headers['cache-control'], 'no-store');
    await page.screenshot({ path: join(OUTPUT, 'denied.png') });

    const codeResponse = await code;
    assert.equal(codeResponse.status, 403);
    const problem = (await codeResponse.json()) as { error?: string };
    assert.equal(problem.error, 'access_denied');
    await page.context().close();
  });

  it('renders GET /docs from the broker alone, with no request to any other origin', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    const origins = new Set<string>();
    page.on('request', (request) => {
      if (!request.url().startsWith('data:')) origins.add(new URL(request.url()).origin);
    });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(`${brokerUrl}/docs`);
    await page.waitForSelector('.swagger-ui .info .title');
    assert.match((await page.textContent('.swagger-ui .info .title')) ?? '', /pkce-broker/);
    await page.waitForSelector('#operations-PKCE-generateCode');
    await page.screenshot({ path: join(OUTPUT, 'docs.png') });
    assert.deepEqual([...origins], [new URL(brokerUrl).origin]);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe(
  'web pages in Chromium cannot start flows',
  { skip: !available.ok && available.reason },
  () => {
    const REQUESTS = 40;
    let browser: Browser;
    let stack: Stack;
    let pages: Server;
    let pagePort: number;

    before(async () => {
      // At info the broker logs each refusal: the evidence that the page's requests reached it.
      [browser, stack] = await Promise.all([launchChromium(), startStack({ logLevel: 'info' })]);
      // Any page: what matters is its origin, another port on loopback.
      pages = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        response.end('<!doctype html><title>another app</title><p>hello</p>');
      });
      await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
      pagePort = (pages.address() as AddressInfo).port;
    });

    after(async () => {
      await browser?.close();
      if (pages) {
        pages.closeAllConnections();
        await new Promise<void>((resolve) => pages.close(() => resolve()));
      }
      await stack?.close();
    });

    const refusals = () =>
      stack.logs.filter((line) => line.includes('"errorCode":"forbidden_origin"')).length;

    for (const [relation, host] of [
      ['cross-site', 'localhost'],
      ['same-site', '127.0.0.1'],
    ] as const) {
      it(`a ${relation} page (http://${host}:PORT) sends no-cors fetches and images: each reaches the broker, none creates a flow`, async () => {
        const flowsBefore = await stack.broker.store.size();
        const refusedBefore = refusals();
        const target = `${stack.broker.url}/pkce/challenge`;
        const context = await browser.newContext();
        const page = await context.newPage();
        let sent = 0;
        page.on('request', (request) => {
          if (request.url().startsWith(target)) sent++;
        });
        await page.goto(`http://${host}:${pagePort}/`);
        await page.evaluate(
          async ({ url, count }) => {
            const loads: Array<Promise<unknown>> = [];
            for (let i = 0; i < count; i++) {
              loads.push(fetch(url, { mode: 'no-cors' }).catch(() => undefined));
              const image = new Image();
              loads.push(
                new Promise((done) => {
                  image.onload = image.onerror = done;
                  image.src = `${url}?i=${i}`;
                }),
              );
            }
            await Promise.all(loads);
          },
          { url: target, count: REQUESTS },
        );
        await context.close();
        assert.equal(sent, 2 * REQUESTS);
        assert.equal(await stack.broker.store.size(), flowsBefore, 'a web page created flows');
        // Each was answered (the page saw every load end) after the gate refused it.
        assert.equal(refusals() - refusedBefore, 2 * REQUESTS);
        // Apps still get flows: Node's fetch sends no Sec-Fetch-Site.
        assert.equal((await stack.api('/pkce/challenge')).status, 200);
        assert.equal(await stack.broker.store.size(), flowsBefore + 1);
      });
    }
  },
);
