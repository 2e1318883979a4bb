/**
 * ID token validation (OIDC Core §3.1.3.7) through the provider client: every
 * check refuses what it must, whether oauth4webapi makes it (claims, the alg
 * against the provider's list) or id-token.ts (signature, none, HS*, iat, sub,
 * azp). Tokens are signed here with jose; a transport of the test's own serves
 * discovery, the JWKS and the token answer, so the checks are what is tested.
 * The clock is node:test's mocked Date.
 */
import { after, afterEach, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { BrokerError } from '../src/errors.js';
import { discoverProvider } from '../src/provider/oidc.js';
import type { IdentityProvider, TokenSet } from '../src/provider/types.js';

const ISSUER = 'https://idp.example/';
const CLIENT_ID = 'the-app';
const CLIENT_SECRET = 'a-client-secret-long-enough-for-HS256-0123456789';
const NONCE = 'n-0S6_WzA2Mj';
const STATE = 'the-state';
const NOW = 1_750_000_000;

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return {
    kid,
    alg,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
  };
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
    .setProtectedHeader({ alg: header.alg ?? key.alg, kid: header.kid ?? key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

function without(name: string): JWTPayload {
  const claims = baseClaims();
  delete claims[name];
  return claims;
}

/**
 * The provider's side, as a transport: discovery (with `algorithms` as
 * id_token_signing_alg_values_supported when set), the JWKS (`served`), and a
 * token endpoint that answers with `idToken`.
 */
const idp = {
  algorithms: undefined as unknown,
  served: [] as JWK[],
  jwksFetches: 0,
  jwksDown: false,
  idToken: '',
  fetch: (async (input: string | URL | Request) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return Response.json({
          issuer: ISSUER,
          authorization_endpoint: `${ISSUER}authorize`,
          token_endpoint: `${ISSUER}token`,
          jwks_uri: `${ISSUER}jwks`,
          response_types_supported: ['code'],
          ...(idp.algorithms !== undefined && {
            id_token_signing_alg_values_supported: idp.algorithms,
          }),
        });
      case '/jwks':
        idp.jwksFetches++;
        if (idp.jwksDown) {
          throw new TypeError('fetch failed', {
            cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
          });
        }
        return Response.json({ keys: idp.served });
      case '/token':
        return Response.json({
          access_token: 'an-access-token',
          token_type: 'Bearer',
          expires_in: 60,
          id_token: idp.idToken,
        });
      default:
        return new Response(null, { status: 404 });
    }
  }) as typeof fetch,
};

interface ProviderOptions {
  algorithms?: unknown;
  clientSecret?: string;
  clockToleranceSec?: number;
}

async function providerWith(options: ProviderOptions = {}): Promise<IdentityProvider> {
  idp.algorithms = options.algorithms;
  return discoverProvider({
    issuer: ISSUER,
    clientId: CLIENT_ID,
    fetch: idp.fetch,
    ...(options.clientSecret !== undefined && { clientSecret: options.clientSecret }),
    ...(options.clockToleranceSec !== undefined && {
      clockToleranceSec: options.clockToleranceSec,
    }),
  });
}

/** A callback for STATE checked, then its code exchanged for a token answer carrying `idToken`. */
async function exchange(
  provider: IdentityProvider,
  idToken: string | Promise<string>,
  nonce = NONCE,
): Promise<TokenSet> {
  idp.idToken = await idToken;
  const checked = provider.checkCallback(
    new URLSearchParams({ code: 'the-code', state: STATE }),
    STATE,
  );
  assert.ok(checked.ok);
  return provider.exchangeCode({
    code: checked.code,
    state: STATE,
    redirectUri: 'http://127.0.0.1:1000/pkce/response/code',
    verifier: 'the-verifier-the-test-does-not-check-0123456789',
    nonce,
  });
}

function assertInvalidIdToken(err: unknown, message: RegExp): true {
  assert.ok(err instanceof BrokerError, String(err));
  assert.equal(err.code, 'provider_error');
  assert.equal(err.status, 502);
  assert.equal(err.oauthError, 'invalid_id_token');
  assert.match(err.message, /^The ID token failed validation: /);
  assert.match(err.message, message);
  return true;
}

async function refuses(
  token: string | Promise<string>,
  message: RegExp,
  options: ProviderOptions = {},
): Promise<void> {
  const provider = await providerWith(options);
  await assert.rejects(exchange(provider, token), (err) => assertInvalidIdToken(err, message));
}

let k1: SigningKey;

before(async () => {
  mock.timers.enable({ apis: ['Date'], now: NOW * 1000 });
  k1 = await signingKey('k1');
});
after(() => mock.timers.reset());
afterEach(() => {
  idp.served = [k1.publicJwk];
  idp.jwksDown = false;
});

describe('ID tokens of a code exchange', () => {
  before(() => {
    idp.served = [k1.publicJwk];
  });

  test('a good token gives its claims', async () => {
    const tokens = await exchange(
      await providerWith(),
      sign(k1, { ...baseClaims(), email: 'a@example.test' }),
    );
    assert.equal(tokens.claims?.sub, 'alice');
    assert.equal(tokens.claims?.nonce, NONCE);
    assert.equal(tokens.claims?.['email'], 'a@example.test');
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
    await refuses(unsigned, /alg "none" \(unsigned\) is refused/);
    await refuses(unsigned, /alg "none" \(unsigned\) is refused/, {
      algorithms: ['none', 'RS256'],
    });
  });

  test('HS256 is refused for a public client, and verified with the secret of a confidential one', async () => {
    const signWith = (secret: string) =>
      new SignJWT(baseClaims())
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(secret));
    const algorithms = ['HS256', 'RS256'];
    await refuses(signWith(CLIENT_SECRET), /alg HS256 is symmetric/, { algorithms });

    const confidential = await providerWith({ algorithms, clientSecret: CLIENT_SECRET });
    const tokens = await exchange(confidential, signWith(CLIENT_SECRET));
    assert.equal(tokens.claims?.sub, 'alice');
    await refuses(signWith(`another-${CLIENT_SECRET}`), /signature does not verify/, {
      algorithms,
      clientSecret: CLIENT_SECRET,
    });
  });

  test('an algorithm the provider does not list is refused; without a list, only RS256 is expected', async () => {
    const ps = await signingKey('k1', 'PS256');
    await refuses(sign(ps), /alg PS256 is not one of the expected algorithms \(RS256\)/);
    await refuses(sign(k1), /alg RS256 is not one of the expected algorithms \(ES256\)/, {
      algorithms: ['ES256'],
    });
  });

  test("the expected algorithms are the provider's list, else RS256", async () => {
    const es = await signingKey('e1', 'ES256');
    idp.served = [k1.publicJwk, es.publicJwk];
    const listed = await providerWith({ algorithms: ['none', 'RS256', 'ES256'] });
    assert.equal((await exchange(listed, sign(k1))).claims?.sub, 'alice');
    assert.equal((await exchange(listed, sign(es))).claims?.sub, 'alice');
    // A list that is not a list is no list.
    const malformed = await providerWith({ algorithms: 'ES256' });
    assert.equal((await exchange(malformed, sign(k1))).claims?.sub, 'alice');
    await refuses(sign(es), /alg ES256 is not one of the expected algorithms \(RS256\)/, {
      algorithms: 'ES256',
    });
  });

  test('iss must equal the issuer exactly', async () => {
    await refuses(
      sign(k1, { ...baseClaims(), iss: 'https://evil.example/' }),
      /iss "https:\/\/evil.example\/" is not the issuer "https:\/\/idp.example\/"/,
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
    const ok = await exchange(
      await providerWith(),
      sign(k1, { ...baseClaims(), aud: [CLIENT_ID, 'https://api.example'], azp: CLIENT_ID }),
    );
    assert.deepEqual(ok.claims?.aud, [CLIENT_ID, 'https://api.example']);
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
    await exchange(await providerWith(), sign(k1, { ...baseClaims(), exp: NOW - 10 }));
    await refuses(sign(k1, without('exp')), /exp is missing/);
    // JWTPayload types exp as a number; a provider's JSON need not.
    const stringExp = { ...baseClaims(), exp: String(NOW + 600) } as unknown as JWTPayload;
    await refuses(sign(k1, stringExp), /exp is not a number/);
  });

  test('iat must be present and not in the future beyond the tolerance', async () => {
    await refuses(sign(k1, { ...baseClaims(), iat: NOW + 31 }), /iat is in the future/);
    await refuses(sign(k1, { ...baseClaims(), iat: NOW + 1 }), /iat is in the future/, {
      clockToleranceSec: 0,
    });
    await exchange(await providerWith(), sign(k1, { ...baseClaims(), iat: NOW + 10 }));
    await refuses(sign(k1, without('iat')), /iat is missing/);
  });

  test('nbf in the future is refused', async () => {
    await refuses(sign(k1, { ...baseClaims(), nbf: NOW + 31 }), /nbf is in the future/);
  });

  test('sub must be a non-empty string', async () => {
    await refuses(sign(k1, without('sub')), /sub is missing/);
    await refuses(sign(k1, { ...baseClaims(), sub: '' }), /sub is empty/);
  });

  test("nonce must equal the flow's; a refresh, which has no nonce to expect, takes a token without one", async () => {
    await refuses(sign(k1, without('nonce')), /nonce is missing/);
    await refuses(sign(k1, { ...baseClaims(), nonce: 'another-nonce' }), /nonce does not match/);
    await refuses(sign(k1, { ...baseClaims(), nonce: `${NONCE}x` }), /nonce does not match/);
    const provider = await providerWith();
    idp.idToken = await sign(k1, without('nonce'));
    const refreshed = await provider.refresh({ refreshToken: 'a-refresh-token' });
    assert.equal(refreshed.claims?.sub, 'alice');
  });

  test('a refreshed ID token gets the same checks (but the nonce)', async () => {
    const provider = await providerWith();
    idp.idToken = await sign(await signingKey('k1'), without('nonce'));
    await assert.rejects(provider.refresh({ refreshToken: 'r' }), (err) =>
      assertInvalidIdToken(err, /signature does not verify/),
    );
    idp.idToken = await sign(k1, { ...without('nonce'), iat: NOW + 31 });
    await assert.rejects(provider.refresh({ refreshToken: 'r' }), (err) =>
      assertInvalidIdToken(err, /iat is in the future/),
    );
  });

  test('garbage and encrypted tokens are refused', async () => {
    await refuses('not-a-jwt', /not a JWT in JWS compact serialization/);
    await refuses('a.b.c.d.e', /encrypted \(JWE\)/);
    // A payload that is not JSON: refused as a broken answer, not an ID token it could check.
    const provider = await providerWith();
    await assert.rejects(
      exchange(
        provider,
        `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.bm90IGpzb24.c2ln`,
      ),
      (err: unknown) => {
        assert.ok(err instanceof BrokerError, String(err));
        assert.equal(err.code, 'provider_error');
        assert.match(
          err.message,
          /^The identity provider's answer to the token request is not valid: /,
        );
        return true;
      },
    );
  });
});

describe('the JWKS behind ID tokens', () => {
  test('an unknown kid refetches the JWKS, at most once per 5 s', async () => {
    const provider = await providerWith();
    const k2 = await signingKey('k2');
    const k3 = await signingKey('k3');
    idp.served = [k1.publicJwk];
    idp.jwksFetches = 0;

    await exchange(provider, sign(k1));
    assert.equal(idp.jwksFetches, 1, 'first use fetches the set');
    await exchange(provider, sign(k1));
    assert.equal(idp.jwksFetches, 1, 'a known kid is served from the cache');

    // The provider rotates its keys; a token with the new kid arrives just inside 5 s of the fetch.
    idp.served = [k1.publicJwk, k2.publicJwk];
    mock.timers.tick(4_999);
    await assert.rejects(exchange(provider, sign(k2)), (err) =>
      assertInvalidIdToken(err, /no key in the provider's JWKS .*kid "k2"/),
    );
    assert.equal(idp.jwksFetches, 1, 'no refetch within 5 s');

    mock.timers.tick(1);
    const tokens = await exchange(provider, sign(k2));
    assert.equal(tokens.claims?.sub, 'alice');
    assert.equal(idp.jwksFetches, 2, 'exactly one refetch for the new kid');

    // Another unknown kid right away: no refetch, refused.
    idp.served = [k1.publicJwk, k2.publicJwk, k3.publicJwk];
    await assert.rejects(exchange(provider, sign(k3)), (err) =>
      assertInvalidIdToken(err, /no key in the provider's JWKS .*kid "k3"/),
    );
    assert.equal(idp.jwksFetches, 2, 'no refetch within the cooldown');
  });

  test('an unreachable JWKS is provider_unavailable, not an invalid token, after one retry', async () => {
    const provider = await providerWith();
    idp.jwksDown = true;
    idp.jwksFetches = 0;
    await assert.rejects(exchange(provider, sign(k1)), (err: unknown) => {
      assert.ok(err instanceof BrokerError, String(err));
      assert.equal(err.code, 'provider_unavailable');
      assert.equal(err.oauthError, undefined);
      assert.match(
        err.message,
        /^Cannot reach the identity provider for the request for its signing keys \(JWKS\) \(ECONNREFUSED\)$/,
      );
      return true;
    });
    assert.equal(idp.jwksFetches, 2);
  });
});
