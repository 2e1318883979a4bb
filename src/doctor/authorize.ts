/**
 * Whether the provider accepts the broker's redirect URI, asked the only way
 * that tells: a real authorize request, built by the broker's own code
 * (seed.ts, IdentityProvider.authorizationUrl), and the provider's answer read.
 */
import { isBrokerError } from '../errors.js';
import { newChallenge } from '../protocol/pkce.js';
import { authorizeParams, resolveRequest } from '../flow/seed.js';
import { sanitize } from '../provider/http-util.js';
import type { IdentityProvider } from '../provider/types.js';
import { result, type CheckResult, type DoctorProviderSettings } from './types.js';

const TITLE = 'Redirect URI';

/** What the authorize endpoint answered a GET (fetch with redirect: 'manual'). */
export interface AuthorizeAnswer {
  readonly status: number;
  /** The Location header, resolved against the authorize URL. */
  readonly location?: URL;
  /** The start of the body (HTML or JSON), for the error code it names. */
  readonly body: string;
}

/** RFC 6749 §4.1.2.1 and §5.2 codes, and the two redirect-URI codes providers use, to name one a page shows. */
const OAUTH_ERRORS =
  /\b(invalid_redirect_uri|redirect_uri_mismatch|invalid_request|invalid_client|unauthorized_client|access_denied|unsupported_response_type|unsupported_response_mode|invalid_scope|server_error|temporarily_unavailable)\b/;

/**
 * How a provider's answer to a GET of the authorize URL reads (pure).
 * RFC 6749 §4.1.2.1: a provider must not redirect to a redirect URI it does
 * not accept, and shows the user an error instead. So:
 * - a redirect back to the redirect URI: accepted; with `error=` the request
 *   itself was refused (wrong scope, unknown response mode…): fail;
 * - a redirect elsewhere carrying `error=`: a refusal through the provider's
 *   own error page: fail; without: its login or interaction page: accepted;
 * - a 4xx: the error page a refused redirect URI (or client) gets: fail;
 * - a 5xx: the provider failed: fail;
 * - a 200: a page, which some providers use for their sign-in (Keycloak,
 *   Entra) and some for errors: a warn, as no status tells them apart.
 */
export function judgeAuthorizeAnswer(answer: AuthorizeAnswer, redirectUri: string): CheckResult {
  const { status, location } = answer;
  if (status >= 300 && status < 400 && location !== undefined) {
    const error = location.searchParams.get('error');
    const described =
      error === null ? '' : describeError(error, location.searchParams.get('error_description'));
    if (sameEndpoint(location, redirectUri)) {
      return error === null
        ? result('redirect_uri', 'ok', TITLE, `${redirectUri} accepted: the provider answers to it`)
        : result(
            'redirect_uri',
            'fail',
            TITLE,
            `${redirectUri} accepted, but the provider refused the sign-in request: ${described}`,
            'Check the client’s settings at the provider (allowed scopes, grant types, response types) against --scope and --response-mode.',
          );
    }
    if (error !== null)
      return result(
        'redirect_uri',
        'fail',
        TITLE,
        `the provider refused the sign-in request: ${described}`,
        redirectFix(redirectUri, error),
      );
    return result(
      'redirect_uri',
      'ok',
      TITLE,
      `${redirectUri} accepted: the provider went on to its sign-in page (HTTP ${status})`,
    );
  }
  const posted = status === 200 ? formPostError(answer.body, redirectUri) : undefined;
  if (posted !== undefined)
    return result(
      'redirect_uri',
      'fail',
      TITLE,
      `${redirectUri} accepted, but the provider refused the sign-in request: ${sanitize(posted)}`,
      'Check the client’s settings at the provider (allowed scopes, grant types, response types) against --scope and --response-mode.',
    );
  const named = OAUTH_ERRORS.exec(answer.body)?.[1];
  const page = named === undefined ? '' : `, a page naming ${named}`;
  if (status >= 400 && status < 500)
    return result(
      'redirect_uri',
      'fail',
      TITLE,
      `the provider refused the sign-in request with ${redirectUri} (HTTP ${status}${page})`,
      redirectFix(redirectUri, named),
    );
  if (status >= 500)
    return result(
      'redirect_uri',
      'fail',
      TITLE,
      `the provider failed on the sign-in request (HTTP ${status}${page})`,
      'Try again later; if it persists, ask the provider’s administrator.',
    );
  return result(
    'redirect_uri',
    'warn',
    TITLE,
    `the provider answered HTTP ${status} with a page${page}, neither a redirect nor an error status, so whether it accepts ${redirectUri} cannot be told`,
    'Run `pkce-broker login` once: a sign-in page means it is accepted.',
  );
}

