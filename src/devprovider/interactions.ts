/**
 * The login and consent steps of the dev provider, as Koa middleware mounted
 * in front of oidc-provider's router. oidc-provider's devInteractions accept
 * any password; these check the demo user's and can deny.
 *
 *   GET  /interaction/:uid          login or consent page, by the pending prompt
 *   POST /interaction/:uid/login    check credentials, finish the login prompt
 *   POST /interaction/:uid/confirm  grant what the consent prompt asks for
 *   POST /interaction/:uid/abort    finish with error=access_denied
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Interaction, Provider } from 'oidc-provider';
import {
  PAGE_CSP,
  consentPage,
  deviceCodePage,
  deviceConfirmPage,
  deviceSuccessPage,
  errorPage,
  loginPage,
} from './pages.js';
import { isRecord } from '../fault.js';

export interface DemoUser {
  readonly username: string;
  readonly password: string;
  readonly sub: string;
  readonly name: string;
  readonly givenName: string;
  readonly familyName: string;
  readonly email: string;
}

/** Koa middleware, as the provider's `use` takes it. */
export type Middleware = Parameters<Provider['use']>[0];
type KoaContext = Parameters<Middleware>[0];

const ROUTE = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/;
const MAX_FORM_BYTES = 16 * 1024;

export function interactionRoutes(
  provider: Provider,
  user: DemoUser,
  report: (error: unknown) => void,
): Middleware {
  return async (ctx, next) => {
    const match = ROUTE.exec(ctx.path);
    if (match === null) return next();
    const uid = decodeURIComponent(match[1] ?? '');
    const action = match[2];

    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', PAGE_CSP);
    try {
      const interaction = await provider.interactionDetails(ctx.req, ctx.res);
      // The interaction cookie decides which interaction this is; a URL naming
      // another one is a stale tab or a forged link.
      if (interaction.uid !== uid) {
        return render(ctx, 400, errorPage('invalid_request', 'interaction mismatch'));
      }
      if (action === undefined) {
        if (ctx.method !== 'GET') return methodNotAllowed(ctx, 'GET');
        return showPrompt(ctx, interaction);
      }
      if (ctx.method !== 'POST') return methodNotAllowed(ctx, 'POST');
      const form = await readForm(ctx.req);
      switch (action) {
        case 'login':
          return await login(ctx, provider, interaction, user, form);
        case 'confirm':
          return await confirm(ctx, provider, interaction);
        case 'abort':
          return await finish(ctx, provider, {
            error: 'access_denied',
            error_description: 'End-User aborted interaction',
          });
        default:
          return next();
      }
    } catch (error) {
      // oidc-provider's errors carry the OAuth code and an exposable
      // description (e.g. an expired interaction: invalid_request / session not found).
      const { status, code, description } = describeError(error);
      if (status >= 500) report(error);
      return render(ctx, status, errorPage(code, description));
    }
  };
}

/**
 * oidc-provider's device flow pages (features.deviceFlow), in our look. The
 * forms are the provider's own (they carry its xsrf value). The error names
 * are oidc-provider's re-render error classes (lib/helpers/re_render_errors.js).
 */
export const devicePages = {
  async userCodeInputSource(ctx: KoaContext, form: string, _out?: unknown, err?: unknown) {
    const name = isRecord(err) ? err.name : undefined;
    const error =
      err === undefined
        ? undefined
        : name === 'AbortedError'
          ? 'The sign-in was cancelled.'
          : name === 'ExpiredError'
            ? 'This code has expired. Start again on your device.'
            : isRecord(err) && (err.userCode !== undefined || name === 'NoCodeError')
              ? 'That code is not valid. Check it and try again.'
              : 'The sign-in could not be completed.';
    renderDevicePage(ctx, deviceCodePage({ form, ...(error !== undefined && { error }) }));
  },
  async userCodeConfirmSource(
    ctx: KoaContext,
    form: string,
    client: { clientId: string },
    _deviceInfo: unknown,
    userCode: string,
  ) {
    renderDevicePage(ctx, deviceConfirmPage({ form, clientId: client.clientId, userCode }));
  },
  async successSource(ctx: KoaContext) {
    renderDevicePage(ctx, deviceSuccessPage());
  },
};

