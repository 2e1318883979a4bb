/**
 * Microsoft Entra ID's multi-tenant endpoints (pure). The discovery document
 * of `https://login.microsoftonline.com/common/v2.0` (and `organizations`,
 * `consumers`) names the issuer `https://login.microsoftonline.com/{tenantid}/v2.0`,
 * a template no ID token carries: each token's `iss` names the user's own
 * tenant, whose id is the token's `tid` claim. This is the one exception to
 * the exact issuer match of OIDC Discovery §4.3, and it is narrow: the
 * configured issuer must be one of those Microsoft URLs, the document must
 * name exactly its template, and a token's `iss` must be the template with
 * that token's own `tid` (a GUID) in it.
 */

/** The literal Microsoft puts where the tenant goes. */
export const TENANT_PLACEHOLDER = '{tenantid}';

/** Microsoft's multi-tenant authorities, on its public cloud host. */
const MULTI_TENANT_ISSUER =
  /^https:\/\/login\.microsoftonline\.com\/(?:common|organizations|consumers)(\/.*)?$/;

/** A tenant id: a GUID, as Entra writes it (lower case, 8-4-4-4-12). */
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The issuer template that Microsoft's discovery document gives for a
 * configured multi-tenant issuer (`…/common/v2.0` → `…/{tenantid}/v2.0`), or
 * undefined for every other issuer, which is then matched exactly.
 */
export function tenantIssuerTemplate(configured: string): string | undefined {
  const match = MULTI_TENANT_ISSUER.exec(configured);
  if (match === null) return undefined;
  return `https://login.microsoftonline.com/${TENANT_PLACEHOLDER}${match[1] ?? ''}`;
}

/** The issuer a token with claim `tid` must carry under `template`, or undefined when `tid` is no tenant id. */
export function issuerForTenant(template: string, tid: unknown): string | undefined {
  if (typeof tid !== 'string' || !TENANT_ID.test(tid)) return undefined;
  return template.replace(TENANT_PLACEHOLDER, tid);
}
