/**
 * A device sign-in (RFC 8628) whose user-code step a real headless Chromium
 * does at the dev provider's pages, as a person on their phone would: the code
 * typed at the verification URI, confirmed, login, consent, the success page;
 * meanwhile POST /device/token waits and then answers with the tokens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { PKCE } from '../src/protocol/models.js';
import { browserAvailability, launchChromium } from './support/browser.js';
import { postJson, startStack, type Stack } from './support/stack.js';

const available = browserAvailability('device browser suite');

describe(
  'device sign-in with the user-code step in Chromium',
  { skip: !available.ok && available.reason },
  () => {
    let stack: Stack;
    let browser: Browser;
    before(async () => {
      stack = await startStack({ provider: { deviceInterval: 1 } });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await stack?.close();
    });

    it('types the code, confirms it, signs in and consents; /device/token answers with the tokens', async () => {
      const started = await stack.api('/device/code', { method: 'POST' });
      assert.equal(started.status, 200);
      const { device } = (await started.json()) as {
        device: { user_code: string; verification_uri: string; handle: string };
      };
      const waiting = stack.api('/device/token', postJson({ handle: device.handle }));

      const context = await browser.newContext();
      const page = await context.newPage();
      const first = await page.goto(device.verification_uri);
      assert.match(first?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
      assert.equal(await page.textContent('h1'), 'Sign in on your device');
      await page.fill('input[name="user_code"]', device.user_code);
      await page.click('#device-submit');
      await page.waitForSelector('#device-user-code');
      assert.equal(await page.textContent('#device-user-code'), device.user_code);
      await page.click('#device-confirm');
      await page.fill('#username', 'demo');
      await page.fill('#password', 'demo');
      await page.click('#login-submit');
      await page.click('#consent-submit');
      await page.waitForSelector('#device-success');
      await context.close();

      const response = await waiting;
      assert.equal(response.status, 200);
      const body = (await response.json()) as PKCE;
      assert.equal(body.auth0?.user?.user_id, stack.devProvider.user.sub);
      assert.ok(body.auth0?.oAuth.token?.id_token);
    });
  },
);
