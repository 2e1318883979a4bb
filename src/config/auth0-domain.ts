/**
 * `--auth0-domain DOMAIN` is shorthand for the issuer `https://DOMAIN/`
 * (Auth0's issuer identifiers end with a slash). Host names are
 * case-insensitive but an issuer is compared as a string (OIDC Discovery §4.3),
 * and Auth0 writes its hosts in lower case, so the host is lower-cased.
 */

/** One DNS label: letters, digits and inner hyphens, at most 63 characters. */
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** A host name with an optional port; no user, path, query or fragment. */
const HOST_AND_PORT = new RegExp(`^(${LABEL}(?:\\.${LABEL})*)(?::(\\d{1,5}))?$`);

/**
 * The issuer for a tenant domain given as a bare host (optionally with a port)
 * or as an `https://` URL without path; undefined when it is neither.
 */
export function issuerFromAuth0Domain(domain: string): string | undefined {
  const host = domain
    .trim()
    .replace(/^https:\/\//i, '')
    .replace(/\/$/, '')
    .toLowerCase();
  const match = HOST_AND_PORT.exec(host);
  if (match === null) return undefined;
  const port = match[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) return undefined;
  // The URL serialiser drops a default port and leading zeros, as discovery's issuer would.
  return new URL(`https://${host}/`).href;
}
