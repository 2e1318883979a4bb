/**
 * A headless login at the dev provider: what a person with a browser would do,
 * done with fetch. Used by `pkce-broker demo`, the benchmark and the tests.
 *
 * Request sequence (8 requests for a first login; nothing is fetched twice):
 *   GET /auth?…  → 303 → GET /interaction/A (login page) → POST …/login
 *   → 303 → GET /auth/A → 303 → GET /interaction/B (consent page) → POST …/confirm
 *   → 303 → GET /auth/B → form_post page (or 303 to the redirect URI)
 *   → POST (or GET) the redirect URI: the callback, whose answer is returned.
 */
import { CookieJar } from './cookie-jar.js';
import { parseForms, textById, type HtmlForm } from './html-form.js';

export interface ScriptedLoginOptions {
  /** default 'demo' */
  username?: string;
  /** default 'demo' */
  password?: string;
  /** Press "Deny" on the consent page: the callback then receives error=access_denied. */
  deny?: boolean;
  signal?: AbortSignal;
  /**
   * Accept header of the final request to the redirect URI. Default: what a
   * browser sends for a navigation (prefers text/html).
   */
  accept?: string;
}

export interface ScriptedLoginResult {
  /** The redirect URI's answer (the broker's callback), body unread. */
  callbackResponse: Response;
  /** The parameters the provider delivered to the redirect URI. */
  delivered: URLSearchParams;
}

const STEP_TIMEOUT_MS = 10_000;
/** A first login takes 7 provider requests; more means something loops. */
const MAX_PROVIDER_REQUESTS = 12;
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * Follows an authorize URL through the dev provider's login and consent pages
 * with fetch and a cookie jar, and delivers the provider's final response to
 * the redirect URI as a browser would: for response_mode=form_post it submits
 * the provider's auto-submit form (POST, urlencoded, with the provider's
 * `Origin`); for query mode it GETs the redirect location.
 */
export async function scriptedLogin(
  authorizeUrl: string | URL,
  options: ScriptedLoginOptions = {},
): Promise<ScriptedLoginResult> {
  const end = await walkToCallback(authorizeUrl, options);
  if (end.kind === 'redirect') {
    return { callbackResponse: await deliver(end.url, options), delivered: end.url.searchParams };
  }
  const callbackResponse = await deliver(end.action, options, {
    method: 'POST',
    headers: { 'content-type': FORM_TYPE, origin: end.providerOrigin },
    body: end.delivered.toString(),
  });
  return { callbackResponse, delivered: end.delivered };
}

/**
 * Like scriptedLogin, but stops where a browser on another machine stops: at
 * the redirect to the callback, which it does not load. Resolves with that
 * address, the one a person pastes back (response_mode=query only).
 */
export async function scriptedRedirect(
  authorizeUrl: string | URL,
  options: Omit<ScriptedLoginOptions, 'accept'> = {},
): Promise<URL> {
  const end = await walkToCallback(authorizeUrl, options);
  if (end.kind === 'form') {
    throw new Error(
      'scripted login: the provider posts its answer (form_post), no address to stop at',
    );
  }
  return end.url;
}

type CallbackEnd =
  | { kind: 'redirect'; url: URL }
  | { kind: 'form'; action: URL; delivered: URLSearchParams; providerOrigin: string };

