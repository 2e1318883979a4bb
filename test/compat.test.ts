/**
 * The unmodified official client (`@pieces.app/pieces-os-client`) against the
 * broker: getChallenge → generateCode → (login) → respondWithCode →
 * generateToken → clearPKCE, and our answers round-tripped through its models.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as Pieces from '@pieces.app/pieces-os-client';
import { decodeJwt } from 'jose';
import { scriptedLogin } from '../src/devprovider/login.js';
import { startStack, type Stack } from './support/stack.js';

function client(stack: Stack, appId?: string): Pieces.PKCEApi {
  return new Pieces.PKCEApi(
    new Pieces.Configuration({
      basePath: stack.broker.url,
      ...(appId !== undefined && { apiKey: () => appId }),
    }),
  );
}

/** A stand-in for an app's own redirect page: it captures what the provider sends and relays nothing. */
async function captureServer(): Promise<{
  url: string;
  next(): Promise<URLSearchParams>;
  close(): Promise<void>;
}> {
  const waiting: Array<(params: URLSearchParams) => void> = [];
  const server: Server = createServer((req, res) => {
    const params = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('captured');
    waiting.shift()?.(params);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/cb`,
    next: () => new Promise((resolve) => waiting.push(resolve)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('official client: form_post to the broker', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it('completes getChallenge → generateCode → generateToken → clearPKCE', async () => {
    const api = client(stack);
    const challenged = await api.getChallenge();
    const challenge = challenged.challenge!;
    assert.equal(challenge.method, Pieces.ChallengedPKCEMethodEnum.S256);
    assert.equal(
      challenged.schema?.semantic,
      Pieces.EmbeddedModelSchemaSemanticVersionEnum.Major0Minor0Patch1,
    );

    const pending = api.generateCode({
      seededPKCE: {
        responseType: Pieces.SeededPKCEResponseTypeEnum.Code,
        state: challenge.state,
        nonce: challenge.nonce,
        codeChallenge: challenge.challenge,
        codeChallengeMethod: Pieces.SeededPKCECodeChallengeMethodEnum.S256,
        scope: ['openid', 'profile', 'email', 'offline_access'],
        clientId: stack.devProvider.clientId,
        redirectUri: stack.broker.redirectUri,
        domain: stack.devProvider.issuer,
      },
    });
    const { callbackResponse } = await scriptedLogin(await stack.nextAuthorizeUrl());
    assert.equal(callbackResponse.status, 200);
    const coded = await pending;
    assert.equal(coded.result?.state, challenge.state);
    assert.ok(coded.result?.code);

    const tokenized = await api.generateToken({
      tokenizedPKCE: {
        grantType: Pieces.TokenizedPKCEGrantTypeEnum.AuthorizationCode,
        clientId: stack.devProvider.clientId,
        code: coded.result!.code,
        redirectUri: stack.broker.redirectUri,
        codeVerifier: challenge.verifier,
      },
    });
    const token = tokenized.auth0!.oAuth.token!;
    assert.equal(token.tokenType, Pieces.OAuthTokenTokenTypeEnum.Bearer);
    assert.ok(token.accessToken);
    assert.ok(token.expiresIn > 0);
    assert.equal(decodeJwt(token.idToken!).nonce, challenge.nonce);
    assert.equal(tokenized.auth0!.user?.email, stack.devProvider.user.email);
    assert.equal(tokenized.token?.codeVerifier, undefined);

    const refreshed = await api.generateToken({
      tokenizedPKCE: {
        grantType: Pieces.TokenizedPKCEGrantTypeEnum.RefreshToken,
        clientId: stack.devProvider.clientId,
        code: token.refreshToken!,
        redirectUri: stack.broker.redirectUri,
        codeVerifier: '',
      },
    });
    assert.ok(refreshed.auth0!.oAuth.token!.accessToken);

    await api.clearPKCE();
  });

  it('starts a whole flow from an empty generateCode()', async () => {
    const api = client(stack);
    const pending = api.generateCode();
    await scriptedLogin(await stack.nextAuthorizeUrl());
    const coded = await pending;
    const tokenized = await api.generateToken({
      tokenizedPKCE: {
        grantType: Pieces.TokenizedPKCEGrantTypeEnum.AuthorizationCode,
        clientId: stack.devProvider.clientId,
        code: coded.result!.code,
        redirectUri: stack.broker.redirectUri,
        codeVerifier: '',
      },
    });
    assert.ok(tokenized.auth0?.oAuth.token?.accessToken);
  });

  it('sees clearPKCE end a pending generateCode with a 409 ResponseError', async () => {
    const api = client(stack);
    const pending = api.generateCode();
    await stack.nextAuthorizeUrl();
    await api.clearPKCE();
    await assert.rejects(
      pending,
      (error: unknown) => error instanceof Pieces.ResponseError && error.response.status === 409,
    );
  });

  it('round-trips every answer through the official models unchanged', async () => {
    const challengeBody = (await (await stack.api('/pkce/challenge')).json()) as Record<
      string,
      unknown
    >;
    // JSON.stringify drops the keys the client sets to undefined, as it does on the wire.
    const roundTrip = (body: Record<string, unknown>): unknown =>
      JSON.parse(JSON.stringify(Pieces.PKCEToJSON(Pieces.PKCEFromJSON(body))));
    assert.deepEqual(roundTrip(challengeBody), challengeBody);

    const state = (challengeBody.challenge as { state: string }).state;
    const pending = stack.api('/pkce/code', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state, audience: 'https://api.example' }),
    });
    await scriptedLogin(await stack.nextAuthorizeUrl());
    const codeBody = (await (await pending).json()) as Record<string, unknown>;
    assert.deepEqual(roundTrip(codeBody), codeBody);

    const code = (codeBody.result as { code: string }).code;
    const tokenBody = (await (
      await stack.api('/pkce/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'authorization_code',
          code,
          code_verifier: (challengeBody.challenge as { verifier: string }).verifier,
        }),
      })
    ).json()) as Record<string, unknown>;
    const parsed = Pieces.PKCEFromJSON(tokenBody);
    assert.equal(parsed.auth0?.audience, 'https://api.example');
    assert.equal(parsed.auth0?.oAuth.token?.tokenType, 'Bearer');
    assert.deepEqual(
      JSON.parse(JSON.stringify(Pieces.OAuthTokenToJSON(parsed.auth0!.oAuth.token!))),
      (tokenBody.auth0 as { oAuth: { token: unknown } }).oAuth.token,
    );
  });
});

describe('official client: respondWithCode relays a code by hand', () => {
  let stack: Stack;
  let capture: Awaited<ReturnType<typeof captureServer>>;
  before(async () => {
    capture = await captureServer();
    // respondWithCode cannot carry `iss`, so this provider does not advertise RFC 9207.
    stack = await startStack({
      provider: { advertiseIss: false },
      argv: ['--allow-redirect-uri', capture.url],
    });
  });
  after(async () => {
    await stack.close();
    await capture.close();
  });

  it('completes getChallenge → generateCode → respondWithCode → generateToken → clearPKCE', async () => {
    const api = client(stack);
    const challenge = (await api.getChallenge()).challenge!;
    const pending = api.generateCode({
      seededPKCE: {
        responseType: Pieces.SeededPKCEResponseTypeEnum.Code,
        state: challenge.state,
        nonce: challenge.nonce,
        codeChallenge: challenge.challenge,
        codeChallengeMethod: Pieces.SeededPKCECodeChallengeMethodEnum.S256,
        scope: ['openid', 'profile', 'email'],
        clientId: stack.devProvider.clientId,
        redirectUri: capture.url,
        responseMode: 'query',
      },
    });
    const captured = capture.next();
    await scriptedLogin(await stack.nextAuthorizeUrl());
    const params = await captured;
    assert.equal(params.get('state'), challenge.state);

    const relayed = await api.respondWithCode({
      code: params.get('code')!,
      state: params.get('state')!,
      schema: {
        migration: 0,
        semantic: Pieces.EmbeddedModelSchemaSemanticVersionEnum.Major0Minor0Patch1,
      },
    });
    assert.equal(relayed.result?.state, challenge.state);
    const coded = await pending;
    assert.equal(coded.result?.code, params.get('code'));

    const tokenized = await api.generateToken({
      tokenizedPKCE: {
        grantType: Pieces.TokenizedPKCEGrantTypeEnum.AuthorizationCode,
        clientId: stack.devProvider.clientId,
        code: coded.result!.code,
        redirectUri: capture.url,
        codeVerifier: challenge.verifier,
      },
    });
    assert.equal(decodeJwt(tokenized.auth0!.oAuth.token!.idToken!).sub, stack.devProvider.user.sub);
    await api.clearPKCE();
  });
});
