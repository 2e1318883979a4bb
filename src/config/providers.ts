/**
 * The config file's `providers` list, validated once: each entry with a
 * message naming `providers[i].field`. Pure. The flags' provider (--issuer or
 * --auth0-domain with --client-id) is `default` and comes first; see
 * providerSpecs for the precedence.
 */
import { BrokerError } from '../errors.js';
import { inferKind } from '../provider/issuer.js';
import {
  PAR_CHOICES,
  RESPONSE_MODE_CHOICES,
  type ParChoice,
  type ResponseModeChoice,
} from '../provider/choices.js';
import type { ProviderKind } from '../provider/types.js';
import { issuerFromAuth0Domain } from './auth0-domain.js';

export interface ProviderSpec {
  id: string;
  kind: ProviderKind;
  issuer: string;
  clientId: string;
  clientSecret?: string;
  audience?: string;
  /** Absent: the broker's --scope. */
  scope?: readonly string[];
  /** Absent: the broker's --response-mode. */
  responseMode?: ResponseModeChoice;
  /** Absent: the broker's --par. */
  par?: ParChoice;
  /** Sent with every authorize request (Google: access_type=offline, prompt=consent). */
  authorizeParams?: Readonly<Record<string, string>>;
}

export const DEFAULT_PROVIDER_ID = 'default';

const KINDS: readonly ProviderKind[] = ['oidc', 'auth0', 'descope'];
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DESCOPE_PROJECT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const KEYS = new Set([
  'id',
  'kind',
  'issuer',
  'auth0Domain',
  'descopeProjectId',
  'clientId',
  'clientSecret',
  'audience',
  'scope',
  'responseMode',
  'par',
  'authorizeParams',
]);
/** What the broker itself sets in an authorize request: a provider entry may not change it. */
const PROTOCOL_PARAMS = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'response_mode',
  'audience',
  'request',
  'request_uri',
]);

function configError(message: string): BrokerError {
  return new BrokerError('config_invalid', message);
}

/** The `providers` value of a config file. */
export function parseProviderList(value: unknown, filePath: string): ProviderSpec[] {
  if (!Array.isArray(value))
    throw configError(`Config file ${filePath}: "providers" must be an array of objects.`);
  return value.map((entry, i) => parseProvider(entry, `Config file ${filePath}: providers[${i}]`));
}

function parseProvider(entry: unknown, where: string): ProviderSpec {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw configError(`${where} must be an object.`);
  const record = entry as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (!KEYS.has(key)) throw configError(`${where}: unknown key "${key}".`);
  const text = (key: string): string | undefined => {
    const value = record[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '')
      throw configError(`${where}.${key} must be a non-empty string.`);
    return value.trim();
  };

  const id = text('id');
  if (id === undefined) throw configError(`${where}.id is required (e.g. "auth0").`);
  if (!ID.test(id))
    throw configError(
      `${where}.id must be 1 to 64 letters, digits, ".", "_" or "-", got ${JSON.stringify(id)}.`,
    );

  const issuer = issuerOf(where, text('issuer'), text('auth0Domain'), text('descopeProjectId'));
  const kindText = text('kind');
  if (kindText !== undefined && !(KINDS as readonly string[]).includes(kindText))
    throw configError(`${where}.kind must be ${KINDS.join(', ')}, got "${kindText}".`);
  // Descope's OIDC client id is the project id.
  const clientId = text('clientId') ?? text('descopeProjectId');
  if (clientId === undefined) throw configError(`${where}.clientId is required.`);

  const spec: ProviderSpec = {
    id,
    kind: (kindText as ProviderKind | undefined) ?? inferKind(issuer),
    issuer,
    clientId,
  };
  const clientSecret = text('clientSecret');
  if (clientSecret !== undefined) spec.clientSecret = clientSecret;
  const audience = text('audience');
  if (audience !== undefined) spec.audience = audience;
  const scope = scopeOf(record['scope'], `${where}.scope`);
  if (scope !== undefined) spec.scope = scope;
  const responseMode = choiceOf(
    text('responseMode'),
    RESPONSE_MODE_CHOICES,
    `${where}.responseMode`,
  );
  if (responseMode !== undefined) spec.responseMode = responseMode;
  const par = choiceOf(text('par'), PAR_CHOICES, `${where}.par`);
  if (par !== undefined) spec.par = par;
  const params = authorizeParamsOf(record['authorizeParams'], `${where}.authorizeParams`);
  if (params !== undefined) spec.authorizeParams = params;
  return Object.freeze(spec);
}

