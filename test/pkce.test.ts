import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  constantTimeEqual,
  generateVerifier,
  isValidVerifier,
  newChallenge,
  randomToken,
  s256Challenge,
  verifierMatchesChallenge,
} from '../src/protocol/pkce.js';

describe('PKCE core', () => {
  it('matches the RFC 7636 Appendix B example', () => {
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    assert.equal(s256Challenge(verifier), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('generates verifiers of 43 unreserved characters with 256 bits of entropy', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i += 1) {
      const verifier = generateVerifier();
      assert.equal(verifier.length, 43);
      assert.match(verifier, /^[A-Za-z0-9\-._~]+$/);
      assert.ok(isValidVerifier(verifier));
      seen.add(verifier);
    }
    assert.equal(seen.size, 1000);
    assert.equal(Buffer.from(generateVerifier(), 'base64url').length, 32);
  });

  it('accepts verifiers of 43..128 characters only', () => {
    assert.ok(isValidVerifier('a'.repeat(43)));
    assert.ok(isValidVerifier('~'.repeat(128)));
    assert.ok(!isValidVerifier('a'.repeat(42)));
    assert.ok(!isValidVerifier('a'.repeat(129)));
    assert.ok(!isValidVerifier(`${'a'.repeat(42)}+`));
    assert.ok(!isValidVerifier(`${'a'.repeat(42)}=`));
  });

  it('compares in constant time and still tells values apart', () => {
    assert.ok(constantTimeEqual('abc', 'abc'));
    assert.ok(!constantTimeEqual('abc', 'abd'));
    assert.ok(!constantTimeEqual('abc', 'abcd'));
    assert.ok(!constantTimeEqual('abc\0', 'abc'));
    assert.ok(constantTimeEqual('', ''));
    assert.ok(!constantTimeEqual('', 'a'));
    assert.ok(constantTimeEqual('ünï', 'ünï'));
  });

  it('creates a challenge whose verifier matches and whose values are independent', () => {
    const values = newChallenge();
    assert.ok(verifierMatchesChallenge(values.verifier, values.challenge));
    assert.ok(!verifierMatchesChallenge(generateVerifier(), values.challenge));
    assert.ok(!verifierMatchesChallenge('short', s256Challenge('short')));
    assert.equal(new Set([values.verifier, values.state, values.nonce]).size, 3);
    assert.equal(Buffer.from(values.state, 'base64url').length, 32);
    assert.equal(Buffer.from(values.nonce, 'base64url').length, 32);
    assert.equal(randomToken(16).length, 22);
  });
});
