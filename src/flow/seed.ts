/**
 * Turns a SeededPKCE from an app into the authorize request the broker sends.
 * Pure: the policy (configuration) and the flow's secrets come in as arguments.
 */
import { BrokerError } from '../errors.js';
import type { SeededPKCE } from '../protocol/models.js';
import type { ResponseModes } from '../provider/response-mode.js';
import type { AuthorizeParams } from '../provider/types.js';
import type { AuthorizeExtras, FlowRequest } from '../store/types.js';

/** What a flow may ask of one provider: the provider's settings and the broker's callback. */
export interface SeedPolicy {
  /** The provider's id, recorded in the flow. */
  provider: string;
  clientId: string;
  /** The broker's own callback URL. */
  redirectUri: string;
  /** Further redirect URIs an app may ask for. */
  allowedRedirectUris: readonly string[];
  scope: readonly string[];
  audience?: string | undefined;
  /** The provider's configured authorize parameters, under those a seed gives. */
  authorizeParams?: Readonly<Record<string, string>> | undefined;
  /** The provider's (IdentityProvider.responseModes): its default and what it supports. */
  responseModes: ResponseModes;
}

export interface FlowSecrets {
  state: string;
  nonce: string;
  challenge: string;
}

/** The SDK's enums carry an `UNKNOWN` member; it means "not set", never a value to send. */
export function given(value: string | undefined): string | undefined {
  return value === undefined || value === '' || value === 'UNKNOWN' ? undefined : value;
}

const RESPONSE_MODES = new Set(['form_post', 'query']);

/**
 * A state or nonce an app may choose: printable ASCII, bounded. Long enough
 * to carry entropy, short enough to keep out of the way, and safe in a URL
 * and a log line once redacted. The broker's own (43 base64url) pass.
 */
const APP_VALUE = /^[\x21-\x7e]{8,512}$/;

function invalid(message: string): BrokerError {
  return new BrokerError('invalid_request', message, { oauthError: 'invalid_request' });
}

/** Checks what a seed asks for against the policy; throws invalid_request naming the field. */
export function checkSeed(seed: SeededPKCE, policy: SeedPolicy): void {
  const responseType = given(seed.response_type);
  if (responseType !== undefined && responseType !== 'code') {
    throw invalid(`response_type must be "code", not "${responseType}".`);
  }
  const method = given(seed.code_challenge_method);
  if (method !== undefined && method !== 'S256') {
    throw invalid(`code_challenge_method must be "S256", not "${method}".`);
  }
  const clientId = given(seed.client_id);
  if (clientId !== undefined && clientId !== policy.clientId) {
    throw invalid('client_id does not match the configured client.');
  }
  const redirectUri = given(seed.redirect_uri);
  if (
    redirectUri !== undefined &&
    redirectUri !== policy.redirectUri &&
    !policy.allowedRedirectUris.includes(redirectUri)
  ) {
    throw invalid("redirect_uri must be the broker's own callback or an allowed redirect URI.");
  }
  const mode = given(seed.response_mode);
  if (mode !== undefined && !RESPONSE_MODES.has(mode)) {
    throw invalid('response_mode must be "form_post" or "query".');
  }
  const { supported } = policy.responseModes;
  if (mode !== undefined && !supported.includes(mode)) {
    throw invalid(
      `response_mode "${mode}" is not supported by the identity provider, which supports ${supported.join(', ')}.`,
    );
  }
  for (const field of ['state', 'nonce'] as const) {
    const value = given(seed[field]);
    if (value !== undefined && !APP_VALUE.test(value)) {
      throw invalid(`${field} must be 8 to 512 printable ASCII characters.`);
    }
  }
}

/** The scope as sent: the app's or the configured one, always with `openid` (the ID token is validated). */
export function resolveScope(seed: SeededPKCE, policy: SeedPolicy): string[] {
  const asked = seed.scope?.filter((s) => s !== '' && s !== 'UNKNOWN');
  const scope = asked && asked.length > 0 ? asked : [...policy.scope];
  return scope.includes('openid') ? scope : ['openid', ...scope];
}

const NAMED_EXTRAS = ['screen_hint', 'prompt', 'organization', 'invitation'] as const;

/**
 * The seed's optional authorize parameters, UNKNOWN and empty values left
 * out, over the provider's configured ones (a seed's prompt replaces a
 * configured prompt).
 */
function resolveExtras(seed: SeededPKCE, policy: SeedPolicy): AuthorizeExtras {
  const extras: AuthorizeExtras = {};
  const extra: Record<string, string> = {};
  for (const [name, value] of Object.entries(policy.authorizeParams ?? {})) {
    if ((NAMED_EXTRAS as readonly string[]).includes(name))
      extras[name as (typeof NAMED_EXTRAS)[number]] = value;
    else extra[name] = value;
  }
  for (const key of NAMED_EXTRAS) {
    const value = given(seed[key]);
    if (value !== undefined) extras[key] = value;
  }
  for (const key of ['access_type', 'display'] as const) {
    const value = given(seed.ADDITIONAL_PARAMETERS?.[key]);
    if (value !== undefined) extra[key] = value;
  }
  if (Object.keys(extra).length > 0) extras.extra = extra;
  return extras;
}

export function resolveRequest(seed: SeededPKCE, policy: SeedPolicy): FlowRequest {
  const audience = given(seed.audience) ?? policy.audience;
  const extras = resolveExtras(seed, policy);
  return {
    provider: policy.provider,
    client_id: policy.clientId,
    redirect_uri: given(seed.redirect_uri) ?? policy.redirectUri,
    scope: resolveScope(seed, policy),
    ...(audience !== undefined && { audience }),
    response_mode: given(seed.response_mode) ?? policy.responseModes.default,
    ...(Object.keys(extras).length > 0 && { extras }),
  };
}

/** The authorize parameters of a flow, from what it keeps: the same every time they are built. */
export function authorizeParams(request: FlowRequest, secrets: FlowSecrets): AuthorizeParams {
  const { extra, ...named } = request.extras ?? {};
  return {
    response_type: 'code',
    client_id: request.client_id,
    redirect_uri: request.redirect_uri,
    scope: request.scope.join(' '),
    state: secrets.state,
    nonce: secrets.nonce,
    code_challenge: secrets.challenge,
    code_challenge_method: 'S256',
    response_mode: request.response_mode,
    ...(request.audience !== undefined && { audience: request.audience }),
    ...named,
    ...(extra !== undefined && { extra: { ...extra } }),
  };
}
