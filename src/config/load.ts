/**
 * Configuration: defaults < config file < PKCE_BROKER_* environment < flags.
 * Validated once, with messages that name the option and where its value came
 * from; the result is frozen. Pure apart from reading the config file.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BrokerError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { parseArguments, type ParsedArgs, type RawValue } from './args.js';
import { issuerFromAuth0Domain } from './auth0-domain.js';
import { SERVE_OPTIONS, camelCase, envName, type OptionSpec } from './options.js';
import { parseProviderList, providerSpecs, type ProviderSpec } from './providers.js';
import {
  PAR_CHOICES,
  RESPONSE_MODE_CHOICES,
  USERINFO_CHOICES,
  type ParChoice,
  type ResponseModeChoice,
  type UserInfoChoice,
} from '../provider/choices.js';

export interface BrokerConfig {
  port: number;
  host: string;
  /** Absent only where the caller supplies the provider (dev, demo). */
  issuer: string | undefined;
  clientId: string | undefined;
  clientSecret: string | undefined;
  audience: string | undefined;
  /** The config file's `providers` list, beside the flags' provider (providerSpecs). */
  providers: readonly ProviderSpec[];
  scope: readonly string[];
  /** Absent: the loopback callback on the bound port. */
  redirectUri: string | undefined;
  allowRedirectUris: readonly string[];
  open: string;
  store: string;
  storeKey: string | undefined;
  storePrefix: string;
  flowTtlSec: number;
  /** A challenge nobody started is forgotten after this (≤ flowTtlSec). */
  challengeTtlSec: number;
  waitTimeoutSec: number;
  maxPendingFlows: number;
  maxWaiters: number;
  providerTimeoutSec: number;
  /** `auto`: form_post where the provider's discovery lists it, else query. */
  responseMode: ResponseModeChoice;
  /** Pushed authorization requests (RFC 9126): `auto` where the provider has the endpoint. */
  par: ParChoice;
  /** When the token answer's user is completed from the provider's user info. */
  userInfo: UserInfoChoice;
  appIds: readonly string[];
  allowOrigins: readonly string[];
  allowHosts: readonly string[];
  logLevel: string;
  /** GET /metrics is served (off by default). */
  metrics: boolean;
  /**
   * Discovery documents kept on disk (provider/discovery-cache.ts). Unset:
   * the command line keeps them, startBroker() in an embedding app does not.
   */
  discoveryCache: boolean | undefined;
}

export const DEFAULTS = {
  port: 1000,
  host: '127.0.0.1',
  scope: 'openid profile email offline_access',
  open: 'auto',
  store: 'memory',
  storePrefix: 'pkce-broker:',
  flowTtl: 600,
  challengeTtl: 60,
  waitTimeout: 300,
  maxPendingFlows: 10_000,
  maxWaiters: 1_000,
  providerTimeout: 10,
  responseMode: 'auto',
  par: 'auto',
  userinfo: 'auto',
  logLevel: 'info',
  metrics: false,
} as const;

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const DEFAULT_CONFIG_FILE = 'pkce-broker.config.json';

interface Sourced {
  value: RawValue;
  source: string;
}

export interface LoadConfigInput {
  /** The command line: its words, or what parseArguments made of them (with the same options). */
  argv: readonly string[] | ParsedArgs;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Reads a config file; injectable for tests. */
  readFile?: (path: string) => string | undefined;
  /** Extra flags a command accepts beyond SERVE_OPTIONS (e.g. login's --json). */
  extraOptions?: readonly OptionSpec[];
}

export interface LoadedConfig {
  config: Readonly<BrokerConfig>;
  /** Values of extraOptions, by camelCase name. */
  extra: Readonly<Record<string, RawValue | undefined>>;
  /**
   * Where each value that was given came from (`--port`, `PKCE_BROKER_PORT`, a
   * config file key), by camelCase option name; absent where a default applies.
   */
  sources: Readonly<Record<string, string>>;
  /** The absolute path of the config file that was read, if one was. */
  configFile: string | undefined;
}