function renderDevicePage(ctx: KoaContext, html: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', PAGE_CSP);
  ctx.type = 'html';
  ctx.body = html;
}

function showPrompt(ctx: KoaContext, interaction: Interaction): void {
  const clientId = String(interaction.params.client_id ?? '');
  switch (interaction.prompt.name) {
    case 'login':
      return render(ctx, 200, loginPage({ uid: interaction.uid, clientId }));
    case 'consent': {
      const scopes = String(interaction.params.scope ?? '')
        .split(' ')
        .filter((scope) => scope !== '');
      return render(ctx, 200, consentPage({ uid: interaction.uid, clientId, scopes }));
    }
    default:
      return render(
        ctx,
        400,
        errorPage('invalid_request', `unsupported prompt ${interaction.prompt.name}`),
      );
  }
}

async function login(
  ctx: KoaContext,
  provider: Provider,
  interaction: Interaction,
  user: DemoUser,
  form: URLSearchParams,
): Promise<void> {
  if (interaction.prompt.name !== 'login') {
    return render(ctx, 400, errorPage('invalid_request', 'no login is pending'));
  }
  const username = form.get('username') ?? '';
  const password = form.get('password') ?? '';
  // Both compared, always, so a wrong user name takes as long as a wrong password.
  const userOk = sameSecret(username, user.username);
  const passwordOk = sameSecret(password, user.password);
  if (!(userOk && passwordOk)) {
    const clientId = String(interaction.params.client_id ?? '');
    return render(
      ctx,
      401,
      loginPage({
        uid: interaction.uid,
        clientId,
        username,
        error: 'Invalid username or password.',
      }),
    );
  }
  return finish(ctx, provider, { login: { accountId: user.sub } });
}

async function confirm(
  ctx: KoaContext,
  provider: Provider,
  interaction: Interaction,
): Promise<void> {
  const { prompt, params, session, grantId } = interaction;
  if (prompt.name !== 'consent' || session === undefined) {
    return render(ctx, 400, errorPage('invalid_request', 'no consent is pending'));
  }
  const existing = grantId === undefined ? undefined : await provider.Grant.find(grantId);
  const grant =
    existing ??
    new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
  const details = prompt.details;
  if (isStringArray(details.missingOIDCScope))
    grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (isStringArray(details.missingOIDCClaims)) grant.addOIDCClaims(details.missingOIDCClaims);
  if (isRecord(details.missingResourceScopes)) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      if (isStringArray(scopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const savedGrantId = await grant.save();
  // mergeWithLastSubmission keeps the login result of the same authorization.
  return finish(ctx, provider, { consent: { grantId: savedGrantId } }, true);
}

async function finish(
  ctx: KoaContext,
  provider: Provider,
  result: Record<string, unknown>,
  mergeWithLastSubmission = false,
): Promise<void> {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission,
  });
  // 303 turns the form POST into a GET of the authorization resume endpoint.
  ctx.status = 303;
  ctx.redirect(returnTo);
}

function render(ctx: KoaContext, status: number, html: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = html;
}

function methodNotAllowed(ctx: KoaContext, allow: string): void {
  ctx.set('Allow', allow);
  render(ctx, 405, errorPage('invalid_request', 'method not allowed'));
}

function sameSecret(given: string, expected: string): boolean {
  // Hashing first gives equal-length buffers, as timingSafeEqual requires.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw Object.assign(new Error('expected an application/x-www-form-urlencoded form'), {
      status: 415,
      error: 'invalid_request',
    });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    if (size > MAX_FORM_BYTES) {
      throw Object.assign(new Error('form too large'), { status: 413, error: 'invalid_request' });
    }
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function describeError(error: unknown): { status: number; code: string; description: string } {
  if (isRecord(error)) {
    const status = typeof error.status === 'number' && error.status < 500 ? error.status : 500;
    const code = typeof error.error === 'string' && status < 500 ? error.error : 'server_error';
    const description =
      status >= 500
        ? 'unexpected error'
        : typeof error.error_description === 'string'
          ? error.error_description
          : typeof error.message === 'string'
            ? error.message
            : code;
    return { status, code, description };
  }
  return { status: 500, code: 'server_error', description: 'unexpected error' };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
