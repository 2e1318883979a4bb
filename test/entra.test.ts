/**
 * Microsoft Entra ID's multi-tenant issuer: the `common` discovery document
 * names `https://login.microsoftonline.com/{tenantid}/v2.0`, and each ID token
 * names its user's tenant. Accepted only for Microsoft's common /
 * organizations / consumers issuers, and a token only when its `iss` is the
 * template with its own `tid`. The provider is the test's own: a node:http
 * server with the discovery document, a JWKS and a token endpoint, reached
 * through a transport that sends login.microsoftonline.com to it.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { BrokerError } from '../src/errors.js';
import {
  CONSUMERS_TENANT_ID,
  issuerForTenant,
  multiTenantIssuer,
  tenantIssuerTemplate,
} from '../src/provider/entra.js';
import { discoverProvider } from '../src/provider/oidc.js';
import type { IdentityProvider } from '../src/provider/types.js';

const HOST = 'https://login.microsoftonline.com';
const COMMON = `${HOST}/common/v2.0`;
const TEMPLATE = `${HOST}/{tenantid}/v2.0`;
const CONSUMERS = `${HOST}/consumers/v2.0`;
const CONSUMERS_ISSUER = `${HOST}/${CONSUMERS_TENANT_ID}/v2.0`;
const TENANT = '9b3c1c55-64e3-4a1f-9f0e-2d1a6c0b7e42';
const OTHER_TENANT = '0f8fad5b-d9cb-469f-a165-70867728950e';
const CLIENT_ID = 'the-entra-app';
const NONCE = 'n-entra-0123456789';
const STATE = 'the-state-0123456789';
const REDIRECT_URI = 'http://127.0.0.1:1000/pkce/response/code';

describe('tenantIssuerTemplate and issuerForTenant', () => {
  it("template only for Microsoft's multi-tenant authorities", () => {
    assert.equal(tenantIssuerTemplate(COMMON), TEMPLATE);
    assert.equal(tenantIssuerTemplate(`${HOST}/organizations/v2.0`), TEMPLATE);
    // Personal accounts: one tenant, named in the document and in every token.
    assert.equal(multiTenantIssuer(CONSUMERS), CONSUMERS_ISSUER);
    assert.equal(tenantIssuerTemplate(CONSUMERS), undefined);
    for (const issuer of [
      `${HOST}/${TENANT}/v2.0`,
      'https://login.microsoftonline.com.evil.example/common/v2.0',
      'https://idp.example/common/v2.0',
      'http://login.microsoftonline.com/common/v2.0',
      `${HOST}/commonx/v2.0`,
    ])
      assert.equal(multiTenantIssuer(issuer), undefined, issuer);
  });

  it('substitutes a GUID tid, and nothing else', () => {
    assert.equal(issuerForTenant(TEMPLATE, TENANT), `${HOST}/${TENANT}/v2.0`);
    for (const tid of [undefined, 42, '', 'common', `${TENANT}/x`, TENANT.toUpperCase()])
      assert.equal(issuerForTenant(TEMPLATE, tid), undefined, String(tid));
  });
});

interface Fake {
  /** The discovery document's issuer. */
  issuer: string;
  /** Claims of the next ID token. */
  claims: JWTPayload;
}

