/** Secrets at rest: AES-256-GCM bound to where the value lives, and HMAC names for states and codes. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BrokerError } from '../src/errors.js';
import { createSealer } from '../src/store/sealing.js';

const KEY = randomBytes(32).toString('hex');
const isInternal = (e: unknown): boolean => e instanceof BrokerError && e.code === 'internal';

describe('sealing', () => {
  const sealer = createSealer(KEY);

  it('round-trips a value and never shows the plaintext', () => {
    const secret = 'verifier-0123456789-abcdefghijklmnopqrstuvwxyz';
    const sealed = sealer.seal(secret, 'p:f:abc#r');
    assert.ok(!sealed.includes(secret));
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
    assert.equal(sealer.open(sealed, 'p:f:abc#r'), secret);
  });

  it('uses a fresh IV for every value', () => {
    const a = sealer.seal('same', 'k');
    const b = sealer.seal('same', 'k');
    assert.notEqual(a, b);
    assert.notEqual(
      Buffer.from(a.slice(3), 'base64url').subarray(0, 12).toString('hex'),
      Buffer.from(b.slice(3), 'base64url').subarray(0, 12).toString('hex'),
    );
  });

  it('refuses a value moved to another key or field', () => {
    const sealed = sealer.seal('code-1', 'p:f:one#o');
    assert.throws(() => sealer.open(sealed, 'p:f:two#o'), isInternal);
    assert.throws(() => sealer.open(sealed, 'p:f:one#r'), isInternal);
  });

  it('refuses a tampered value, garbage, and a value sealed under another key', () => {
    const sealed = sealer.seal('code-1', 'k');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    raw[raw.length - 20] = (raw[raw.length - 20] ?? 0) ^ 1;
    assert.throws(() => sealer.open(`v1.${raw.toString('base64url')}`, 'k'), isInternal);
    assert.throws(() => sealer.open('v1.AAAA', 'k'), isInternal);
    assert.throws(() => sealer.open('plain text', 'k'), isInternal);
    assert.throws(
      () => createSealer(randomBytes(32).toString('hex')).open(sealed, 'k'),
      isInternal,
    );
  });

  it('names states and codes by a keyed HMAC: stable, separated by kind, different under another key', () => {
    const name = sealer.index('state', 'some-state');
    assert.equal(name, sealer.index('state', 'some-state'));
    assert.match(name, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!name.includes('some-state'));
    assert.notEqual(sealer.index('code', 'some-state'), name);
    assert.notEqual(
      createSealer(randomBytes(32).toString('hex')).index('state', 'some-state'),
      name,
    );
    assert.equal(createSealer(KEY.toUpperCase()).index('state', 'some-state'), name);
  });

  it('refuses a key that is not 32 bytes as 64 hex characters, instead of sealing under a weaker one', () => {
    // loadConfig tells the person; this guards the code that calls createSealer.
    for (const bad of ['', 'abc', 'g'.repeat(64), `${KEY.slice(2)}zz`, KEY.slice(2), `${KEY}00`]) {
      assert.throws(() => createSealer(bad), RangeError, bad);
    }
  });
});
