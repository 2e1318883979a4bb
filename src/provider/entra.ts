/**
 * Microsoft Entra ID's multi-tenant endpoints (pure). The discovery document
 * of `https://login.microsoftonline.com/common/v2.0` (and `organizations`)
 * names the issuer `https://login.microsoftonline.com/{tenantid}/v2.0`, a
 * template no ID token carries: each token's `iss` names the user's own
 * tenant, whose id is the token's `tid` claim. `consumers` (personal
 * Microsoft accounts only) names no template but the one tenant all those
 * accounts are in, and its tokens carry exactly that issuer. These are the
 * exceptions to the exact issuer match of OIDC Discovery §4.3, and they are
 * narrow: the configured issuer must be one of those Microsoft URLs, the
 * document must name exactly its issuer, and under the template a token's
 * `iss` must be the template with that token's own `tid` (a GUID) in it.
 */

/** The literal Microsoft puts where the tenant goes. */
export const TENANT_PLACEHOLDER = '{tenantid}';

/** Microsoft's multi-tenant authorities, on its public cloud host. */
const MULTI_TENANT_ISSUER =
  /^https:\/\/login\.microsoftonline\.com\/(common|organizations|consumers)(\/.*)?$/;

/**
 * The tenant of every personal Microsoft account: what the `consumers`
 * document names as its issuer (Microsoft's documentation of the `tid` claim).
 */
export const CONSUMERS_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** A tenant id: a GUID, as Entra writes it (lower case, 8-4-4-4-12). */
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The issuer that Microsoft's discovery document gives for a configured
 * multi-tenant issuer (`…/common/v2.0` → the template `…/{tenantid}/v2.0`,
 * `…/consumers/v2.0` → `…/9188040d-…/v2.0`), or undefined for every other
 * issuer, which is then matched exactly.
 */
export function multiTenantIssuer(configured: string): string | undefined {
  const match = MULTI_TENANT_ISSUER.exec(configured);
  if (match === null) return undefined;
  const tenant = match[1] === 'consumers' ? CONSUMERS_TENANT_ID : TENANT_PLACEHOLDER;
  return `https://login.microsoftonline.com/${tenant}${match[2] ?? ''}`;
}

/** The template a configured issuer's tokens are judged under (each token's own tenant), if any. */
export function tenantIssuerTemplate(configured: string): string | undefined {
  const issuer = multiTenantIssuer(configured);
  return issuer?.includes(TENANT_PLACEHOLDER) ? issuer : undefined;
}

/** The issuer a token with claim `tid` must carry under `template`, or undefined when `tid` is no tenant id. */
export function issuerForTenant(template: string, tid: unknown): string | undefined {
  if (typeof tid !== 'string' || !TENANT_ID.test(tid)) return undefined;
  return template.replace(TENANT_PLACEHOLDER, tid);
}