describe('against a provider serving the multi-tenant discovery document', () => {
  let server: Server;
  let base: string;
  let privateKey: CryptoKey;
  let publicJwk: JWK;
  const fake: Fake = { issuer: TEMPLATE, claims: {} };

  const document = (): Record<string, unknown> => ({
    issuer: fake.issuer,
    authorization_endpoint: `${HOST}/common/oauth2/v2.0/authorize`,
    token_endpoint: `${HOST}/common/oauth2/v2.0/token`,
    jwks_uri: `${HOST}/common/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    id_token_signing_alg_values_supported: ['RS256'],
    subject_types_supported: ['pairwise'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    request_uri_parameter_supported: false,
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    for await (const _chunk of req);
    if (path.endsWith('/.well-known/openid-configuration')) return send(200, document());
    if (path === '/common/discovery/v2.0/keys') return send(200, { keys: [publicJwk] });
    if (path === '/common/oauth2/v2.0/token') {
      const idToken = await new SignJWT(fake.claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
        .sign(privateKey);
      return send(200, {
        access_token: 'an-access-token',
        token_type: 'Bearer',
        expires_in: 3600,
        id_token: idToken,
      });
    }
    send(404, { error: 'not_found' });
  }

  /** Every https host (Microsoft's above all), sent to the fake. */
  const transport: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    return fetch(`${base}${url.pathname}${url.search}`, init);
  };

  const discoverAt = (issuer: string): Promise<IdentityProvider> =>
    discoverProvider({ issuer, clientId: CLIENT_ID, fetch: transport, timeoutMs: 5_000 });

  before(async () => {
    const keys = await generateKeyPair('RS256');
    privateKey = keys.privateKey;
    publicJwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => void answer(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function claims(overrides: JWTPayload): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: `${HOST}/${TENANT}/v2.0`,
      tid: TENANT,
      aud: CLIENT_ID,
      sub: 'entra-user',
      iat: now,
      exp: now + 600,
      nonce: NONCE,
      ...overrides,
    };
  }

  const exchange = (provider: IdentityProvider) =>
    provider.exchangeCode({
      code: 'a-code',
      state: STATE,
      redirectUri: REDIRECT_URI,
      verifier: 'v'.repeat(43),
      nonce: NONCE,
    });

  async function refusedIdToken(provider: IdentityProvider, detail: RegExp): Promise<void> {
    await assert.rejects(
      exchange(provider),
      (error: unknown) =>
        error instanceof BrokerError &&
        error.code === 'provider_error' &&
        error.oauthError === 'invalid_id_token' &&
        detail.test(error.message),
    );
  }

  it('accepts the common document, and an ID token whose iss is its own tid in the template', async () => {
    fake.issuer = TEMPLATE;
    const provider = await discoverAt(COMMON);
    assert.equal(provider.issuer, TEMPLATE);
    fake.claims = claims({});
    const tokens = await exchange(provider);
    assert.equal(tokens.claims?.iss, `${HOST}/${TENANT}/v2.0`);
    assert.equal(tokens.claims?.tid, TENANT);
    assert.equal(tokens.claims?.sub, 'entra-user');
    // A refreshed ID token is held to the same rule.
    const refreshed = await provider.refresh({ refreshToken: 'a-refresh-token' });
    assert.equal(refreshed.claims?.iss, `${HOST}/${TENANT}/v2.0`);
    fake.claims = claims({ iss: `${HOST}/${OTHER_TENANT}/v2.0` });
    await assert.rejects(provider.refresh({ refreshToken: 'a-refresh-token' }), {
      oauthError: 'invalid_id_token',
    });
  });

  it('refuses an ID token whose iss names another tenant than its tid', async () => {
    fake.issuer = TEMPLATE;
    const provider = await discoverAt(`${HOST}/organizations/v2.0`);
    fake.claims = claims({ iss: `${HOST}/${OTHER_TENANT}/v2.0` });
    await refusedIdToken(provider, /iss .* is not the issuer .*9b3c1c55/);
    // Nor is the template itself ever an accepted iss.
    fake.claims = claims({ iss: TEMPLATE });
    await refusedIdToken(provider, /iss .* is not the issuer/);
  });

  it('refuses an ID token whose tid is missing or not a GUID', async () => {
    fake.issuer = TEMPLATE;
    const provider = await discoverAt(COMMON);
    fake.claims = claims({ tid: undefined });
    await refusedIdToken(provider, /tid is missing or not a tenant id/);
    fake.claims = claims({ tid: 'common', iss: COMMON });
    await refusedIdToken(provider, /tid is missing or not a tenant id/);
  });

  it('accepts the consumers document naming the personal-account tenant, and only tokens of that issuer', async () => {
    fake.issuer = CONSUMERS_ISSUER;
    const provider = await discoverAt(CONSUMERS);
    assert.equal(provider.issuer, CONSUMERS_ISSUER);
    fake.claims = claims({ iss: CONSUMERS_ISSUER, tid: CONSUMERS_TENANT_ID });
    const tokens = await exchange(provider);
    assert.equal(tokens.claims?.iss, CONSUMERS_ISSUER);
    // Exact: a token of a work tenant, even with a matching tid, is not one of consumers'.
    fake.claims = claims({});
    await refusedIdToken(provider, /iss .*9b3c1c55.* is not the issuer .*9188040d/);
    // And consumers' document must name that tenant, not the template.
    fake.issuer = TEMPLATE;
    await assert.rejects(discoverAt(CONSUMERS), {
      code: 'startup_failed',
      message: /must match exactly/,
    });
  });

  it('keeps the exact match everywhere else: a tenant issuer, or a template it does not own', async () => {
    // A single-tenant issuer whose document names the template.
    fake.issuer = TEMPLATE;
    await assert.rejects(discoverAt(`${HOST}/${TENANT}/v2.0`), {
      code: 'startup_failed',
      message: /must match exactly/,
    });
    // The same path on another host than Microsoft's.
    await assert.rejects(discoverAt('https://idp.example/common/v2.0'), {
      code: 'startup_failed',
      message: /must match exactly/,
    });
    // The common issuer whose document names another template.
    fake.issuer = `${HOST}/{tenantid}/v2.0/other`;
    await assert.rejects(discoverAt(COMMON), {
      code: 'startup_failed',
      message: /must match exactly/,
    });
  });
});
