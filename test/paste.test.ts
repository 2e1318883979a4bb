/**
 * Paste-the-redirect, the pure part: what a person pastes (a URL, quoted,
 * wrapped, with a fragment, or code=…&state=…, or a bare code) understood,
 * refused before anything is sent when it cannot be this sign-in's, and the
 * prompt loop: a refusal says why and asks again, three times at most.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  collectPaste,
  parsePaste,
  pasteProblem,
  PASTE_ATTEMPTS,
  type Delivery,
} from '../src/cli/paste.js';

const STATE = 'Zq3-state_0123456789abcdefghijklmnopqrstuvw';
const URL_PASTE = `http://127.0.0.1:1000/pkce/response/code?code=abc.DEF-123&state=${STATE}&iss=http%3A%2F%2F127.0.0.1%3A4000`;

function params(text: string): Record<string, string> {
  const parsed = parsePaste(text);
  assert.equal(parsed.kind, 'params', text);
  return Object.fromEntries(parsed.kind === 'params' ? parsed.params : []);
}

describe('parsePaste', () => {
  const expected = { code: 'abc.DEF-123', state: STATE, iss: 'http://127.0.0.1:4000' };

  it('takes a full URL, decoding its query', () => {
    assert.deepEqual(params(URL_PASTE), expected);
  });

  it('is liberal: whitespace and line breaks, quotes, angle brackets, &amp;, a trailing #', () => {
    const wrapped = `  "${URL_PASTE.slice(0, 40)}\n${URL_PASTE.slice(40, 90)}\r\n  ${URL_PASTE.slice(90)}#"  `;
    assert.deepEqual(params(wrapped), expected);
    assert.deepEqual(params(`<${URL_PASTE}>`), expected);
    assert.deepEqual(params(`'${URL_PASTE.replaceAll('&', '&amp;')}'`), expected);
  });

  it('takes the answer from a fragment, the query winning where both name a parameter', () => {
    assert.deepEqual(params(`http://127.0.0.1:1000/cb#code=abc&state=${STATE}`), {
      code: 'abc',
      state: STATE,
    });
    assert.deepEqual(params(`http://127.0.0.1:1000/cb?code=q#code=f&state=s`), {
      code: 'q',
      state: 's',
    });
  });

  it('takes code=…&state=… with or without a leading ? and a path without a host', () => {
    assert.deepEqual(params(`code=abc&state=${STATE}`), { code: 'abc', state: STATE });
    assert.deepEqual(params(`?code=abc&state=${STATE}`), { code: 'abc', state: STATE });
    assert.deepEqual(params(`/pkce/response/code?code=abc&state=${STATE}`), {
      code: 'abc',
      state: STATE,
    });
  });

  it('a bare value is a code (the state is asked next); nothing is empty', () => {
    assert.deepEqual(parsePaste('  abc.DEF-123\n'), { kind: 'code', code: 'abc.DEF-123' });
    assert.deepEqual(parsePaste(' \n\t'), { kind: 'empty' });
    assert.deepEqual(parsePaste('""'), { kind: 'empty' });
  });

  it('finds the same parameters in any URL however it is wrapped and quoted (property)', () => {
    const value = fc.stringMatching(/^[A-Za-z0-9._~-]{1,40}$/);
    fc.assert(
      fc.property(
        value,
        value,
        fc.array(fc.nat(200), { maxLength: 4 }),
        fc.constantFrom('', '"', "'", '<'),
        (code, state, breaks, quote) => {
          let url = `http://127.0.0.1:1000/pkce/response/code?code=${code}&state=${state}`;
          for (const at of breaks.sort((a, b) => b - a))
            url = `${url.slice(0, at % url.length)}\n${url.slice(at % url.length)}`;
          const close = quote === '<' ? '>' : quote;
          const parsed = parsePaste(`${quote}${url}${close}`);
          assert.equal(parsed.kind, 'params');
          if (parsed.kind === 'params') {
            assert.equal(parsed.params.get('code'), code);
            assert.equal(parsed.params.get('state'), state);
          }
        },
      ),
    );
  });
});

describe('pasteProblem', () => {
  const ok = new URLSearchParams({ code: 'c', state: STATE });

  it('passes this sign-in’s answer, and a provider error for it', () => {
    assert.equal(pasteProblem(ok, STATE), undefined);
    assert.equal(
      pasteProblem(new URLSearchParams({ error: 'access_denied', state: STATE }), STATE),
      undefined,
    );
  });

  it('refuses an address with no code, no state, or another sign-in’s state', () => {
    assert.match(pasteProblem(new URLSearchParams({ state: STATE }), STATE)!, /has no code in it/);
    assert.match(pasteProblem(new URLSearchParams({ code: 'c' }), STATE)!, /has no state/);
    assert.match(
      pasteProblem(new URLSearchParams({ code: 'c', state: 'another-state-value' }), STATE)!,
      /belongs to another sign-in/,
    );
  });
});

describe('collectPaste', () => {
  function run(answers: string[], delivery: (params: URLSearchParams) => Delivery) {
    const said: string[] = [];
    const prompts: string[] = [];
    const delivered: Array<Record<string, string>> = [];
    const done = collectPaste({
      state: STATE,
      signal: new AbortController().signal,
      ask: async (prompt) => {
        prompts.push(prompt);
        const answer = answers.shift();
        if (answer === undefined) throw new Error('asked once too often');
        return answer;
      },
      deliver: async (p) => {
        delivered.push(Object.fromEntries(p));
        return delivery(p);
      },
      say: (line) => said.push(line),
    });
    return { done, said, prompts, delivered };
  }

  it('a bad paste says why and asks again; the good one is delivered', async () => {
    const { done, said, delivered } = run(['not a url at all?x=1', URL_PASTE], () => ({
      ok: true,
    }));
    await done;
    assert.equal(said.length, 1);
    assert.match(said[0]!, /has no code in it.*Try again \(2 left\)/);
    assert.deepEqual(delivered, [
      { code: 'abc.DEF-123', state: STATE, iss: 'http://127.0.0.1:4000' },
    ]);
  });

  it('a bare code asks for the state in a second prompt', async () => {
    const { done, prompts, delivered } = run(['abc', STATE], () => ({ ok: true }));
    await done;
    assert.equal(prompts.length, 2);
    assert.match(prompts[1]!, /state/);
    assert.deepEqual(delivered, [{ code: 'abc', state: STATE }]);
  });

  it('the broker’s refusal is shown and asked again; after three it gives up', async () => {
    const { done, said, delivered } = run([URL_PASTE, URL_PASTE, URL_PASTE], () => ({
      ok: false,
      reason: 'The broker refused it: nope.',
    }));
    await assert.rejects(done, /The broker refused it: nope\. Gave up after 3 attempts\./);
    assert.equal(delivered.length, PASTE_ATTEMPTS);
    assert.deepEqual(said, [
      'The broker refused it: nope. Try again (2 left).',
      'The broker refused it: nope. Try again (1 left).',
    ]);
  });
});
