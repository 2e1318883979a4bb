/**
 * RP-initiated logout in real Chromium: the logout URL that POST /pkce/logout
 * answers is accepted by the bundled provider's end-session page, whose
 * confirmation ends the provider session (the next sign-in asks for the
 * password again) and returns the browser to the allowed
 * post_logout_redirect_uri.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PKCE } from '../src/protocol/models.js';
import { browserAvailability, launchChromium } from './support/browser.js';
import { ROOT } from './support/cli.js';
import { postJson, startStack, type Stack } from './support/stack.js';

const available = browserAvailability('logout browser suite');
const OUTPUT = join(ROOT, 'test-output', 'browser');

describe(
  'RP-initiated logout in headless Chromium',
  { skip: !available.ok && available.reason },
  () => {
    let browser: Browser;
    let stack: Stack;
    let signedOut: Server;
    let signedOutUrl: string;
    let context: BrowserContext;
    let page: Page;

    before(async () => {
      mkdirSync(OUTPUT, { recursive: true });
      signedOut = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<h1 id="bye">Signed out</h1>');
      });
      await new Promise<void>((resolve) => signedOut.listen(0, '127.0.0.1', resolve));
      signedOutUrl = `http://127.0.0.1:${(signedOut.address() as AddressInfo).port}/signed-out`;
      [browser, stack] = await Promise.all([
        launchChromium(),
        startStack({ argv: ['--allow-redirect-uri', signedOutUrl] }),
      ]);
      context = await browser.newContext();
      page = await context.newPage();
    });
    after(async () => {
      await context?.close();
      await browser?.close();
      await stack?.close();
      signedOut?.closeAllConnections();
      await new Promise<void>((resolve) =>
        signedOut ? signedOut.close(() => resolve()) : resolve(),
      );
    });

    /**
     * A sign-in in this browser context, through the provider's pages: whether
     * they asked for the password (no provider session) or went straight to
     * consent. The token answer's OAuth token.
     */
    async function signIn(): Promise<{ askedPassword: boolean; idToken: string }> {
      const challenge = ((await (await stack.api('/pkce/challenge')).json()) as PKCE).challenge!;
      const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
      await page.goto((await stack.nextAuthorizeUrl()).href);
      const first = await page.waitForSelector('#login-form, #consent-form');
      const askedPassword = (await first.getAttribute('id')) === 'login-form';
      if (askedPassword) {
        await page.fill('#username', 'demo');
        await page.fill('#password', 'demo');
        await page.click('#login-submit');
      }
      await page.click('#consent-submit');
      await page.waitForSelector('h1#title');
      const { code } = ((await (await waiting).json()) as PKCE).result!;
      const token = await stack.api(
        '/pkce/token',
        postJson({ grant_type: 'authorization_code', code, code_verifier: challenge.verifier }),
      );
      assert.equal(token.status, 200);
      return {
        askedPassword,
        idToken: ((await token.json()) as PKCE).auth0!.oAuth.token!.id_token!,
      };
    }

    it('the end-session page takes the logout URL, signs out and returns to the allowed URI', async () => {
      assert.equal((await signIn()).askedPassword, true);
      // The control: with a provider session, the next sign-in skips the password.
      const { askedPassword, idToken } = await signIn();
      assert.equal(askedPassword, false);

      const response = await stack.api(
        '/pkce/logout',
        postJson({ id_token_hint: idToken, post_logout_redirect_uri: signedOutUrl }),
      );
      assert.equal(response.status, 200);
      const { logout_url } = (await response.json()) as { logout_url: string };

      await page.goto(logout_url);
      await page.waitForSelector('#logout-confirm');
      await page.screenshot({ path: join(OUTPUT, 'logout-confirm.png') });
      await Promise.all([page.waitForURL(signedOutUrl), page.click('#logout-confirm')]);
      assert.equal(await page.textContent('#bye'), 'Signed out');

      assert.equal((await signIn()).askedPassword, true, 'the provider session has ended');
    });

    it('without a post_logout_redirect_uri, the provider shows its own signed-out page', async () => {
      const response = await stack.api('/pkce/logout', postJson({}));
      const { logout_url } = (await response.json()) as { logout_url: string };
      await page.goto(logout_url);
      await page.click('#logout-confirm');
      await page.waitForSelector('#logout-success');
      assert.match((await page.textContent('#logout-success')) ?? '', /signed out/);
      await page.screenshot({ path: join(OUTPUT, 'logout-success.png') });
    });
  },
);
