/**
 * Two providers across two in-process brokers sharing one Redis (issue 11):
 * both brokers have the same `providers` list and the second broker's
 * callback as redirect URI, so a flow starts and waits on the first while
 * the provider's form_post lands on the second. The flow's provider id
 * travels in the sealed record: the second broker judges the callback with
 * the flow's provider, and the code is exchanged there and nowhere else.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, test } from 'node:test';
import * as Pieces from '@pieces.app/pieces-os-client';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import type { PKCE } from '../src/protocol/models.js';
import { freePort, redisSkip, startRedis, type RedisServer } from './support/redis.js';
import { postJson, urlQueue } from './support/stack.js';

const KEY = randomBytes(32).toString('hex');

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

if (redisSkip) {
  test('two providers across two brokers sharing Redis', { skip: redisSkip }, () => {});
} else {
  describe('two providers across two brokers sharing Redis', { timeout: 60_000 }, () => {
    let redis: RedisServer;
    let auth0: DevProvider;
    let descope: DevProvider;
    let first: RunningBroker;
    let second: RunningBroker;
    const urls = urlQueue();

    before(async () => {
      redis = await startRedis();
      [auth0, descope] = await Promise.all([
        startDevProvider({ clientId: 'client-auth0' }),
        startDevProvider({ clientId: 'P2descope' }),
      ]);
      const secondPort = await freePort();
      const redirectUri = `http://127.0.0.1:${secondPort}/pkce/response/code`;
      const file = JSON.stringify({
        providers: [
          { id: 'auth0', kind: 'auth0', issuer: auth0.issuer, clientId: auth0.clientId },
          { id: 'descope', kind: 'descope', issuer: descope.issuer, clientId: descope.clientId },
        ],
      });
      const configOn = (port: number) =>
        loadConfig({
          argv: [
            ...['--port', String(port), '--par', 'never', '--redirect-uri', redirectUri],
            ...['--store', redis.url, '--store-key', KEY],
          ],
          env: {},
          readFile: () => file,
        }).config;
      const logger = createLogger({ level: 'silent' });
      first = await startBroker({
        config: configOn(0),
        logger,
        openAuthorizeUrl: (url) => urls.push(url),
      });
      second = await startBroker({ config: configOn(secondPort), logger });
      for (const provider of [auth0, descope]) provider.setRedirectUris([redirectUri]);
    });
    after(async () => {
      await first?.close();
      await second?.close();
      await auth0?.close();
      await descope?.close();
      await redis?.stop();
    });

    /** Starts on the first broker; the provider's form_post lands on the second. */
    async function signIn(domain: string | undefined) {
      const challenge = (await json<PKCE>(await fetch(`${first.url}/pkce/challenge`))).challenge!;
      const code = fetch(
        `${first.url}/pkce/code`,
        postJson({ state: challenge.state, ...(domain !== undefined && { domain }) }),
      );
      const url = await urls.next();
      return { challenge, code, url };
    }

    it('keeps each flow with its provider across brokers, interleaved', async () => {
      const ofDescope = await signIn(new URL(descope.issuer).host);
      const ofAuth0 = await signIn(undefined);
      assert.equal(ofDescope.url.origin, new URL(descope.issuer).origin);
      assert.equal(ofAuth0.url.origin, new URL(auth0.issuer).origin);

      const loginAuth0 = await scriptedLogin(ofAuth0.url, { accept: 'application/json' });
      assert.equal(loginAuth0.callbackResponse.status, 200);
      const loginDescope = await scriptedLogin(ofDescope.url, { accept: 'application/json' });
      assert.equal(loginDescope.callbackResponse.status, 200);
      assert.equal(new URL(loginDescope.callbackResponse.url).port, String(second.port));

      const codeDescope = (await json<PKCE>(await ofDescope.code)).result!.code;
      const codeAuth0 = (await json<PKCE>(await ofAuth0.code)).result!.code;

      // Exchanged on the second broker, which did not start either flow.
      const tokenDescope = await fetch(
        `${second.url}/pkce/token`,
        postJson({
          grant_type: 'authorization_code',
          code: codeDescope,
          code_verifier: ofDescope.challenge.verifier,
        }),
      );
      assert.equal(tokenDescope.status, 200);
      const parsed = Pieces.PKCEFromJSON(await json(tokenDescope));
      assert.equal(parsed.auth0, undefined);
      assert.equal(parsed.descope?.user?.userId, descope.user.sub);

      const tokenAuth0 = await fetch(
        `${second.url}/pkce/token`,
        postJson({
          grant_type: 'authorization_code',
          code: codeAuth0,
          code_verifier: ofAuth0.challenge.verifier,
        }),
      );
      assert.equal(tokenAuth0.status, 200);
      const body = await json<PKCE>(tokenAuth0);
      assert.equal(body.auth0?.client, auth0.clientId);
      assert.equal(body.auth0?.domain, new URL(auth0.issuer).host);
    });
  });
}
