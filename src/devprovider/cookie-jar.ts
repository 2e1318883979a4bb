/**
 * A cookie jar for one origin, enough for a scripted walk through the dev
 * provider's pages. oidc-provider scopes its interaction cookies by Path
 * (`/interaction/<uid>`, `/auth/<uid>`) and reuses names across interactions,
 * so paths are honoured; Domain is not (the jar never leaves its origin).
 */
interface Cookie {
  name: string;
  value: string;
  path: string;
  expiresAt: number;
}

export class CookieJar {
  /** keyed by `${path}\n${name}`, like a browser's (name, path) identity */
  readonly #cookies = new Map<string, Cookie>();

  /** Records a response's Set-Cookie headers (`headers.getSetCookie()`). */
  store(requestUrl: URL, setCookies: string[]): void {
    for (const header of setCookies) {
      const cookie = parseSetCookie(header, requestUrl);
      if (cookie === undefined) continue;
      const key = `${cookie.path}\n${cookie.name}`;
      if (cookie.expiresAt <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  /** The Cookie header a browser would send to `url`, or undefined. */
  header(url: URL): string | undefined {
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((cookie) => cookie.expiresAt > now && pathMatches(url.pathname, cookie.path))
      // RFC 6265 §5.4: longer paths first, so the most specific cookie wins.
      .sort((a, b) => b.path.length - a.path.length);
    if (matching.length === 0) return undefined;
    return matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
  }
}

function parseSetCookie(header: string, requestUrl: URL): Cookie | undefined {
  const [pair = '', ...attributes] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const cookie: Cookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    path: defaultPath(requestUrl.pathname),
    expiresAt: Infinity,
  };
  let maxAgeSeen = false;
  for (const attribute of attributes) {
    const [rawName = '', ...rest] = attribute.split('=');
    const name = rawName.trim().toLowerCase();
    const value = rest.join('=').trim();
    if (name === 'path' && value.startsWith('/')) cookie.path = value;
    else if (name === 'max-age' && /^-?\d+$/.test(value)) {
      // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
      maxAgeSeen = true;
      cookie.expiresAt = Date.now() + Number(value) * 1000;
    } else if (name === 'expires' && !maxAgeSeen) {
      const time = Date.parse(value);
      if (!Number.isNaN(time)) cookie.expiresAt = time;
    }
  }
  return cookie;
}

/** RFC 6265 §5.1.4 default-path: the request path up to its last slash. */
function defaultPath(pathname: string): string {
  const slash = pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : pathname.slice(0, slash);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
