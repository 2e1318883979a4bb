/**
 * ID token validation (OIDC Core §3.1.3.7): every check refuses what it must,
 * with tokens signed here by jose and keys served from a local JWKS server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import type { CryptoKey, JWK, JWTPayload, JWTVerifyGetKey } from 'jose';
import { BrokerError } from '../src/errors.js';
import { expectedAlgorithms, skipNonceCheck, validateIdToken } from '../src/provider/id-token.js';
import type { IdTokenExpectations } from '../src/provider/id-token.js';

const ISSUER = 'https://idp.example/';
const CLIENT_ID = 'the-app';
const NONCE = 'n-0S6_WzA2Mj';
const NOW = 1_750_000_000;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function baseClaims(): JWTPayload {
  return { iss: ISSUER, aud: CLIENT_ID, sub: 'alice', iat: NOW - 5, exp: NOW + 600, nonce: NONCE };
}

async function sign(
  key: SigningKey,
  claims: JWTPayload = baseClaims(),
  header: { alg?: string; kid?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: header.alg ?? 'RS256', kid: header.kid ?? key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

function without(name: string): JWTPayload {
  const claims = baseClaims();
  delete claims[name];
  return claims;
}

let k1: SigningKey;
let keys: JWTVerifyGetKey;

function expectations(overrides: Partial<IdTokenExpectations> = {}): IdTokenExpectations {
  return { issuer: ISSUER, clientId: CLIENT_ID, nonce: NONCE, keys, now: NOW, ...overrides };
}

async function refuses(
  token: string | Promise<string>,
  message: RegExp,
  overrides: Partial<IdTokenExpectations> = {},
): Promise<void> {
  await assert.rejects(validateIdToken(await token, expectations(overrides)), (err: unknown) => {
    assert.ok(err instanceof BrokerError, String(err));
    assert.equal(err.code, 'provider_error');
    assert.equal(err.status, 502);
    assert.equal(err.oauthError, 'invalid_id_token');
    assert.match(err.message, /^The ID token failed validation: /);
    assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  k1 = await signingKey('k1');
  keys = createLocalJWKSet({ keys: [k1.publicJwk] });
});

describe('validateIdToken', () => {
  test('a good token gives its claims', async () => {
    const claims = await validateIdToken(
      await sign(k1, { ...baseClaims(), email: 'a@example.test' }),
      expectations(),
    );
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.nonce, NONCE);
    assert.equal(claims['email'], 'a@example.test');
  });

  test('signature: another key under the same kid, or a changed payload, is refused', async () => {
    const impostor = await signingKey('k1');
    await refuses(sign(impostor), /signature does not verify/);
    const [header, , signature] = (await sign(k1)).split('.');
    const payload = Buffer.from(JSON.stringify({ ...baseClaims(), sub: 'mallory' })).toString(
      'base64url',
    );
    await refuses(`${header}.${payload}.${signature}`, /signature does not verify/);
  });

  test('a kid that is not in the key set is refused', async () => {
    await refuses(sign(await signingKey('k9')), /no key in the provider's JWKS .*kid "k9"/);
  });

  test('alg none is refused, even when the provider lists it', async () => {
    const unsigned = new UnsecuredJWT(baseClaims()).encode();
    await refuses(unsigned, /alg "none"/);
    await refuses(unsigned, /alg "none"/, { algorithms: ['none', 'RS256'] });
  });

  test('HS256 is refused for a public client', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-that-anyone-with-the-client-id-knows');
    const token = await new SignJWT(baseClaims()).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    await refuses(token, /alg HS256 is symmetric/, { algorithms: ['HS256', 'RS256'] });
  });

  test('an algorithm that is not expected is refused', async () => {
    const ps = await signingKey('k1', 'PS256');
    await refuses(
      sign(ps, baseClaims(), { alg: 'PS256' }),
      /alg PS256 is not one of the expected algorithms \(RS256\)/,
    );
    await refuses(sign(k1), /alg RS256 is not one of the expected algorithms \(ES256\)/, {
      metadata: { id_token_signing_alg_values_supported: ['ES256'] },
    });
  });

  test('the default algorithms come from the metadata, without none, else RS256', () => {
    assert.deepEqual(expectedAlgorithms({}), ['RS256']);
    assert.deepEqual(
      expectedAlgorithms({
        metadata: { id_token_signing_alg_values_supported: ['none', 'RS256', 'ES256'] },
      }),
      ['RS256', 'ES256'],
    );
    assert.deepEqual(
      expectedAlgorithms({ metadata: { id_token_signing_alg_values_supported: 'RS256' } }),
      ['RS256'],
    );
    assert.deepEqual(
      expectedAlgorithms({
        algorithms: ['PS256'],
        metadata: { id_token_signing_alg_values_supported: ['RS256'] },
      }),
      ['PS256'],
    );
  });

  test('iss must equal the issuer exactly', async () => {
    await refuses(
      sign(k1, { ...baseClaims(), iss: 'https://evil.example/' }),
      /iss "https:\/\/evil.example\/" is not the issuer/,
    );
    await refuses(sign(k1, { ...baseClaims(), iss: 'https://idp.example' }), /is not the issuer/);
    await refuses(sign(k1, without('iss')), /iss is missing/);
  });

  test('aud must contain the client id; several audiences need azp = client id', async () => {
    await refuses(
      sign(k1, { ...baseClaims(), aud: 'another-app' }),
      /aud does not contain this client_id/,
    );
    await refuses(
      sign(k1, { ...baseClaims(), aud: ['another-app', 'third'] }),
      /aud does not contain this client_id/,
    );
    await refuses(sign(k1, without('aud')), /aud is missing/);
    await refuses(
      sign(k1, { ...baseClaims(), aud: [CLIENT_ID, 'https://api.example'] }),
      /several audiences but azp is missing/,
    );
    const ok = await validateIdToken(
      await sign(k1, { ...baseClaims(), aud: [CLIENT_ID, 'https://api.example'], azp: CLIENT_ID }),
      expectations(),
    );
    assert.deepEqual(ok.aud, [CLIENT_ID, 'https://api.example']);
    await refuses(
      sign(k1, { ...baseClaims(), aud: [CLIENT_ID, 'https://api.example'], azp: 'another-app' }),
      /azp is not this client_id/,
    );
    await refuses(sign(k1, { ...baseClaims(), azp: 'another-app' }), /azp is not this client_id/);
  });

  test('exp must be in the future, within the clock tolerance', async () => {
    await refuses(sign(k1, { ...baseClaims(), exp: NOW - 31 }), /exp is in the past/);
    await refuses(sign(k1, { ...baseClaims(), exp: NOW - 1 }), /exp is in the past/, {
      clockToleranceSec: 0,
    });
    await validateIdToken(await sign(k1, { ...baseClaims(), exp: NOW - 10 }), expectations());
    await refuses(sign(k1, without('exp')), /exp is missing/);
  });

  test('iat must be present and not in the future beyond the tolerance', async () => {
    await refuses(sign(k1, { ...baseClaims(), iat: NOW + 31 }), /iat is in the future/);
    await validateIdToken(await sign(k1, { ...baseClaims(), iat: NOW + 10 }), expectations());
    await refuses(sign(k1, without('iat')), /iat is missing/);
  });

  test('sub must be a non-empty string', async () => {
    await refuses(sign(k1, without('sub')), /sub is missing/);
    await refuses(sign(k1, { ...baseClaims(), sub: '' }), /sub is missing or empty/);
  });

  test("nonce must equal the flow's; only an explicit skip ignores it", async () => {
    await refuses(sign(k1, without('nonce')), /nonce is missing/);
    await refuses(sign(k1, { ...baseClaims(), nonce: 'another-nonce' }), /nonce does not match/);
    await refuses(sign(k1, { ...baseClaims(), nonce: `${NONCE}x` }), /nonce does not match/);
    const refreshed = await validateIdToken(
      await sign(k1, without('nonce')),
      expectations({ nonce: skipNonceCheck }),
    );
    assert.equal(refreshed.sub, 'alice');
  });

  test('garbage is refused', async () => {
    await refuses('not-a-jwt', /not a JWS/);
    await refuses(
      `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.bm90IGpzb24.c2ln`,
      /signature does not verify|payload/,
    );
  });
});

describe('validateIdToken with a remote JWKS', () => {
  let server: Server;
  let jwksUrl: URL;
  let served: JWK[] = [];
  let fetches = 0;

  before(async () => {
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('an unknown kid refetches once after the cooldown; another within the cooldown does not', async () => {
    const cooldownMs = 300;
    const remote = createRemoteJWKSet(jwksUrl, {
      cooldownDuration: cooldownMs,
      timeoutDuration: 2_000,
    });
    const k2 = await signingKey('k2');
    const k3 = await signingKey('k3');
    served = [k1.publicJwk];
    fetches = 0;

    await validateIdToken(await sign(k1), expectations({ keys: remote }));
    assert.equal(fetches, 1, 'first use fetches the set');
    await validateIdToken(await sign(k1), expectations({ keys: remote }));
    assert.equal(fetches, 1, 'a known kid is served from the cache');

    // The provider rotates its keys; the cooldown since the last fetch has passed.
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 50));
    served = [k1.publicJwk, k2.publicJwk];
    const claims = await validateIdToken(await sign(k2), expectations({ keys: remote }));
    assert.equal(claims.sub, 'alice');
    assert.equal(fetches, 2, 'exactly one refetch for the new kid');

    // A second unknown kid right away: no refetch, refused.
    served = [k1.publicJwk, k2.publicJwk, k3.publicJwk];
    await refuses(sign(k3), /no key in the provider's JWKS .*kid "k3"/, { keys: remote });
    assert.equal(fetches, 2, 'no refetch within the cooldown');
  });

  test('an unreachable JWKS is provider_unavailable, not an invalid token', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const remote = createRemoteJWKSet(new URL(`http://127.0.0.1:${port}/jwks`), {
      timeoutDuration: 2_000,
    });
    await assert.rejects(
      validateIdToken(await sign(k1), expectations({ keys: remote })),
      (err: unknown) => {
        assert.ok(err instanceof BrokerError);
        assert.equal(err.code, 'provider_unavailable');
        return true;
      },
    );
  });
});
