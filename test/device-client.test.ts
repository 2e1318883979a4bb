/**
 * The client of the broker's device endpoints, over a stub transport: the
 * answer shapes and error codes of issue 12 as login reads them, and the
 * retries no real run can time well (the end to end: login-device.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDeviceSignIn, waitForDeviceToken } from '../src/cli/device-client.js';
import { BrokerClient } from '../src/cli/sign-in.js';

function problem(status: number, code: string, detail = code): Response {
  return new Response(JSON.stringify({ status, code, detail, title: code }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

function clientAnswering(...answers: Response[]): { client: BrokerClient; sent: string[] } {
  const sent: string[] = [];
  const transport: typeof fetch = async (input, init) => {
    sent.push(`${init?.method} ${new URL(String(input)).pathname} ${String(init?.body ?? '')}`);
    const next = answers.shift();
    if (next === undefined) throw new Error('one request too many');
    return next;
  };
  return { client: new BrokerClient('http://127.0.0.1:1000', undefined, transport), sent };
}

const device = {
  user_code: 'WDJB-MJHT',
  verification_uri: 'https://op.example/device',
  expires_in: 600,
  interval: 5,
  handle: 'h'.repeat(43),
};
const signal = new AbortController().signal;

describe('device client', () => {
  it('POST /device/code answers the device; no device flow (400, or no such route) is undefined', async () => {
    const ok = clientAnswering(Response.json({ schema: {}, device }));
    assert.deepEqual(await startDeviceSignIn(ok.client, {}, signal), device);
    assert.deepEqual(ok.sent, ['POST /device/code {}']);
    const unsupported = clientAnswering(problem(400, 'device_flow_unsupported'));
    assert.equal(await startDeviceSignIn(unsupported.client, {}, signal), undefined);
    const old = clientAnswering(problem(404, 'not_found'));
    assert.equal(await startDeviceSignIn(old.client, {}, signal), undefined);
    const other = clientAnswering(problem(400, 'invalid_request', 'domain is not configured'));
    await assert.rejects(startDeviceSignIn(other.client, {}, signal), /domain is not configured/);
  });

  it('POST /device/token asks again after 504 wait_timeout, and ends on 403 and 410', async () => {
    const answer = { schema: {}, auth0: { oAuth: { token: { access_token: 'at' } } } };
    const waited = clientAnswering(
      problem(504, 'wait_timeout'),
      problem(504, 'wait_timeout'),
      Response.json(answer),
    );
    assert.deepEqual(await waitForDeviceToken(waited.client, device.handle, signal), answer);
    assert.deepEqual(
      waited.sent,
      Array(3).fill(`POST /device/token {"handle":"${device.handle}"}`),
    );

    const denied = clientAnswering(problem(403, 'access_denied', 'The user declined.'));
    await assert.rejects(
      waitForDeviceToken(denied.client, device.handle, signal),
      (error: Error & { code?: string }) =>
        error.code === 'access_denied' && /The user declined\./.test(error.message),
    );
    const expired = clientAnswering(problem(410, 'expired_token', 'The code has expired.'));
    await assert.rejects(
      waitForDeviceToken(expired.client, device.handle, signal),
      /POST \/device\/token failed: The code has expired\./,
    );
  });
});