/** The check: a push with PAR (its answer decides), else a GET of the authorize URL judged above. */
export async function checkRedirectUri(
  provider: IdentityProvider,
  settings: DoctorProviderSettings,
  redirectUri: string,
  transport: typeof fetch,
): Promise<CheckResult> {
  const request = resolveRequest(
    {},
    {
      provider: provider.id,
      clientId: settings.clientId,
      redirectUri,
      allowedRedirectUris: [],
      scope: settings.scope,
      ...(settings.audience !== undefined && { audience: settings.audience }),
      responseModes: provider.responseModes,
    },
  );
  const { state, nonce, challenge } = newChallenge();
  let url: URL;
  try {
    url = await provider.authorizationUrl(authorizeParams(request, { state, nonce, challenge }));
  } catch (error) {
    // Only a push talks to the provider here: its refusal is the provider's JSON error.
    if (!isBrokerError(error)) throw error;
    return result(
      'redirect_uri',
      'fail',
      TITLE,
      `with ${redirectUri}: ${error.message}`,
      redirectFix(redirectUri, error.oauthError),
    );
  }
  if (url.searchParams.has('request_uri'))
    return result(
      'redirect_uri',
      'ok',
      TITLE,
      `${redirectUri} accepted: the pushed sign-in request got a request_uri`,
    );
  let response: Response;
  try {
    response = await transport(url, {
      redirect: 'manual',
      signal: AbortSignal.timeout(settings.timeoutMs),
      headers: { accept: 'text/html,application/json;q=0.9' },
    });
  } catch (error) {
    return result(
      'redirect_uri',
      'fail',
      TITLE,
      `the authorize endpoint ${url.origin}${url.pathname} did not answer: ${describe(error)}`,
      'Check that this machine reaches the provider (proxy, firewall).',
    );
  }
  const location = response.headers.get('location');
  const body = await response.text().catch(() => '');
  return judgeAuthorizeAnswer(
    {
      status: response.status,
      ...(location !== null && { location: new URL(location, url) }),
      body: body.slice(0, 64 * 1024),
    },
    redirectUri,
  );
}

/**
 * The `error` of a form_post answer (OAuth 2.0 Form Post Response Mode): a
 * page whose form posts an `error` field to the redirect URI, which the
 * provider would only do for a redirect URI it accepts.
 */
function formPostError(body: string, redirectUri: string): string | undefined {
  const action = /<form\b[^>]*\baction="([^"]*)"/i.exec(body)?.[1];
  const error = /<input\b[^>]*\bname="error"[^>]*\bvalue="([^"]*)"/i.exec(body)?.[1];
  if (action === undefined || error === undefined) return undefined;
  let target: URL;
  try {
    target = new URL(action.replaceAll('&amp;', '&'));
  } catch {
    return undefined;
  }
  return sameEndpoint(target, redirectUri) ? error : undefined;
}

function redirectFix(redirectUri: string, error: string | undefined): string {
  if (error === 'invalid_client' || error === 'unauthorized_client')
    return 'Check --client-id: the provider does not know this client, or does not let it use the code flow.';
  return `Register ${redirectUri} as an allowed callback (redirect URI) of the client at the provider, or give --redirect-uri with one that is.`;
}

function describeError(error: string, description: string | null): string {
  return description === null ? sanitize(error) : `${sanitize(error)} (${sanitize(description)})`;
}

/** Same scheme, host, port and path: where the provider sends its answer. */
function sameEndpoint(location: URL, redirectUri: string): boolean {
  const expected = new URL(redirectUri);
  return location.origin === expected.origin && location.pathname === expected.pathname;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return sanitize(cause?.code ?? cause?.message ?? (error as Error).message);
}