function configError(message: string): BrokerError {
  return new BrokerError('config_invalid', message);
}

function defaultReadFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw configError(`Cannot read the config file ${path}: ${(error as Error).message}`);
  }
}

export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const specs = [...SERVE_OPTIONS, ...(input.extraOptions ?? [])];
  const env = input.env ?? {};
  const cwd = input.cwd ?? process.cwd();
  const readFile = input.readFile ?? defaultReadFile;

  const { flags } = isParsed(input.argv) ? input.argv : parseArguments(input.argv, specs);
  const values: Record<string, Sourced> = {};
  let providers: readonly ProviderSpec[] = [];
  // The config file comes first: flags and the environment override it.
  const fileFlag = (flags.config as string | undefined) ?? env[envName('config')];
  const filePath = resolve(cwd, fileFlag ?? DEFAULT_CONFIG_FILE);
  const fileText = readFile(filePath);
  if (fileText === undefined && fileFlag !== undefined) {
    throw configError(`Config file ${filePath} does not exist.`);
  }
  if (fileText !== undefined) {
    let fileValues: unknown;
    try {
      fileValues = JSON.parse(fileText);
    } catch (error) {
      throw configError(`Config file ${filePath} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof fileValues !== 'object' || fileValues === null || Array.isArray(fileValues)) {
      throw configError(`Config file ${filePath} must hold a JSON object.`);
    }
    const known = new Map(specs.map((spec) => [camelCase(spec.flag), spec]));
    for (const [key, value] of Object.entries(fileValues)) {
      // A list of objects: only the config file can hold it.
      if (key === 'providers') {
        providers = Object.freeze(parseProviderList(value, filePath));
        continue;
      }
      const spec = known.get(key);
      if (!spec || spec.flag === 'config') {
        throw configError(`Config file ${filePath}: unknown key "${key}".`);
      }
      values[key] = { value: fileValue(spec, value, filePath), source: `"${key}" in ${filePath}` };
    }
  }
  for (const spec of specs) {
    const raw = env[envName(spec.flag)];
    if (raw !== undefined && raw !== '' && spec.flag !== 'config') {
      values[camelCase(spec.flag)] = {
        value:
          spec.kind === 'list'
            ? raw
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : raw,
        source: envName(spec.flag),
      };
    }
  }
  for (const spec of specs) {
    const raw = flags[camelCase(spec.flag)];
    if (raw !== undefined && spec.flag !== 'config') {
      values[camelCase(spec.flag)] = { value: raw, source: `--${spec.flag}` };
    }
  }

  const extra: Record<string, RawValue | undefined> = {};
  for (const spec of input.extraOptions ?? [])
    extra[camelCase(spec.flag)] = values[camelCase(spec.flag)]?.value;

  return {
    config: Object.freeze({ ...buildConfig(values), providers }),
    extra: Object.freeze(extra),
    sources: Object.freeze(
      Object.fromEntries(Object.entries(values).map(([key, { source }]) => [key, source])),
    ),
    configFile: fileText === undefined ? undefined : filePath,
  };
}

function isParsed(argv: LoadConfigInput['argv']): argv is ParsedArgs {
  return !Array.isArray(argv);
}

function fileValue(spec: OptionSpec, value: unknown, filePath: string): RawValue {
  const where = `Config file ${filePath}: "${camelCase(spec.flag)}"`;
  switch (spec.kind) {
    case 'list':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string'))
        return value as string[];
      if (typeof value === 'string') return [value];
      throw configError(`${where} must be a string or an array of strings.`);
    case 'integer':
      if (typeof value === 'number' || typeof value === 'string') return value;
      throw configError(`${where} must be a number.`);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      throw configError(`${where} must be true or false.`);
    case 'string':
      if (typeof value === 'string') return value;
      throw configError(`${where} must be a string.`);
  }
}

function buildConfig(values: Record<string, Sourced>): Omit<BrokerConfig, 'providers'> {
  /** " (from SOURCE)" for a value that was given, so a message says where to fix it. */
  const from = (key: string): string => {
    const source = values[key]?.source;
    return source === undefined ? '' : ` (from ${source})`;
  };
  const str = (key: string): string | undefined => {
    const v = values[key]?.value;
    return v === undefined ? undefined : String(v);
  };
  const list = (key: string): string[] => {
    const v = values[key]?.value;
    return v === undefined ? [] : Array.isArray(v) ? v : [String(v)];
  };
  const int = (key: string, fallback: number, min: number, max: number, flag: string): number => {
    const entry = values[key];
    if (!entry) return fallback;
    const text = String(entry.value).trim();
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw configError(
        `${flag} must be a whole number from ${min} to ${max}, got "${text}" (from ${entry.source}).`,
      );
    }
    return n;
  };

  /** One of `allowed`, or the option's default. */
  const choice = <T extends string>(
    key: keyof typeof DEFAULTS,
    flag: string,
    allowed: readonly T[],
  ): T => {
    const value = str(key) ?? DEFAULTS[key];
    if (!(allowed as readonly unknown[]).includes(value)) {
      throw configError(`${flag} must be ${allowed.join(', ')}, got "${value}"${from(key)}.`);
    }
    return value as T;
  };

  const issuerFlag = str('issuer');
  const auth0Domain = str('auth0Domain');
  if (issuerFlag !== undefined && auth0Domain !== undefined) {
    throw configError('Give either --issuer or --auth0-domain, not both.');
  }
  let issuer = issuerFlag;
  if (auth0Domain !== undefined) {
    issuer = issuerFromAuth0Domain(auth0Domain);
    if (issuer === undefined) {
      throw configError(
        `--auth0-domain must be a host name such as example.eu.auth0.com, got "${auth0Domain}"${from('auth0Domain')}.`,
      );
    }
  }
  if (issuer !== undefined)
    checkUrl(issuer, '--issuer', values.issuer?.source ?? values.auth0Domain?.source ?? '');

  const redirectUri = str('redirectUri');
  if (redirectUri !== undefined)
    checkUrl(redirectUri, '--redirect-uri', values.redirectUri?.source ?? '');
  for (const uri of list('allowRedirectUri'))
    checkUrl(uri, '--allow-redirect-uri', values.allowRedirectUri?.source ?? '');

  const logLevel = str('logLevel') ?? DEFAULTS.logLevel;
  if (!LOG_LEVELS.has(logLevel)) {
    throw configError(
      `--log-level must be one of ${[...LOG_LEVELS].join(', ')}, got "${logLevel}"${from('logLevel')}.`,
    );
  }

  const store = str('store') ?? DEFAULTS.store;
  if (store !== 'memory' && !/^rediss?:\/\//.test(store)) {
    throw configError(
      `--store must be "memory" or a redis:// or rediss:// URL, got "${redactUrl(store)}"${from('store')}.`,
    );
  }
  const storeKey = str('storeKey');
  if (storeKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(storeKey)) {
    throw configError(
      `--store-key must be 64 hex characters (32 random bytes), e.g. from \`openssl rand -hex 32\`${from('storeKey')}.`,
    );
  }
  if (store !== 'memory' && storeKey === undefined) {
    throw configError(
      '--store-key (or PKCE_BROKER_STORE_KEY) is required with a Redis store: generate one with `openssl rand -hex 32`.',
    );
  }

  const open = str('open') ?? DEFAULTS.open;
  if (open.trim() === '')
    throw configError(`--open must be auto, never or a command${from('open')}.`);

  const scope = (str('scope') ?? DEFAULTS.scope).split(/\s+/).filter(Boolean);
  if (scope.length === 0)
    throw configError(
      `--scope must name at least one scope, e.g. "openid profile"${from('scope')}.`,
    );

  const appIds = list('appId');
  if (appIds.some((id) => id.length === 0)) throw configError('--app-id values must not be empty.');

  const allowOrigins = list('allowOrigin');
  for (const origin of allowOrigins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw configError(
        `--allow-origin must be an origin such as https://app.example.com (no path), got "${origin}"${from('allowOrigin')}.`,
      );
    }
  }

  /** A flag or file value is a boolean already; the environment's is text. Unset: undefined. */
  const optionalBool = (key: string, flag: string): boolean | undefined => {
    const entry = values[key];
    if (entry === undefined) return undefined;
    if (typeof entry.value === 'boolean') return entry.value;
    const text = String(entry.value).trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(text)) return true;
    if (['0', 'false', 'no', 'off'].includes(text)) return false;
    throw configError(`${flag} must be true or false, got "${text}"${from(key)}.`);
  };
  const bool = (key: keyof typeof DEFAULTS, flag: string): boolean =>
    optionalBool(key, flag) ?? (DEFAULTS[key] as boolean);

  const responseMode = choice('responseMode', '--response-mode', RESPONSE_MODE_CHOICES);
  const par = choice('par', '--par', PAR_CHOICES);
  const userInfo = choice('userinfo', '--userinfo', USERINFO_CHOICES);

  const flowTtlSec = int('flowTtl', DEFAULTS.flowTtl, 10, 86_400, '--flow-ttl');
  // Unset, it follows a shorter --flow-ttl; set, it must fit in it.
  const challengeTtlSec = int(
    'challengeTtl',
    Math.min(DEFAULTS.challengeTtl, flowTtlSec),
    1,
    86_400,
    '--challenge-ttl',
  );
  if (challengeTtlSec > flowTtlSec) {
    throw configError(
      `--challenge-ttl must not exceed --flow-ttl (${flowTtlSec}), got ${challengeTtlSec}${from('challengeTtl')}.`,
    );
  }

  return {
    port: int('port', DEFAULTS.port, 0, 65_535, '--port'),
    host: str('host') ?? DEFAULTS.host,
    issuer,
    clientId: str('clientId'),
    clientSecret: str('clientSecret'),
    audience: str('audience'),
    scope,
    redirectUri,
    allowRedirectUris: list('allowRedirectUri'),
    open,
    store,
    storeKey,
    storePrefix: str('storePrefix') ?? DEFAULTS.storePrefix,
    flowTtlSec,
    challengeTtlSec,
    waitTimeoutSec: int('waitTimeout', DEFAULTS.waitTimeout, 1, 86_400, '--wait-timeout'),
    maxPendingFlows: int(
      'maxPendingFlows',
      DEFAULTS.maxPendingFlows,
      1,
      10_000_000,
      '--max-pending-flows',
    ),
    maxWaiters: int('maxWaiters', DEFAULTS.maxWaiters, 1, 1_000_000, '--max-waiters'),
    providerTimeoutSec: int(
      'providerTimeout',
      DEFAULTS.providerTimeout,
      1,
      600,
      '--provider-timeout',
    ),
    responseMode,
    par,
    userInfo,
    appIds,
    allowOrigins,
    allowHosts: list('allowHost'),
    logLevel,
    metrics: bool('metrics', '--metrics'),
    discoveryCache: optionalBool('discoveryCache', '--discovery-cache'),
  };
}

function checkUrl(value: string, flag: string, source: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configError(`${flag} must be an absolute URL, got "${value}" (from ${source}).`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw configError(`${flag} must be an http(s) URL, got "${value}" (from ${source}).`);
  }
}

/**
 * Commands that need a provider call this after loadConfig: the flags'
 * provider (--issuer or --auth0-domain with --client-id) and the config
 * file's `providers` list, the default first; at least one of them.
 */
export function requireProvider(config: BrokerConfig): ProviderSpec[] {
  if (config.issuer === undefined && config.providers.length === 0) {
    throw configError(
      'Missing --issuer URL (or --auth0-domain DOMAIN, or a "providers" list in the config file): which identity provider to sign in with. Try `pkce-broker dev` for a local one.',
    );
  }
  return providerSpecs(config);
}
