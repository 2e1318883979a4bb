/**
 * Row 2: whole logins. Through the broker, as an app does it — GET
 * /pkce/challenge, POST /pkce/code (held open), the user's login at the
 * bundled provider (scripted), the provider's form_post to the broker's
 * callback, POST /pkce/token — against the same logins done in-process with
 * oauth4webapi straight against the same provider (same scopes, same
 * form_post, ID token checked with the nonce). Both run in this process, one
 * login at a time, alternating, so drift (JIT, GC, the provider's growing
 * store) falls on both alike. The difference is what the broker adds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import * as oauth from 'oauth4webapi';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { loadConfig } from '../src/config/load.js';
import type { DevProvider } from '../src/devprovider/provider.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { createLogger } from '../src/logging.js';
import { formatNumber, formatRatio, type Row } from './format.js';

export const FLOW_ROW = 'whole-flow overhead';
const TARGET_ADDED_MS = 2;
/** The broker's default scopes, asked for by the direct side too. */
const SCOPE = 'openid profile email offline_access';

export interface FlowSettings {
  warmup: number;
  logins: number;
}

interface Side {
  /** Milliseconds of each login. */
  times: number[];
  /** Wall time of all of them, ms. */
  total: number;
}

export interface FlowFigures {
  broker: Side;
  direct: Side;
}

/** The running pieces both sides need. */
interface Harness {
  loginThroughBroker(): Promise<void>;
  loginDirect(): Promise<void>;
  close(): Promise<void>;
}

async function startHarness(devProvider: DevProvider): Promise<Harness> {
  const issuer = new URL(devProvider.issuer);
  const base = loadConfig({ argv: ['--port', '0'], env: {}, readFile: () => undefined }).config;
  // The broker logs at its default level, into a sink that drops the lines (formatting is still paid).
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const logger = createLogger({ level: base.logLevel, destination: sink });
  const opened: Array<(url: URL) => void> = [];
  const broker: RunningBroker = await startBroker({
    // No PAR: the direct side sends the authorize parameters in the URL, so both sides make the
    // same requests to the provider and the difference is the broker's own cost.
    config: { ...base, issuer: devProvider.issuer, clientId: devProvider.clientId, par: 'never' },
    logger,
    openAuthorizeUrl: async (url) => {
      opened.shift()?.(url);
    },
  });

  // The direct side needs something at its redirect URI for the form_post to land on.
  const callbackServer: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () =>
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<!doctype html><p>Signed in.</p>'),
    );
  });
  await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
  const directRedirect = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;
  devProvider.setRedirectUris([broker.redirectUri, directRedirect]);

  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }),
  );
  const client: oauth.Client = { client_id: devProvider.clientId };
  const clientAuth = oauth.None();

  const json = async (response: Response): Promise<Record<string, unknown>> => {
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok)
      throw new Error(`broker answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  };
  const post = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  return {
    async loginThroughBroker() {
      const { challenge } = (await json(await fetch(`${broker.url}/pkce/challenge`))) as {
        challenge: { state: string; verifier: string };
      };
      const authorizeUrl = new Promise<URL>((resolve) => opened.push(resolve));
      const code = fetch(`${broker.url}/pkce/code`, post({ state: challenge.state })).then(json);
      const login = await scriptedLogin(await authorizeUrl);
      await login.callbackResponse.text();
      if (!login.callbackResponse.ok)
        throw new Error(`the broker's callback answered ${login.callbackResponse.status}`);
      const { result } = (await code) as { result: { code: string } };
      const answer = (await json(
        await fetch(
          `${broker.url}/pkce/token`,
          post({
            grant_type: 'authorization_code',
            code: result.code,
            code_verifier: challenge.verifier,
          }),
        ),
      )) as {
        auth0?: { oAuth?: { token?: { access_token?: string } } };
      };
      if (!answer.auth0?.oAuth?.token?.access_token)
        throw new Error('the broker answered no access token');
    },

    async loginDirect() {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const nonce = oauth.generateRandomNonce();
      const url = new URL(as.authorization_endpoint as string);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: directRedirect,
        scope: SCOPE,
        state,
        nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        response_mode: 'form_post',
      }).toString();
      const login = await scriptedLogin(url);
      await login.callbackResponse.text();
      const params = oauth.validateAuthResponse(as, client, login.delivered, state);
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        clientAuth,
        params,
        directRedirect,
        verifier,
        {
          [oauth.allowInsecureRequests]: true,
        },
      );
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
        expectedNonce: nonce,
        requireIdToken: true,
      });
      if (!tokens.access_token) throw new Error('the provider answered no access token');
    },

    async close() {
      await broker.close();
      callbackServer.closeAllConnections();
      await new Promise<void>((resolve) => callbackServer.close(() => resolve()));
    },
  };
}

async function timed(run: () => Promise<void>, side: Side): Promise<void> {
  const start = performance.now();
  await run();
  const elapsed = performance.now() - start;
  side.times.push(elapsed);
  side.total += elapsed;
}

export async function measureFlows(
  devProvider: DevProvider,
  settings: FlowSettings,
): Promise<FlowFigures> {
  const harness = await startHarness(devProvider);
  try {
    for (let i = 0; i < settings.warmup; i++) {
      await harness.loginThroughBroker();
      await harness.loginDirect();
    }
    const broker: Side = { times: [], total: 0 };
    const direct: Side = { times: [], total: 0 };
    for (let i = 0; i < settings.logins; i++) {
      // Alternate which side goes first, so neither always follows the other.
      if (i % 2 === 0) {
        await timed(harness.loginThroughBroker, broker);
        await timed(harness.loginDirect, direct);
      } else {
        await timed(harness.loginDirect, direct);
        await timed(harness.loginThroughBroker, broker);
      }
    }
    return { broker, direct };
  } finally {
    await harness.close();
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function flowRow(figures: FlowFigures): Row {
  const perSecond = (side: Side): number => (side.times.length * 1000) / side.total;
  const brokerP50 = percentile(figures.broker.times, 50);
  const directP50 = percentile(figures.direct.times, 50);
  const added = brokerP50 - directP50;
  return {
    name: FLOW_ROW,
    broker: `${formatNumber(perSecond(figures.broker), 1)} logins/s, p50 ${brokerP50.toFixed(2)} ms`,
    baseline: `${formatNumber(perSecond(figures.direct), 1)} logins/s, p50 ${directP50.toFixed(2)} ms`,
    ratio: `${formatRatio(perSecond(figures.broker), perSecond(figures.direct))} logins/s, +${added.toFixed(2)} ms/login`,
    target: `≤ ${TARGET_ADDED_MS} ms added at p50`,
    met: added <= TARGET_ADDED_MS,
    note:
      `${figures.broker.times.length} sequential logins per side (challenge → code → scripted login → callback → token) ` +
      `vs oauth4webapi in-process; p90: broker ${percentile(figures.broker.times, 90).toFixed(2)} ms, direct ${percentile(figures.direct.times, 90).toFixed(2)} ms`,
    figures: {
      brokerLoginsPerSec: perSecond(figures.broker),
      directLoginsPerSec: perSecond(figures.direct),
      brokerP50Ms: brokerP50,
      directP50Ms: directP50,
      addedP50Ms: added,
      logins: figures.broker.times.length,
    },
  };
}