async function walkToCallback(
  authorizeUrl: string | URL,
  options: ScriptedLoginOptions,
): Promise<CallbackEnd> {
  const start = new URL(authorizeUrl);
  const providerOrigin = start.origin;
  const redirectParam = start.searchParams.get('redirect_uri');
  const redirectUri = redirectParam === null ? undefined : new URL(redirectParam);
  // The redirect URI, when the request names it; otherwise anything off the provider.
  const isCallback = (url: URL): boolean =>
    redirectUri === undefined
      ? url.origin !== providerOrigin
      : url.origin === redirectUri.origin && url.pathname === redirectUri.pathname;

  const jar = new CookieJar();
  const send = async (url: URL, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    const cookie = jar.header(url);
    if (cookie !== undefined) headers.set('cookie', cookie);
    const response = await request(url, { ...init, headers }, options.signal);
    jar.store(url, response.headers.getSetCookie());
    return response;
  };

  let url = start;
  let response = await send(url);
  let loginSent = false;
  let consentSent = false;

  for (let requests = 1; requests <= MAX_PROVIDER_REQUESTS; requests++) {
    const location = response.headers.get('location');
    if (isRedirect(response.status) && location !== null) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (isCallback(next)) return { kind: 'redirect', url: next };
      if (next.origin !== providerOrigin) {
        throw new Error(
          `scripted login: the provider redirected to an unexpected place: ${next.origin}${next.pathname}`,
        );
      }
      url = next;
      response = await send(url);
      continue;
    }

    const html = await response.text();
    const forms = parseForms(html);

    // oidc-provider's response_mode=form_post page (status 400 when it carries an error).
    const callbackForm = forms.find((form) => isCallback(actionOf(form, url)));
    if (callbackForm !== undefined) {
      return {
        kind: 'form',
        action: actionOf(callbackForm, url),
        delivered: new URLSearchParams(callbackForm.fields),
        providerOrigin,
      };
    }

    const loginForm = forms.find((form) => form.attributes.id === 'login-form');
    if (loginForm !== undefined) {
      if (loginSent) {
        const message = textById(html, 'login-error') ?? `HTTP ${response.status}`;
        throw new Error(`scripted login: wrong credentials (${message})`);
      }
      loginSent = true;
      const fields = new URLSearchParams(loginForm.fields);
      fields.set('username', options.username ?? 'demo');
      fields.set('password', options.password ?? 'demo');
      url = actionOf(loginForm, url);
      response = await send(url, {
        method: 'POST',
        headers: { 'content-type': FORM_TYPE },
        body: fields.toString(),
      });
      continue;
    }

    const consentForm = forms.find(
      (form) => form.attributes.id === (options.deny === true ? 'deny-form' : 'consent-form'),
    );
    if (consentForm !== undefined && !consentSent) {
      consentSent = true;
      url = actionOf(consentForm, url);
      response = await send(url, {
        method: 'POST',
        headers: { 'content-type': FORM_TYPE },
        body: new URLSearchParams(consentForm.fields).toString(),
      });
      continue;
    }

    throw new Error(describeUnexpectedPage(response.status, url, html, loginSent));
  }
  throw new Error(
    `scripted login: gave up after ${MAX_PROVIDER_REQUESTS} requests to the provider (last at ${url.pathname})`,
  );
}

/** The last request, to the redirect URI: no provider cookies, browser-like headers. */
function deliver(
  url: URL,
  options: ScriptedLoginOptions,
  init: RequestInit = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('accept', options.accept ?? BROWSER_ACCEPT);
  return request(url, { ...init, headers }, options.signal);
}