function issuerOf(
  where: string,
  issuer: string | undefined,
  auth0Domain: string | undefined,
  projectId: string | undefined,
): string {
  const given = [issuer, auth0Domain, projectId].filter((v) => v !== undefined).length;
  if (given !== 1)
    throw configError(`${where} needs exactly one of issuer, auth0Domain or descopeProjectId.`);
  if (auth0Domain !== undefined) {
    const fromDomain = issuerFromAuth0Domain(auth0Domain);
    if (fromDomain === undefined)
      throw configError(
        `${where}.auth0Domain must be a host name such as example.eu.auth0.com, got "${auth0Domain}".`,
      );
    return fromDomain;
  }
  if (projectId !== undefined) {
    if (!DESCOPE_PROJECT_ID.test(projectId))
      throw configError(`${where}.descopeProjectId must be a Descope project id such as P2abc…`);
    return `https://api.descope.com/${projectId}`;
  }
  let url: URL;
  try {
    url = new URL(issuer!);
  } catch {
    throw configError(`${where}.issuer must be an absolute URL, got "${issuer}".`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw configError(`${where}.issuer must be an http(s) URL, got "${issuer}".`);
  return issuer!;
}

function scopeOf(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined;
  const words =
    typeof value === 'string'
      ? value.split(/\s+/)
      : Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? (value as string[]).flatMap((v) => v.split(/\s+/))
        : undefined;
  const scope = words?.filter(Boolean);
  if (scope === undefined || scope.length === 0)
    throw configError(
      `${where} must be a space-separated string or an array naming at least one scope.`,
    );
  return scope;
}

function choiceOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  where: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw configError(`${where} must be ${allowed.join(', ')}, got "${value}".`);
  return value as T;
}

function authorizeParamsOf(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw configError(`${where} must be an object of strings, e.g. {"access_type": "offline"}.`);
  const params: Record<string, string> = {};
  for (const [name, param] of Object.entries(value)) {
    if (PROTOCOL_PARAMS.has(name))
      throw configError(`${where}.${name} is set by the broker itself and cannot be configured.`);
    if (typeof param !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,511}$/.test(param))
      throw configError(`${where}.${name} must be a string of printable ASCII characters.`);
    params[name] = param;
  }
  return Object.freeze(params);
}

/**
 * Every provider to run, the default first. Precedence: the flags' provider
 * (--issuer or --auth0-domain, with --client-id, --client-secret and
 * --audience; from flags, environment or the file's top-level keys) is
 * `default`; without one, the list's entry with id `default`, else its
 * first entry. A list entry may not take the id `default` while the flags
 * define one. --scope, --response-mode and --par apply to entries that set
 * none of their own.
 */
export function providerSpecs(config: {
  issuer: string | undefined;
  clientId: string | undefined;
  clientSecret: string | undefined;
  audience: string | undefined;
  providers: readonly ProviderSpec[];
}): ProviderSpec[] {
  const listed = [...config.providers];
  if (config.issuer === undefined) {
    const index = listed.findIndex((spec) => spec.id === DEFAULT_PROVIDER_ID);
    if (index > 0) listed.unshift(...listed.splice(index, 1));
    return listed;
  }
  if (config.clientId === undefined)
    throw configError(
      'Missing --client-id: the OAuth client ID registered at your identity provider (or set PKCE_BROKER_CLIENT_ID).',
    );
  if (listed.some((spec) => spec.id === DEFAULT_PROVIDER_ID))
    throw configError(
      `providers: the id "${DEFAULT_PROVIDER_ID}" is the provider of --issuer/--auth0-domain; give the listed one another id, or drop the flags.`,
    );
  const flagged: ProviderSpec = {
    id: DEFAULT_PROVIDER_ID,
    kind: inferKind(config.issuer),
    issuer: config.issuer,
    clientId: config.clientId,
    ...(config.clientSecret !== undefined && { clientSecret: config.clientSecret }),
    ...(config.audience !== undefined && { audience: config.audience }),
  };
  return [flagged, ...listed];
}
