/** The operational endpoints: /healthz, and the OpenAPI document generated from the route schemas. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startStack, type Stack } from './support/stack.js';

type Document = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      { operationId?: string; requestBody?: unknown; responses?: Record<string, unknown> }
    >
  >;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
};

describe('operational endpoints', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it('reports readiness and the provider on /healthz', async () => {
    const response = await stack.api('/healthz');
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      status: string;
      issuer: string;
      store: { ok: boolean };
    };
    assert.equal(body.status, 'ok');
    assert.equal(body.issuer, stack.devProvider.issuer);
    assert.equal(body.store.ok, true);
  });

  it('serves an OpenAPI 3 document built from the route schemas', async () => {
    const response = await stack.api('/openapi.json');
    assert.equal(response.status, 200);
    const doc = (await response.json()) as Document;
    assert.match(doc.openapi, /^3\./);
    const operations = Object.fromEntries(
      Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => [
          `${method.toUpperCase()} ${path}`,
          op.operationId,
        ]),
      ),
    );
    assert.equal(operations['GET /pkce/challenge'], 'getChallenge');
    assert.equal(operations['POST /pkce/code'], 'generateCode');
    assert.equal(operations['POST /pkce/response/code'], 'respondWithCode');
    assert.equal(operations['GET /pkce/response/code'], 'respondWithCodeQuery');
    assert.equal(operations['POST /pkce/token'], 'generateToken');
    assert.equal(operations['POST /pkce/clear'], 'clearPKCE');
    assert.ok(doc.paths['/healthz']);
    assert.equal(doc.paths['/openapi.json'], undefined);
    for (const model of [
      'PKCE',
      'SeededPKCE',
      'TokenizedPKCE',
      'ChallengedPKCE',
      'OAuthToken',
      'Auth0',
      'Problem',
    ]) {
      assert.ok(doc.components.schemas[model], `schema ${model} missing`);
    }
    assert.ok(doc.components.schemas.SeededPKCE?.properties?.code_challenge);
    assert.ok(doc.components.schemas.TokenizedPKCE?.properties?.code_verifier);
    assert.ok(doc.paths['/pkce/token']?.post?.requestBody);
    assert.ok(doc.paths['/pkce/token']?.post?.responses?.['200']);
    // The second request is served from the same document.
    assert.deepEqual(await (await stack.api('/openapi.json')).json(), doc);
  });

  it('validates bodies against the same schemas it documents', async () => {
    const post = (body: unknown) =>
      stack.api('/pkce/code', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const [body, field] of [
      [{ scope: 'openid' }, /scope/],
      [{ state: 42 }, /state/],
      [{ unknown_field: 'x' }, /additional/],
      [{ ADDITIONAL_PARAMETERS: { access_type: 1 } }, /access_type/],
      [[], /object/],
    ] as const) {
      const response = await post(body);
      assert.equal(response.status, 400, JSON.stringify(body));
      const problem = (await response.json()) as { code: string; detail: string };
      assert.equal(problem.code, 'invalid_request');
      assert.match(problem.detail, field);
    }
    const token = await stack.api('/pkce/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'x' }),
    });
    assert.equal(token.status, 400);
    assert.match(((await token.json()) as { detail: string }).detail, /grant_type/);
  });

  it('answers challenges of the same shape before and after its serializer is compiled', async () => {
    const keys = async () => {
      const body = (await (await stack.api('/pkce/challenge')).json()) as {
        schema: unknown;
        challenge: Record<string, unknown>;
      };
      return [Object.keys(body).sort(), Object.keys(body.challenge).sort()];
    };
    const first = await keys();
    for (let i = 0; i < 20; i += 1) assert.deepEqual(await keys(), first);
    assert.deepEqual(first, [
      ['challenge', 'schema'],
      ['challenge', 'method', 'nonce', 'schema', 'state', 'verifier'],
    ]);
  });
});