/** One request, never followed, bounded by the step timeout and the caller's signal. */
async function request(
  url: URL,
  init: RequestInit,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const timeout = AbortSignal.timeout(STEP_TIMEOUT_MS);
  try {
    return await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
    });
  } catch (error) {
    // The caller's own abort propagates unchanged; other failures say where.
    if (signal?.aborted === true) throw error;
    const where = `${url.origin}${url.pathname}`;
    const reason = timeout.aborted
      ? `no answer within ${STEP_TIMEOUT_MS / 1000} s`
      : error instanceof Error
        ? ((error.cause as Error | undefined)?.message ?? error.message)
        : String(error);
    throw new Error(`scripted login: request to ${where} failed: ${reason}`, { cause: error });
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function actionOf(form: HtmlForm, base: URL): URL {
  return new URL(form.attributes.action ?? '', base);
}

function describeUnexpectedPage(
  status: number,
  url: URL,
  html: string,
  loginSent: boolean,
): string {
  const code = textById(html, 'error-code');
  const description = textById(html, 'error-description');
  const where = `${url.origin}${url.pathname}`;
  if (code !== undefined) {
    return `scripted login: the provider answered ${status} at ${where}: ${code}${description === undefined ? '' : ` (${description})`}`;
  }
  return loginSent
    ? `scripted login: unexpected page (HTTP ${status}) at ${where}`
    : `scripted login: login page not found at ${where} (HTTP ${status})`;
}

export interface ScriptedDeviceLoginOptions {
  /** default 'demo' */
  username?: string;
  /** default 'demo' */
  password?: string;
  /** Press "Cancel" on the confirmation page: the device's next poll then hears access_denied. */
  deny?: boolean;
  signal?: AbortSignal;
}

/** How the person's side of a device sign-in ended. */
export type ScriptedDeviceLoginResult = 'signed-in' | 'declined';

/** A device sign-in takes 8 provider requests (code, confirm, login, consent, resumes). */
const MAX_DEVICE_REQUESTS = 16;

/**
 * The user-code step of a device sign-in (RFC 8628 §3.3) at the dev provider,
 * as a person with a browser on another machine does it, with fetch: the
 * verification page, the code, its confirmation, then the login and consent
 * pages, up to the success page. `userCode` is typed into the page at
 * `verificationUri`; without it, `verificationUri` is the complete one.
 */
export async function scriptedDeviceLogin(
  verificationUri: string | URL,
  userCode: string | undefined,
  options: ScriptedDeviceLoginOptions = {},
): Promise<ScriptedDeviceLoginResult> {
  let url = new URL(verificationUri);
  const providerOrigin = url.origin;
  const jar = new CookieJar();
  const send = async (target: URL, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    const cookie = jar.header(target);
    if (cookie !== undefined) headers.set('cookie', cookie);
    headers.set('accept', BROWSER_ACCEPT);
    const response = await request(target, { ...init, headers }, options.signal);
    jar.store(target, response.headers.getSetCookie());
    return response;
  };
  const post = (target: URL, fields: URLSearchParams): Promise<Response> =>
    send(target, {
      method: 'POST',
      headers: { 'content-type': FORM_TYPE, origin: providerOrigin },
      body: fields.toString(),
    });

  let response = await send(url);
  const sent = new Set<string>();
  for (let requests = 1; requests <= MAX_DEVICE_REQUESTS; requests++) {
    const location = response.headers.get('location');
    if (isRedirect(response.status) && location !== null) {
      await response.body?.cancel();
      url = new URL(location, url);
      if (url.origin !== providerOrigin)
        throw new Error(`scripted device login: redirected off the provider to ${url.origin}`);
      response = await send(url);
      continue;
    }
    const html = await response.text();
    if (textById(html, 'device-success') !== undefined) return 'signed-in';
    const forms = parseForms(html);
    const byId = (id: string) => forms.find((form) => form.attributes.id === id);
    const once = (step: string): void => {
      if (sent.has(step)) {
        const why = textById(html, 'device-error') ?? textById(html, 'login-error');
        throw new Error(
          `scripted device login: the ${step} step came back (${why ?? `HTTP ${response.status}`})`,
        );
      }
      sent.add(step);
    };

    const codeForm = byId('op.deviceInputForm');
    if (codeForm !== undefined) {
      // After "Cancel" the provider shows the code page again, saying so.
      if (options.deny === true && sent.has('confirm')) return 'declined';
      once('code');
      const fields = new URLSearchParams(codeForm.fields);
      if (userCode !== undefined) fields.set('user_code', userCode);
      response = await post(actionOf(codeForm, url), fields);
      continue;
    }
    // oidc-provider's auto-submitting page for a complete URI (…?user_code=): submit it.
    const autoForm = forms.find((form) => actionOf(form, url).pathname === url.pathname);
    const confirmForm = byId('op.deviceConfirmForm');
    if (confirmForm !== undefined) {
      once('confirm');
      const fields = new URLSearchParams(confirmForm.fields);
      if (options.deny === true) fields.set('abort', 'yes');
      response = await post(actionOf(confirmForm, url), fields);
      continue;
    }
    const loginForm = byId('login-form');
    if (loginForm !== undefined) {
      once('login');
      const fields = new URLSearchParams(loginForm.fields);
      fields.set('username', options.username ?? 'demo');
      fields.set('password', options.password ?? 'demo');
      response = await post(actionOf(loginForm, url), fields);
      continue;
    }
    const consentForm = byId('consent-form');
    if (consentForm !== undefined) {
      once('consent');
      response = await post(actionOf(consentForm, url), new URLSearchParams(consentForm.fields));
      continue;
    }
    if (autoForm !== undefined && !sent.has('auto')) {
      sent.add('auto');
      response = await post(actionOf(autoForm, url), new URLSearchParams(autoForm.fields));
      continue;
    }
    throw new Error(describeUnexpectedPage(response.status, url, html, sent.has('login')));
  }
  throw new Error(
    `scripted device login: gave up after ${MAX_DEVICE_REQUESTS} requests to the provider (last at ${url.pathname})`,
  );
}
