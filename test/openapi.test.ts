/** The operational endpoints: /healthz, and the OpenAPI document generated from the route schemas. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as Pieces from '@pieces.app/pieces-os-client';
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

type JsonSchema = { $ref?: string; properties?: Record<string, JsonSchema> };

/** The JSON keys a model of the official client reads, nested: its `...FromJSON` function, watched. */
type KeysRead = Map<string, KeysRead>;

function clientKeys(fromJson: (json: never) => unknown): KeysRead {
  const watch = (read: KeysRead, depth: number): unknown =>
    // Callable, so that whatever the client does with a value (a Date, a map over an array) goes through.
    new Proxy(() => undefined, {
      get: (_target, key) => {
        if (typeof key !== 'string' || depth > 8) return undefined;
        const inner: KeysRead = read.get(key) ?? new Map();
        read.set(key, inner);
        return watch(inner, depth + 1);
      },
    });
  const root: KeysRead = new Map();
  fromJson(watch(root, 0) as never);
  return root;
}

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

  it("documents every model with the official client's JSON keys, nested models included", async () => {
    const doc = (await (await stack.api('/openapi.json')).json()) as Document;
    const schemas = doc.components.schemas as Record<string, JsonSchema>;
    const visited = new Set<string>();
    const check = (where: string, schema: JsonSchema, client: KeysRead): void => {
      if (schema.$ref !== undefined) {
        const name = schema.$ref.split('/').pop()!;
        visited.add(name);
        assert.ok(schemas[name], `${where}: ${schema.$ref} is not documented`);
        check(where, schemas[name], client);
        return;
      }
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        const inner = client.get(key);
        assert.ok(inner, `${where}.${key} is not a key of the official client's model`);
        check(`${where}.${key}`, property, inner);
      }
    };
    // The requests the client sends, and the answer it reads (which holds every other model).
    check('SeededPKCE', { $ref: 'SeededPKCE' }, clientKeys(Pieces.SeededPKCEFromJSON));
    check('TokenizedPKCE', { $ref: 'TokenizedPKCE' }, clientKeys(Pieces.TokenizedPKCEFromJSON));
    check('PKCE', { $ref: 'PKCE' }, clientKeys(Pieces.PKCEFromJSON));
    // RFC 7009's optional token_type_hint is the one key POST /pkce/revoke adds to the client's model (issue 13).
    const revoked = clientKeys(Pieces.RevokedPKCEFromJSON);
    revoked.set('token_type_hint', new Map());
    check('RevokedPKCE', { $ref: 'RevokedPKCE' }, revoked);
    assert.deepEqual(
      Object.keys(schemas).filter((name) => !visited.has(name)),
      // POST /pkce/logout's models are the broker's own: the SDK has no such endpoint.
      ['Problem', 'LogoutPKCE', 'LoggedOutPKCE'],
      'models checked against no client model',
    );
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
