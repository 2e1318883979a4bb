/**
 * `token` renews through the kept discovery document (credentials/refresh.ts):
 * a kept token_endpoint that cannot be reached is tried once more on a fresh
 * document that moved it; one that answers with an OAuth error is not, and
 * the refresh token is not presented again.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { refreshAtProvider, type ProviderOptions } from '../src/credentials/refresh.js';
import type { StoredSession } from '../src/credentials/session.js';
import { BrokerError } from '../src/errors.js';
import { DiscoveryCache } from '../src/provider/discovery-cache.js';
import { signIn, startStack, type Stack } from './support/stack.js';
import { freePort } from './support/redis.js';

describe('token: refresh through the kept discovery document', () => {
  let stack: Stack;
  let refusing: Server;
  let refusingUrl: string;
  before(async () => {
    stack = await startStack();
    refusing = createServer((_request, response) =>
      response
        .writeHead(400, { 'content-type': 'application/json' })
        .end('{"error":"invalid_grant"}'),
    );
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    refusingUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/token`;
  });
  after(async () => {
    refusing.close();
    await stack.close();
  });

  const options: ProviderOptions = {
    issuer: undefined,
    clientId: undefined,
    clientSecret: undefined,
    providerTimeoutSec: 5,
    discoveryCache: undefined,
  };
  const sessionOf = (refreshToken: string): StoredSession => ({
    providerId: 'default',
    issuer: stack.devProvider.issuer,
    clientId: stack.devProvider.clientId,
    subject: 'someone',
    scopes: [],
    accessToken: 'old',
    refreshToken,
    savedAt: Date.now(),
  });
  const keptWith = async (tokenEndpoint: string) => {
    const cacheDirectory = mkdtempSync(join(tmpdir(), 'pkce-broker-refresh-cache-'));
    const cache = new DiscoveryCache({ cacheDirectory });
    await cache.write(stack.devProvider.issuer, {
      ...stack.broker.provider.metadata,
      token_endpoint: tokenEndpoint,
    });
    const tokenEndpointKept = () =>
      (
        JSON.parse(readFileSync(cache.fileOf(stack.devProvider.issuer), 'utf8')) as {
          metadata: Record<string, unknown>;
        }
      ).metadata['token_endpoint'];
    return { cacheDirectory, tokenEndpointKept };
  };

  it('a kept token_endpoint that cannot be reached falls back to fresh discovery once', async () => {
    const refreshToken = (await signIn(stack)).refresh_token!;
    const dead = `http://127.0.0.1:${await freePort()}/token`;
    const { cacheDirectory, tokenEndpointKept } = await keptWith(dead);
    const tokens = await refreshAtProvider(options, { cacheDirectory })(sessionOf(refreshToken));
    assert.ok(tokens.access_token.length > 0);
    assert.equal(tokenEndpointKept(), stack.broker.provider.metadata['token_endpoint']);
  });

  it('a kept token_endpoint that answers an OAuth error is not retried', async () => {
    const refreshToken = (await signIn(stack)).refresh_token!;
    const { cacheDirectory, tokenEndpointKept } = await keptWith(refusingUrl);
    await assert.rejects(
      refreshAtProvider(options, { cacheDirectory })(sessionOf(refreshToken)),
      (error: unknown) => error instanceof BrokerError && error.code === 'invalid_grant',
    );
    // No fresh discovery (it would have kept the real endpoint), so no second refresh request.
    assert.equal(tokenEndpointKept(), refusingUrl);
    // The refresh token was never spent: it still renews, without the cache.
    const tokens = await refreshAtProvider({ ...options, discoveryCache: false })(
      sessionOf(refreshToken),
    );
    assert.ok(tokens.access_token.length > 0);
  });
});
