/**
 * What a discovery document means for a sign-in through the broker (pure).
 * The rules are the broker's own (discovery.ts, response-mode.ts, oidc.ts):
 * a fail here is what `serve` refuses to start with, a warn is what works
 * with less than the provider could offer.
 */
import type * as oauth from 'oauth4webapi';
import { isBrokerError } from '../errors.js';
import type { MetadataProblem } from '../provider/discovery.js';
import { pushesAuthorizationRequests } from '../provider/oidc.js';
import { responseModesOf } from '../provider/response-mode.js';
import { result, type CheckResult, type DoctorProviderSettings } from './types.js';

type Settings = Pick<DoctorProviderSettings, 'issuer' | 'responseMode' | 'par'>;

/**
 * Every check that the document alone answers, in checklist order.
 * `problems` are metadataProblems() of the same document.
 */
export function evaluateDiscovery(
  as: oauth.AuthorizationServer,
  settings: Settings,
  problems: readonly MetadataProblem[],
): CheckResult[] {
  return [
    endpoints(settings.issuer, problems),
    s256(as, problems),
    responseMode(as, settings),
    issParameter(as),
    par(as, settings),
    optional(
      as.device_authorization_endpoint,
      'device_flow',
      'Device flow (RFC 8628)',
      'no device_authorization_endpoint: a sign-in on a machine where no browser reaches the broker (POST /device/code) is not available',
      'Enable the device authorization grant for this client at the provider, if you need it.',
    ),
    optional(
      as.revocation_endpoint,
      'revocation',
      'Token revocation (RFC 7009)',
      'no revocation_endpoint: POST /pkce/revoke answers 400, and a sign-out leaves refresh tokens valid until they expire',
    ),
    optional(
      as.end_session_endpoint,
      'end_session',
      'End-session (RP-initiated logout)',
      'no end_session_endpoint: POST /pkce/logout cannot hand out a URL that ends the session at the provider',
    ),
  ];
}

function endpoints(issuer: string, problems: readonly MetadataProblem[]): CheckResult {
  const title = 'Endpoints';
  const refused = problems.filter((problem) => problem.rule === 'endpoint');
  if (refused.length > 0) {
    return result(
      'endpoints',
      'fail',
      title,
      refused.map((problem) => problem.message).join('; '),
      'The broker refuses to start with these: a provider lists authorization_endpoint, token_endpoint and jwks_uri, all https (plain http only for a provider on loopback). Check --issuer, or the provider’s configuration.',
    );
  }
  if (new URL(issuer).protocol === 'http:') {
    return result(
      'endpoints',
      'warn',
      title,
      'plain http on loopback: fine for a development provider on this machine, never for a real one',
      'Use the https issuer of your real provider outside development.',
    );
  }
  return result(
    'endpoints',
    'ok',
    title,
    'authorization, token and JWKS endpoints listed, all https',
  );
}

function s256(as: oauth.AuthorizationServer, problems: readonly MetadataProblem[]): CheckResult {
  const title = 'PKCE with S256';
  const problem = problems.find((p) => p.rule === 's256');
  if (problem !== undefined) {
    return result(
      's256',
      'fail',
      title,
      `${problem.message}; it lists ${JSON.stringify(as.code_challenge_methods_supported)}`,
      'Enable PKCE with S256 at the provider (plain is never used); the broker refuses to start without it.',
    );
  }
  if (!Array.isArray(as.code_challenge_methods_supported)) {
    return result(
      's256',
      'warn',
      title,
      'the document has no code_challenge_methods_supported: the broker sends S256 anyway, and a provider without PKCE would ignore it',
      'Check that PKCE is enabled for this client at the provider.',
    );
  }
  return result('s256', 'ok', title, 'code_challenge_methods_supported lists S256');
}

function responseMode(as: oauth.AuthorizationServer, settings: Settings): CheckResult {
  const title = 'Response mode';
  const { modes, warning } = responseModesOf(as, settings.responseMode, settings.issuer);
  if (warning !== undefined)
    return result(
      'response_mode',
      'warn',
      title,
      warning,
      'If sign-ins end with unsupported_response_mode, use --response-mode auto.',
    );
  if (modes.default === 'form_post')
    return result(
      'response_mode',
      'ok',
      title,
      'form_post: the code reaches the broker in a POST body, out of browser history',
    );
  if (settings.responseMode === 'query')
    return result('response_mode', 'ok', title, 'query (--response-mode query)');
  return result(
    'response_mode',
    'warn',
    title,
    'the provider does not list form_post: the code comes back in the callback URL’s query, which browser history keeps (single use, short-lived)',
    'Nothing to do unless the provider can enable form_post.',
  );
}

function issParameter(as: oauth.AuthorizationServer): CheckResult {
  const title = 'Issuer in the callback (RFC 9207)';
  if (as.authorization_response_iss_parameter_supported === true)
    return result(
      'iss_parameter',
      'ok',
      title,
      'advertised: the broker requires and checks iss at its callback (so a code relayed by hand through the SDK’s respondWithCode is refused)',
    );
  return result(
    'iss_parameter',
    'warn',
    title,
    'not advertised: a callback cannot prove which provider sent it; harmless with one provider, a mix-up risk with several',
    'With several providers, give each its own redirect URI if the provider cannot send iss.',
  );
}

function par(as: oauth.AuthorizationServer, settings: Settings): CheckResult {
  const title = 'Pushed authorization requests (RFC 9126)';
  let pushes: boolean;
  try {
    pushes = pushesAuthorizationRequests(as, settings.par);
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    return result('par', 'fail', title, error.message, 'Use --par auto or --par never.');
  }
  if (pushes)
    return result(
      'par',
      'ok',
      title,
      'used: state, nonce and challenge go to the provider directly, the browser gets only a request_uri',
    );
  if (typeof as.pushed_authorization_request_endpoint === 'string')
    return result('par', 'ok', title, 'offered, not used (--par never)');
  return result(
    'par',
    'warn',
    title,
    'not offered: the authorize parameters (state, nonce, challenge; no secret) travel in the browser’s URL',
  );
}

function optional(
  endpoint: unknown,
  id: CheckResult['id'],
  title: string,
  missing: string,
  fix?: string,
): CheckResult {
  if (typeof endpoint === 'string') return result(id, 'ok', title, endpoint);
  return result(id, 'warn', title, missing, fix);
}
