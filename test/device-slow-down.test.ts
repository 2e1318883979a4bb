/**
 * RFC 8628 §3.5 against a provider of the test's own (a node:http server):
 * it answers the device polls with slow_down twice, authorization_pending,
 * then tokens. The poll spacing is measured on a ManualClock, as the provider
 * saw it: its own interval, +5 s on each slow_down, kept after. Also the pure
 * rule, nextPollInterval.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { nextPollInterval } from '../src/flow/device.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { discoverProvider } from '../src/provider/oidc.js';
import { ManualClock } from './support/manual-clock.js';
import { postJson } from './support/stack.js';

describe('nextPollInterval', () => {
  it('adds 5 s on slow_down and keeps the interval on authorization_pending', () => {
    assert.equal(nextPollInterval(5_000, 'slow_down'), 10_000);
    assert.equal(nextPollInterval(10_000, 'slow_down'), 15_000);
    assert.equal(nextPollInterval(7_000, 'authorization_pending'), 7_000);
  });
});

describe('slow_down from the provider', () => {
  const clock = new ManualClock();
  const answers = ['slow_down', 'slow_down', 'authorization_pending', 'tokens'];
  const pollTimes: number[] = [];
  let server: Server;
  let broker: RunningBroker;
  let startedAt = 0;

  before(async () => {
    server = createServer((request, response) => {
      const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const send = (status: number, body: unknown) => {
        response.writeHead(status, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
        });
        response.end(JSON.stringify(body));
      };
      if (request.url === '/.well-known/openid-configuration') {
        return send(200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          device_authorization_endpoint: `${issuer}/device`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        });
      }
      if (request.url === '/device') {
        startedAt = clock.now();
        return send(200, {
          device_code: 'the-device-code',
          user_code: 'ABCD-EFGH',
          verification_uri: `${issuer}/activate`,
          expires_in: 600,
          interval: 3,
        });
      }
      if (request.url === '/token') {
        pollTimes.push(clock.now());
        const answer = answers.shift() ?? 'expired_token';
        if (answer === 'tokens')
          return send(200, { access_token: 'at', token_type: 'Bearer', expires_in: 60 });
        return send(400, { error: answer });
      }
      send(404, { error: 'not_found' });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = await discoverProvider({ issuer, clientId: 'device-test' });
    broker = await startBroker({
      config: {
        ...loadConfig({ argv: ['--port', '0'], env: {}, readFile: () => undefined }).config,
        issuer,
        clientId: 'device-test',
      },
      provider,
      logger: createLogger({ level: 'silent' }),
      deviceScheduler: clock,
    });
  });
  after(async () => {
    await broker?.close();
    server?.close();
    server?.closeAllConnections();
  });

  it('waits the provider’s interval, +5 s for each slow_down, and keeps the longer interval', async () => {
    const started = await fetch(`${broker.url}/device/code`, { method: 'POST' });
    assert.equal(started.status, 200);
    const { device } = (await started.json()) as { device: { handle: string; interval: number } };
    assert.equal(device.interval, 3);
    const waiting = fetch(`${broker.url}/device/token`, postJson({ handle: device.handle }));
    for (let poll = 0; poll < 4; poll++) await clock.fire();
    const response = await waiting;
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as PKCE).auth0?.oAuth.token?.access_token, 'at');

    const spacing = pollTimes.map((at, i) => at - (i === 0 ? startedAt : pollTimes[i - 1]!));
    assert.deepEqual(spacing, [3_000, 8_000, 13_000, 13_000]);
    assert.equal(clock.pending, 0);
  });
});
