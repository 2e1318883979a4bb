/** The pure issuer helpers: loopback, allowed issuers and endpoints, domain matching. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  endpointAllowed,
  isLoopbackHost,
  issuerProblem,
  matchesDomain,
} from '../src/provider/issuer.js';

describe('isLoopbackHost', () => {
  test('127.0.0.0/8, ::1 and localhost are loopback', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '127.255.255.255',
      '[::1]',
      '::1',
      'localhost',
      'LOCALHOST',
      'localhost.',
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
  });

  test('other hosts are not', () => {
    for (const host of [
      '128.0.0.1',
      '0.0.0.0',
      '10.0.0.1',
      '127.0.0.256',
      '127.0.0',
      '127.0.0.1.example.com',
      'localhost.example.com',
      'evil-localhost',
      '[::2]',
      '[::ffff:7f00:1]',
      '',
    ]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });

  test('URL hostnames of loopback literals are recognised', () => {
    assert.equal(isLoopbackHost(new URL('http://127.1/').hostname), true, '127.1 is 127.0.0.1');
    assert.equal(isLoopbackHost(new URL('http://[0:0:0:0:0:0:0:1]/').hostname), true);
  });
});

describe('issuerProblem', () => {
  test('https anywhere, http only on loopback', () => {
    for (const ok of [
      'https://idp.example/',
      'https://idp.example',
      'https://idp.example/tenant/x',
      'http://127.0.0.1:4000',
      'http://localhost:3000/',
      'http://[::1]:8080/',
    ]) {
      assert.equal(issuerProblem(ok), undefined, ok);
    }
    assert.match(
      issuerProblem('http://idp.example/') ?? '',
      /^The issuer http:\/\/idp\.example\/ uses http:\/\/, which is only allowed on loopback/,
    );
    assert.match(issuerProblem('http://10.0.0.1/') ?? '', /only allowed on loopback/);
  });

  test('no query, fragment, credentials, other schemes or non-URLs', () => {
    assert.match(issuerProblem('https://idp.example/?tenant=x') ?? '', /query or fragment/);
    assert.match(issuerProblem('https://idp.example/#x') ?? '', /query or fragment/);
    assert.match(issuerProblem('https://idp.example/?') ?? '', /query or fragment/);
    assert.match(issuerProblem('https://user:pw@idp.example/') ?? '', /credentials/);
    assert.match(issuerProblem('ftp://idp.example/') ?? '', /must be an https:\/\/ URL/);
    assert.match(issuerProblem('idp.example') ?? '', /is not a URL/);
  });
});

describe('endpointAllowed', () => {
  const https = new URL('https://idp.example/');
  const loopback = new URL('http://127.0.0.1:4000');

  test('an https issuer allows https endpoints only', () => {
    assert.equal(endpointAllowed(new URL('https://login.idp.example/authorize'), https), true);
    assert.equal(endpointAllowed(new URL('http://idp.example/token'), https), false);
    assert.equal(endpointAllowed(new URL('http://127.0.0.1/token'), https), false);
  });

  test('an http loopback issuer keeps every endpoint on loopback', () => {
    assert.equal(endpointAllowed(new URL('http://127.0.0.1:4000/token'), loopback), true);
    assert.equal(endpointAllowed(new URL('https://localhost:4443/jwks'), loopback), true);
    assert.equal(endpointAllowed(new URL('http://idp.example/token'), loopback), false);
    assert.equal(endpointAllowed(new URL('https://idp.example/token'), loopback), false);
    assert.equal(endpointAllowed(new URL('javascript:alert(1)'), loopback), false);
  });

  test('credentials in an endpoint are refused', () => {
    assert.equal(endpointAllowed(new URL('https://a:b@idp.example/token'), https), false);
  });
});

describe('matchesDomain', () => {
  const issuer = 'https://tenant.auth0.com/';
  const authorize = 'https://login.tenant.example/authorize';

  test('a bare host, an issuer URL or an authorize URL of the provider match', () => {
    for (const domain of [
      'tenant.auth0.com',
      'TENANT.auth0.com',
      'tenant.auth0.com:443',
      'https://tenant.auth0.com',
      'https://tenant.auth0.com/',
      'https://tenant.auth0.com/authorize?client_id=x',
      'login.tenant.example',
      authorize,
    ]) {
      assert.equal(matchesDomain(domain, issuer, authorize), true, domain);
    }
  });

  test('another host, port or scheme does not', () => {
    for (const domain of [
      'evil.example',
      'tenant.auth0.com.evil.example',
      'tenant.auth0.com:8443',
      'http://tenant.auth0.com/',
      'https://evil.example/?next=tenant.auth0.com',
      'https://tenant.auth0.com@evil.example/',
      '',
      '   ',
      'https://',
    ]) {
      assert.equal(matchesDomain(domain, issuer, authorize), false, domain);
    }
  });

  test('loopback providers are matched by host and port', () => {
    const local = 'http://127.0.0.1:4000';
    assert.equal(matchesDomain('127.0.0.1:4000', local), true);
    assert.equal(matchesDomain('http://127.0.0.1:4000/auth', local), true);
    assert.equal(matchesDomain('127.0.0.1:4001', local), false);
    assert.equal(matchesDomain('127.0.0.1', local), false, 'no port means https:443');
  });
});
