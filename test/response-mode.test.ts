/**
 * response_mode comes from the provider's discovery document: form_post only
 * where response_modes_supported lists it, else query (an absent list means
 * query and fragment); --response-mode overrides, and a seed may pick a mode
 * the provider supports. Against the bundled provider with form_post taken
 * out of its discovery, a flow runs through a GET callback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { BrokerError } from '../src/errors.js';
import type { PKCE } from '../src/protocol/models.js';
import { responseModesOf } from '../src/provider/response-mode.js';
import { postJson, startStack, type Stack } from './support/stack.js';

const ISSUER = 'https://idp.example';

describe('responseModesOf', () => {
  it('auto: form_post where listed, else query; an absent list means query and fragment', () => {
    const listed = responseModesOf(
      { response_modes_supported: ['query', 'form_post'] },
      'auto',
      ISSUER,
    );
    assert.deepEqual(listed, {
      modes: { default: 'form_post', supported: ['query', 'form_post'] },
    });
    const queryOnly = responseModesOf({ response_modes_supported: ['query'] }, 'auto', ISSUER);
    assert.equal(queryOnly.modes.default, 'query');
    assert.equal(queryOnly.warning, undefined);
    const absent = responseModesOf({}, 'auto', ISSUER);
    assert.deepEqual(absent.modes, { default: 'query', supported: ['query', 'fragment'] });
  });

  it('a forced form_post the provider does not list is used, supported, and warned about', () => {
    const forced = responseModesOf({ response_modes_supported: ['query'] }, 'form_post', ISSUER);
    assert.equal(forced.modes.default, 'form_post');
    assert.ok(forced.modes.supported.includes('form_post'));
    assert.match(forced.warning ?? '', /form_post.*idp\.example.*response_modes_supported/);
    // Forced where it is listed: nothing to say.
    const listed = responseModesOf(
      { response_modes_supported: ['form_post'] },
      'form_post',
      ISSUER,
    );
    assert.equal(listed.warning, undefined);
    assert.equal(responseModesOf({}, 'query', ISSUER).modes.default, 'query');
  });
});

describe('--response-mode and --par are validated once', () => {
  const load = (argv: string[]) => loadConfig({ argv, env: {}, readFile: () => undefined });
  it('defaults to auto, takes the allowed values, refuses others with one line', () => {
    assert.equal(load([]).config.responseMode, 'auto');
    assert.equal(load([]).config.par, 'auto');
    assert.equal(load(['--response-mode', 'query']).config.responseMode, 'query');
    assert.equal(load(['--par', 'never']).config.par, 'never');
    for (const argv of [
      ['--response-mode', 'fragment'],
      ['--par', 'sometimes'],
    ]) {
      assert.throws(
        () => load(argv),
        (error: unknown) =>
          error instanceof BrokerError &&
          error.code === 'config_invalid' &&
          !error.message.includes('\n') &&
          error.message.includes(argv[0]!) &&
          error.message.includes(`"${argv[1]}"`) &&
          error.message.includes('(from '),
      );
    }
  });
});

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

describe('a provider whose discovery does not list form_post', () => {
  let stack: Stack;
  before(async () => {
    // PAR off: the test reads response_mode off the URL the browser gets.
    stack = await startStack({
      argv: ['--par', 'never'],
      provider: { responseModesSupported: ['query'] },
    });
  });
  after(async () => {
    await stack.close();
  });

  it('gets response_mode=query, a GET callback, and a working token exchange', async () => {
    assert.deepEqual(stack.broker.provider.responseModes, {
      default: 'query',
      supported: ['query'],
    });
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
    const authorizeUrl = await stack.nextAuthorizeUrl();
    assert.equal(authorizeUrl.searchParams.get('response_mode'), 'query');
    const { callbackResponse, delivered } = await scriptedLogin(authorizeUrl, {
      accept: 'application/json',
    });
    // oidc-provider answers query mode with a redirect: the code came in the URL, to a GET.
    assert.equal(callbackResponse.status, 200);
    assert.equal(delivered.get('state'), challenge.state);
    const answer = await json<PKCE>(await waiting);
    assert.equal(answer.seed?.response_mode, 'query');
    const code = answer.result!.code;
    const token = await stack.api(
      '/pkce/token',
      postJson({ grant_type: 'authorization_code', code, code_verifier: challenge.verifier }),
    );
    assert.equal(token.status, 200);
    const body = await json<PKCE>(token);
    assert.equal(typeof body.auth0?.oAuth?.token?.access_token, 'string');
  });

  it('refuses a seed asking for form_post, naming the supported modes', async () => {
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const response = await stack.api(
      '/pkce/code',
      postJson({ state: challenge.state, response_mode: 'form_post' }),
    );
    assert.equal(response.status, 400);
    const problem = await json(response);
    assert.equal(problem.error, 'invalid_request');
    assert.match(String(problem.detail), /form_post.*supports query/);
  });
});

describe('--response-mode form_post on a provider that does not list it', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      argv: ['--par', 'never', '--response-mode', 'form_post'],
      provider: { responseModesSupported: null },
    });
  });
  after(async () => {
    await stack.close();
  });

  it('warns once at start, and asks for form_post anyway', async () => {
    const warnings = stack.logs.filter((line) => /"level":40/.test(line));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /--response-mode form_post.*response_modes_supported/);
    const challenge = (await json<PKCE>(await stack.api('/pkce/challenge'))).challenge!;
    const waiting = stack.api('/pkce/code', postJson({ state: challenge.state }));
    const authorizeUrl = await stack.nextAuthorizeUrl();
    assert.equal(authorizeUrl.searchParams.get('response_mode'), 'form_post');
    // oidc-provider does support it, unadvertised: the form comes back by POST.
    const { callbackResponse } = await scriptedLogin(authorizeUrl, { accept: 'application/json' });
    assert.equal(callbackResponse.status, 200);
    assert.equal((await json<PKCE>(await waiting)).result?.state, challenge.state);
  });
});
