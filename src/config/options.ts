/**
 * Every option of `pkce-broker serve`, in one table: flags, environment
 * variables (PKCE_BROKER_<NAME>), config-file keys and --help are all derived
 * from it, so they cannot drift apart.
 */

export type OptionKind = 'string' | 'integer' | 'list' | 'boolean';

export interface OptionSpec {
  /** Flag name without dashes; also the config-file key (camelCased) and env name (upper snake). */
  flag: string;
  kind: OptionKind;
  description: string;
  /** Shown in --help; the value itself comes from DEFAULTS in load.ts. */
  defaultText?: string;
  /** Value placeholder in --help. */
  meta?: string;
  /** Never echoed in errors or --help examples. */
  secret?: boolean;
  /** A boolean that `--no-FLAG` turns off (its default is on somewhere). */
  negatable?: boolean;
}

export const SERVE_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'port',
    kind: 'integer',
    meta: 'N',
    defaultText: '1000',
    description: 'Port to listen on (0 = any free port).',
  },
  {
    flag: 'host',
    kind: 'string',
    meta: 'ADDR',
    defaultText: '127.0.0.1',
    description: 'Address to listen on (keep it loopback).',
  },
  {
    flag: 'issuer',
    kind: 'string',
    meta: 'URL',
    description: 'OpenID provider issuer URL (discovery at /.well-known/openid-configuration).',
  },
  {
    flag: 'auth0-domain',
    kind: 'string',
    meta: 'DOMAIN',
    description: 'Auth0 tenant domain; shorthand for --issuer https://DOMAIN/.',
  },
  {
    flag: 'client-id',
    kind: 'string',
    meta: 'ID',
    description: 'OAuth client ID registered at the provider (required).',
  },
  {
    flag: 'client-secret',
    kind: 'string',
    meta: 'SECRET',
    secret: true,
    description: 'Client secret, only for a confidential client (prefer the environment variable).',
  },
  {
    flag: 'audience',
    kind: 'string',
    meta: 'AUD',
    description: 'API audience to request (Auth0).',
  },
  {
    flag: 'scope',
    kind: 'string',
    meta: '"S1 S2"',
    defaultText: '"openid profile email offline_access"',
    description: 'Scopes to request, space-separated.',
  },
  {
    flag: 'redirect-uri',
    kind: 'string',
    meta: 'URL',
    defaultText: 'http://127.0.0.1:PORT/pkce/response/code',
    description: "The broker's callback as registered at the provider.",
  },
  {
    flag: 'allow-redirect-uri',
    kind: 'list',
    meta: 'URL',
    description: 'Further redirect URIs an app may ask for (repeatable).',
  },
  {
    flag: 'open',
    kind: 'string',
    meta: 'auto|never|CMD',
    defaultText: 'auto',
    description:
      'How to open the sign-in page: $BROWSER or the system browser, never, or a command given the URL as last argument.',
  },
  {
    flag: 'store',
    kind: 'string',
    meta: 'memory|redis://…',
    defaultText: 'memory',
    description: 'Where flows live: in memory, or Redis shared by several brokers.',
  },
  {
    flag: 'store-key',
    kind: 'string',
    meta: 'HEX',
    secret: true,
    description: '64 hex characters (32 bytes) encrypting secrets at rest; required with Redis.',
  },
  {
    flag: 'store-prefix',
    kind: 'string',
    meta: 'PREFIX',
    defaultText: 'pkce-broker:',
    description: 'Key prefix in Redis.',
  },
  {
    flag: 'flow-ttl',
    kind: 'integer',
    meta: 'SECONDS',
    defaultText: '600',
    description: 'How long a sign-in may take from its start (POST /pkce/code) to token.',
  },
  {
    flag: 'challenge-ttl',
    kind: 'integer',
    meta: 'SECONDS',
    defaultText: '60',
    description:
      'How long a challenge waits for its POST /pkce/code to start it (at most --flow-ttl).',
  },
  {
    flag: 'wait-timeout',
    kind: 'integer',
    meta: 'SECONDS',
    defaultText: '300',
    description: 'How long POST /pkce/code waits for the browser.',
  },
  {
    flag: 'max-pending-flows',
    kind: 'integer',
    meta: 'N',
    defaultText: '10000',
    description: 'Sign-ins in progress at once (429 beyond).',
  },
  {
    flag: 'max-waiters',
    kind: 'integer',
    meta: 'N',
    defaultText: '1000',
    description: 'POST /pkce/code requests waiting at once (429 beyond).',
  },
  {
    flag: 'provider-timeout',
    kind: 'integer',
    meta: 'SECONDS',
    defaultText: '10',
    description: 'Timeout of every request to the identity provider.',
  },
  {
    flag: 'response-mode',
    kind: 'string',
    meta: 'auto|form_post|query',
    defaultText: 'auto',
    description:
      'How the provider returns the code: auto = form_post where its discovery lists it, else query.',
  },
  {
    flag: 'par',
    kind: 'string',
    meta: 'auto|always|never',
    defaultText: 'auto',
    description:
      'Pushed authorization requests (RFC 9126): where the provider offers them, always (else refuse to start), or never.',
  },
  {
    flag: 'userinfo',
    kind: 'string',
    meta: 'auto|always|never',
    defaultText: 'auto',
    description:
      "Fetch the provider's user info for the token answer's user: auto = where the ID token lacks the asked scopes' claims.",
  },
  {
    flag: 'app-id',
    kind: 'list',
    meta: 'ID',
    secret: true,
    description: 'Allowed X-Application-ID values (repeatable; none = no check).',
  },
  {
    flag: 'allow-origin',
    kind: 'list',
    meta: 'ORIGIN',
    description: 'Origins granted CORS access (repeatable; none by default).',
  },
  {
    flag: 'allow-host',
    kind: 'list',
    meta: 'NAME',
    description: 'Extra Host names the broker answers to (repeatable).',
  },
  {
    flag: 'metrics',
    kind: 'boolean',
    defaultText: 'off',
    description:
      'Serve GET /metrics (Prometheus text format), behind the same Host and app-id gates as the API.',
  },
  {
    flag: 'discovery-cache',
    kind: 'boolean',
    negatable: true,
    defaultText: 'on for serve and login',
    description:
      "Keep providers' discovery documents in the user's cache directory and start from them (revalidated once listening); --no-discovery-cache turns it off.",
  },
  {
    flag: 'log-level',
    kind: 'string',
    meta: 'LEVEL',
    defaultText: 'info',
    description: 'fatal, error, warn, info, debug, trace or silent.',
  },
  {
    flag: 'config',
    kind: 'string',
    meta: 'FILE',
    defaultText: './pkce-broker.config.json if present',
    description: 'JSON config file (keys: the option names in camelCase).',
  },
];

export function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function envName(flag: string): string {
  return `PKCE_BROKER_${flag.replace(/-/g, '_').toUpperCase()}`;
}
