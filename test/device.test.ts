/**
 * The Device Authorization Grant (RFC 8628) through the API, against the
 * bundled provider: POST /device/code, the person's user-code step done
 * scripted (src/devprovider/login.ts), POST /device/token; declined, expired,
 * unknown handles, and a provider with no device endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { scriptedDeviceLogin } from '../src/devprovider/login.js';
import type { PKCE } from '../src/protocol/models.js';
import { postJson, startStack, type Stack } from './support/stack.js';

interface DeviceAnswer {
  schema: unknown;
  device: {
    user_code: string;
    verification_uri: string;
    verification_uri_complete?: string;
    expires_in: number;
    interval: number;
    handle: string;
  };
}

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function startDevice(stack: Stack, body?: unknown): Promise<DeviceAnswer['device']> {
  const response = await stack.api(
    '/device/code',
    body === undefined ? { method: 'POST' } : postJson(body),
  );
  assert.equal(response.status, 200, await response.clone().text());
  const answer = await json<DeviceAnswer>(response);
  assert.deepEqual(answer.schema, { migration: 0, semantic: 'MAJOR_0_MINOR_0_PATCH_1' });
  return answer.device;
}

const deviceToken = (stack: Stack, handle: string) =>
  stack.api('/device/token', postJson({ handle }));

describe('device sign-in through the API, scripted', () => {
  let stack: Stack;
  before(async () => {
    // The provider's own interval: 1 s between polls.
    stack = await startStack({ provider: { deviceInterval: 1 } });
  });
  after(async () => {
    await stack.close();
  });

  it('signs in: user code typed at the verification URI, tokens with a validated ID token', async () => {
    const device = await startDevice(stack);
    assert.equal(device.interval, 1);
    assert.ok(device.expires_in > 0);
    assert.equal(new URL(device.verification_uri).origin, new URL(stack.devProvider.issuer).origin);
    assert.ok(Buffer.from(device.handle, 'base64url').length >= 16);
    // The provider's device_code is nowhere in the answer.
    assert.equal(JSON.stringify(device).includes('device_code'), false);

    const waiting = deviceToken(stack, device.handle);
    assert.equal(await scriptedDeviceLogin(device.verification_uri, device.user_code), 'signed-in');
    const response = await waiting;
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = await json<PKCE>(response);
    assert.equal(body.token?.grant_type, 'urn:ietf:params:oauth:grant-type:device_code');
    const token = body.auth0!.oAuth.token!;
    assert.equal(token.token_type, 'Bearer');
    assert.ok(token.access_token.length > 0);
    const claims = decodeJwt(token.id_token!);
    assert.equal(claims.sub, stack.devProvider.user.sub);
    assert.equal(claims.iss, stack.devProvider.issuer);
    assert.equal(body.auth0!.user?.user_id, stack.devProvider.user.sub);

    // Delivered once: the handle means nothing afterwards.
    const again = await deviceToken(stack, device.handle);
    assert.equal(again.status, 404);
  });

  it('signs in with the complete verification URI (what a QR code carries)', async () => {
    const device = await startDevice(stack, { scope: 'openid profile' });
    assert.ok(device.verification_uri_complete);
    const waiting = deviceToken(stack, device.handle);
    assert.equal(
      await scriptedDeviceLogin(device.verification_uri_complete, undefined),
      'signed-in',
    );
    const response = await waiting;
    assert.equal(response.status, 200);
    const body = await json<PKCE>(response);
    assert.equal(body.auth0!.oAuth.token!.scope, 'openid profile');
  });

  it('answers 403 access_denied when the person declines', async () => {
    const device = await startDevice(stack);
    const waiting = deviceToken(stack, device.handle);
    assert.equal(
      await scriptedDeviceLogin(device.verification_uri, device.user_code, { deny: true }),
      'declined',
    );
    const response = await waiting;
    assert.equal(response.status, 403);
    assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
    const problem = await json(response);
    assert.equal(problem['code'], 'access_denied');
    assert.equal(problem['error'], 'access_denied');
  });

  it('answers 404 for an unknown handle and 400 for a malformed body', async () => {
    const unknown = await deviceToken(stack, 'no-such-handle');
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown))['code'], 'not_found');
    const missing = await stack.api('/device/token', postJson({}));
    assert.equal(missing.status, 400);
    const extra = await stack.api('/device/code', postJson({ client_secret: 'x' }));
    assert.equal(extra.status, 400);
  });

  it('refuses a domain that is not the configured provider', async () => {
    const response = await stack.api('/device/code', postJson({ domain: 'example.com' }));
    assert.equal(response.status, 400);
    assert.equal((await json(response))['code'], 'invalid_request');
  });

  it('lists both endpoints in the OpenAPI document', async () => {
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(
      await stack.api('/openapi.json'),
    );
    assert.ok(doc.paths['/device/code']?.['post']);
    assert.ok(doc.paths['/device/token']?.['post']);
  });
});

describe('device sign-in that expires', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ provider: { deviceInterval: 1, deviceCodeTtl: 2 } });
  });
  after(async () => {
    await stack.close();
  });

  it('answers 410 expired_token once the device code expired, and again when asked later', async () => {
    const device = await startDevice(stack);
    assert.equal(device.expires_in, 2);
    const response = await deviceToken(stack, device.handle);
    assert.equal(response.status, 410);
    const problem = await json(response);
    assert.equal(problem['code'], 'expired_token');
    assert.equal(problem['error'], 'expired_token');
    assert.equal((await deviceToken(stack, device.handle)).status, 410);
  });
});

describe('a provider with no device endpoint', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ provider: { deviceFlow: false } });
  });
  after(async () => {
    await stack.close();
  });

  it('answers 400 device_flow_unsupported, saying the provider has no device endpoint', async () => {
    const response = await stack.api('/device/code', { method: 'POST' });
    assert.equal(response.status, 400);
    const problem = await json(response);
    assert.equal(problem['code'], 'device_flow_unsupported');
    assert.match(String(problem['detail']), /no device authorization endpoint/);
  });
});
