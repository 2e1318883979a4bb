/**
 * Pure helpers about issuer and endpoint URLs: no I/O. Which URLs the broker
 * may talk to is decided here, in one place, so discovery and configuration
 * agree on it.
 */

/**
 * True for hosts that can only be this machine: 127.0.0.0/8, ::1 and the name
 * `localhost`. `hostname` is a URL's hostname (IPv6 literals in brackets) or a
 * bare address.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost') return true;
  if (host === '[::1]' || host === '::1') return true;
  const octets = host.split('.');
  if (octets.length !== 4 || octets[0] !== '127') return false;
  return octets.every((octet) => /^(?:0|[1-9]\d{0,2})$/.test(octet) && Number(octet) <= 255);
}

/**
 * Why `issuer` cannot be used as an issuer identifier, or undefined when it can.
 * OIDC Discovery §3: an https URL with no query or fragment; we also accept
 * plain http on loopback, for the dev provider and tests.
 */
export function issuerProblem(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return `The issuer ${JSON.stringify(issuer)} is not a URL`;
  }
  if (url.search !== '' || url.hash !== '' || issuer.includes('?') || issuer.includes('#')) {
    return `The issuer ${issuer} must not have a query or fragment`;
  }
  if (url.username !== '' || url.password !== '') {
    return `The issuer ${issuer} must not carry credentials`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname)
      ? undefined
      : `The issuer ${issuer} uses http://, which is only allowed on loopback (127.0.0.1, ::1, localhost); use https://`;
  }
  return `The issuer ${issuer} must be an https:// URL`;
}

/**
 * Whether the broker may send requests (or a browser) to `endpoint` of a
 * provider whose issuer is `issuer`: https always, except that an http issuer
 * on loopback must keep every endpoint on loopback (http or https).
 */
export function endpointAllowed(endpoint: URL, issuer: URL): boolean {
  if (endpoint.username !== '' || endpoint.password !== '') return false;
  if (issuer.protocol === 'http:') {
    return (
      (endpoint.protocol === 'http:' || endpoint.protocol === 'https:') &&
      isLoopbackHost(endpoint.hostname)
    );
  }
  return endpoint.protocol === 'https:';
}

/**
 * Whether `domain` names the provider: a bare host (`tenant.auth0.com`,
 * `127.0.0.1:4000`), an issuer URL or an authorize-endpoint URL. Its host and
 * port must be those of the issuer or of the authorization endpoint; a bare
 * host without a port means the https default port.
 */
export function matchesDomain(
  domain: string,
  issuer: string,
  authorizationEndpoint?: string,
): boolean {
  const given = parseLoose(domain.trim());
  if (given === undefined || given.hostname === '') return false;
  const candidates = [issuer, authorizationEndpoint].flatMap((value) => {
    if (value === undefined) return [];
    try {
      return [new URL(value)];
    } catch {
      return [];
    }
  });
  const key = hostKey(given);
  return candidates.some((candidate) => hostKey(candidate) === key);
}

/** Parses a URL, or a bare `host[:port][/path]` as if it were https. */
function parseLoose(value: string): URL | undefined {
  if (value === '') return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  try {
    return new URL(withScheme);
  } catch {
    return undefined;
  }
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'https:': '443', 'http:': '80' };

/** Lower-cased hostname and effective port. */
function hostKey(url: URL): string {
  const port = url.port !== '' ? url.port : (DEFAULT_PORTS[url.protocol] ?? '');
  return `${url.hostname.toLowerCase().replace(/\.$/, '')}:${port}`;
}

/**
 * The kind of provider an issuer names, where its host makes it obvious:
 * Auth0 tenants (`*.auth0.com`) and Descope (`api.descope.com`); anything else
 * is a generic OpenID provider. A custom domain says so with `kind`.
 */
export function inferKind(issuer: string): 'oidc' | 'auth0' | 'descope' {
  let host: string;
  try {
    host = new URL(issuer).hostname.toLowerCase().replace(/\.$/, '');
  } catch {
    return 'oidc';
  }
  if (host === 'auth0.com' || host.endsWith('.auth0.com')) return 'auth0';
  if (host === 'api.descope.com' || host.endsWith('.descope.com')) return 'descope';
  return 'oidc';
}
