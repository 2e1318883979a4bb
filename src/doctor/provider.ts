/**
 * `pkce-broker doctor` for one provider: the checks, in checklist order, each
 * reported as it completes. Takes one provider's settings, so a config with
 * several providers runs it once per entry.
 */
import type * as oauth from 'oauth4webapi';
import { isBrokerError } from '../errors.js';
import { limitBodies } from '../provider/body-limit.js';
import {
  buildRequestOptions,
  discoveryUrlOf,
  fetchMetadata,
  metadataProblems,
  type MetadataProblem,
} from '../provider/discovery.js';
import { issuerProblem } from '../provider/issuer.js';
import { providerOnMetadata, pushesAuthorizationRequests } from '../provider/oidc.js';
import type { IdentityProvider } from '../provider/types.js';
import { checkRedirectUri } from './authorize.js';
import { checkClientAuth } from './client-auth.js';
import { checkJwks } from './jwks.js';
import { evaluateDiscovery } from './metadata.js';
import { result, type CheckResult, type DoctorProviderSettings } from './types.js';

export type Report = (check: CheckResult) => void;

export async function checkProvider(
  settings: DoctorProviderSettings,
  report: Report = () => {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (check: CheckResult): void => {
    const tagged = { ...check, provider: settings.id };
    results.push(tagged);
    report(tagged);
  };
  const transport = limitBodies(settings.fetch ?? ((input, init) => fetch(input, init)));
  const where = discoveryUrlOf(settings.issuer);

  const problem = issuerProblem(settings.issuer);
  if (problem !== undefined) {
    add(
      result(
        'discovery',
        'fail',
        'Discovery document',
        problem,
        'Give the https issuer URL of your provider (--issuer or --auth0-domain).',
      ),
    );
    return results;
  }
  const issuerUrl = new URL(settings.issuer);
  let as: oauth.AuthorizationServer;
  try {
    as = await fetchMetadata(
      settings.issuer,
      issuerUrl,
      buildRequestOptions(transport, issuerUrl, settings.timeoutMs),
      settings.timeoutMs,
    );
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    add(
      result(
        'discovery',
        'fail',
        'Discovery document',
        error.message,
        `Check --issuer: ${where} must answer with the provider's discovery document, whose issuer is exactly the --issuer given. The other checks need it.`,
      ),
    );
    return results;
  }
  add(result('discovery', 'ok', 'Discovery document', `${where} answers with a valid document`));
  add(result('issuer', 'ok', 'Issuer', `${as.issuer}, exactly as configured`));

  const problems = metadataProblems(as, settings.issuer, issuerUrl);
  for (const check of evaluateDiscovery(as, settings, problems)) add(check);

  // The checks that talk to the provider run at once and are reported in order.
  const refused = new Set(problems.map((p) => p.field));
  let provider: IdentityProvider | undefined;
  try {
    provider = providerOnMetadata(
      {
        issuer: settings.issuer,
        clientId: settings.clientId,
        ...(settings.clientSecret !== undefined && { clientSecret: settings.clientSecret }),
        timeoutMs: settings.timeoutMs,
        responseMode: settings.responseMode,
        par: settings.par,
        fetch: transport,
      },
      as,
    );
  } catch (error) {
    // --par always without the endpoint, or no jwks_uri: reported above already.
    if (!isBrokerError(error) && !(error instanceof TypeError)) throw error;
  }
  const pending: Array<Promise<CheckResult>> = [
    typeof as.jwks_uri === 'string' && !refused.has('jwks_uri')
      ? checkJwks(
          as.jwks_uri,
          as.id_token_signing_alg_values_supported,
          transport,
          settings.timeoutMs,
        )
      : Promise.resolve(notTried('jwks', 'Signing keys (JWKS)', 'jwks_uri', problems)),
    redirectCheck(as, provider, settings, refused, problems, transport),
    provider !== undefined && !refused.has('token_endpoint')
      ? checkClientAuth(provider, settings.clientSecret !== undefined)
      : Promise.resolve(
          notTried('client_auth', 'Client at the token endpoint', 'token_endpoint', problems),
        ),
  ];
  for (const check of pending) add(await check);
  return results;
}

function redirectCheck(
  as: oauth.AuthorizationServer,
  provider: IdentityProvider | undefined,
  settings: DoctorProviderSettings,
  refused: ReadonlySet<string>,
  problems: readonly MetadataProblem[],
  transport: typeof fetch,
): Promise<CheckResult> {
  const title = 'Redirect URI';
  if (settings.redirectUri === undefined)
    return Promise.resolve(
      result(
        'redirect_uri',
        'warn',
        title,
        'with --port 0 the redirect URI names the port the broker gets at start, so it cannot be checked now',
        'Give --redirect-uri (or a fixed --port) with the callback registered at the provider.',
      ),
    );
  // The request goes only to endpoints the broker would use: a push where it pushes, else the browser's URL.
  // Built, the provider passed pushesAuthorizationRequests already: asking again cannot throw.
  const endpoint =
    provider !== undefined && pushesAuthorizationRequests(as, settings.par)
      ? 'pushed_authorization_request_endpoint'
      : 'authorization_endpoint';
  if (provider === undefined || refused.has(endpoint))
    return Promise.resolve(notTried('redirect_uri', title, endpoint, problems));
  return checkRedirectUri(provider, settings, settings.redirectUri, transport);
}

function notTried(
  id: CheckResult['id'],
  title: string,
  field: string,
  problems: readonly MetadataProblem[],
): CheckResult {
  const why = problems.some((p) => p.field === field)
    ? `its ${field} is refused above`
    : 'the provider client could not be built from this document (see above)';
  return result(id, 'warn', title, `not tried: ${why}`);
}
