import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerError } from '../src/errors.js';
import {
  authorizeParams,
  checkSeed,
  resolveRequest,
  resolveScope,
  type SeedPolicy,
} from '../src/flow/seed.js';

const policy: SeedPolicy = {
  provider: 'default',
  clientId: 'client-1',
  redirectUri: 'http://127.0.0.1:1000/pkce/response/code',
  allowedRedirectUris: ['http://127.0.0.1:5555/cb'],
  scope: ['openid', 'profile'],
  audience: 'https://api.example',
  responseModes: { default: 'form_post', supported: ['query', 'fragment', 'form_post'] },
};

const secrets = { state: 's'.repeat(43), nonce: 'n'.repeat(43), challenge: 'c'.repeat(43) };

function refused(fn: () => void, field: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof BrokerError &&
      e.code === 'invalid_request' &&
      e.oauthError === 'invalid_request' &&
      field.test(e.message),
  );
}

describe('seed policy', () => {
  it('accepts an empty seed and the SDK enum value UNKNOWN as "not set"', () => {
    checkSeed({}, policy);
    checkSeed(
      { response_type: 'UNKNOWN', code_challenge_method: 'UNKNOWN', prompt: 'UNKNOWN' },
      policy,
    );
  });

  it('refuses what the broker does not do, naming the field', () => {
    refused(() => checkSeed({ response_type: 'token' }, policy), /response_type/);
    refused(() => checkSeed({ code_challenge_method: 'plain' }, policy), /code_challenge_method/);
    refused(() => checkSeed({ client_id: 'other' }, policy), /client_id/);
    refused(
      () => checkSeed({ redirect_uri: 'http://127.0.0.1:1000/elsewhere' }, policy),
      /redirect_uri/,
    );
    refused(() => checkSeed({ response_mode: 'fragment' }, policy), /response_mode/);
    checkSeed(
      {
        redirect_uri: 'http://127.0.0.1:5555/cb',
        domain: 'tenant.example',
        response_mode: 'query',
      },
      policy,
    );
  });

  it("takes the provider's default response_mode, and a seed's only where the provider supports it", () => {
    const queryOnly: SeedPolicy = {
      ...policy,
      responseModes: { default: 'query', supported: ['query', 'fragment'] },
    };
    assert.equal(resolveRequest({}, queryOnly).response_mode, 'query');
    assert.equal(resolveRequest({ response_mode: 'UNKNOWN' }, queryOnly).response_mode, 'query');
    refused(
      () => checkSeed({ response_mode: 'form_post' }, queryOnly),
      /response_mode "form_post" is not supported .* supports query, fragment/,
    );
    checkSeed({ response_mode: 'query' }, queryOnly);
  });

  it('always asks for openid, and falls back to the configured scope', () => {
    assert.deepEqual(resolveScope({}, policy), ['openid', 'profile']);
    assert.deepEqual(resolveScope({ scope: ['email'] }, policy), ['openid', 'email']);
    assert.deepEqual(resolveScope({ scope: ['email', 'openid'] }, policy), ['email', 'openid']);
    assert.deepEqual(resolveScope({ scope: [] }, { ...policy, scope: ['profile'] }), [
      'openid',
      'profile',
    ]);
  });

  it('fills the request from configuration and the seed', () => {
    assert.deepEqual(resolveRequest({}, policy), {
      provider: 'default',
      client_id: 'client-1',
      redirect_uri: policy.redirectUri,
      scope: ['openid', 'profile'],
      audience: 'https://api.example',
      response_mode: 'form_post',
    });
    const request = resolveRequest(
      {
        audience: 'https://other.example',
        response_mode: 'query',
        redirect_uri: 'http://127.0.0.1:5555/cb',
      },
      policy,
    );
    assert.equal(request.audience, 'https://other.example');
    assert.equal(request.response_mode, 'query');
    assert.equal(request.redirect_uri, 'http://127.0.0.1:5555/cb');
  });

  it('builds authorize parameters with every optional field and no UNKNOWN values', () => {
    const seed = {
      screen_hint: 'signup',
      prompt: 'login',
      organization: 'org_1',
      invitation: 'inv_1',
      ADDITIONAL_PARAMETERS: { access_type: 'offline', display: 'UNKNOWN' },
    };
    const params = authorizeParams(resolveRequest(seed, policy), secrets);
    assert.deepEqual(params, {
      response_type: 'code',
      client_id: 'client-1',
      redirect_uri: policy.redirectUri,
      scope: 'openid profile',
      state: secrets.state,
      nonce: secrets.nonce,
      code_challenge: secrets.challenge,
      code_challenge_method: 'S256',
      response_mode: 'form_post',
      audience: 'https://api.example',
      screen_hint: 'signup',
      prompt: 'login',
      organization: 'org_1',
      invitation: 'inv_1',
      extra: { access_type: 'offline' },
    });
    const bare = authorizeParams(
      resolveRequest({ prompt: 'UNKNOWN' }, { ...policy, audience: undefined }),
      secrets,
    );
    assert.equal('prompt' in bare, false);
    assert.equal('audience' in bare, false);
    assert.equal('extra' in bare, false);
  });

  it("sends the provider's configured authorize parameters, a seed's own over them", () => {
    const google: SeedPolicy = {
      ...policy,
      authorizeParams: { access_type: 'offline', prompt: 'consent', hd: 'example.com' },
    };
    const configured = authorizeParams(resolveRequest({}, google), secrets);
    assert.equal(configured.prompt, 'consent');
    assert.deepEqual(configured.extra, { access_type: 'offline', hd: 'example.com' });
    const seeded = authorizeParams(
      resolveRequest({ prompt: 'login', ADDITIONAL_PARAMETERS: { access_type: 'online' } }, google),
      secrets,
    );
    assert.equal(seeded.prompt, 'login');
    assert.deepEqual(seeded.extra, { access_type: 'online', hd: 'example.com' });
  });
});
