/**
 * The logger, with redaction at the logger itself: whatever a module logs,
 * secrets (verifiers, codes, tokens, states, nonces, app IDs, credentials)
 * never reach the output. Three layers: field paths, a request serializer
 * that scrubs query strings, and a last pass over each written line.
 */
import {
  destination as pinoDestination,
  pino,
  stdSerializers,
  type DestinationStream,
  type Logger,
} from 'pino';

export type { Logger } from 'pino';

/** Names whose values are secret wherever they appear: JSON keys, query or form parameters. */
export const SECRET_NAMES = [
  'code',
  'code_verifier',
  'verifier',
  'state',
  'nonce',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'client_secret',
  'password',
  'authorization',
  'cookie',
  'set-cookie',
  'x-application-id',
  'storeKey',
  'store_key',
  // camelCase spellings of the same values, as internal objects carry them
  'codeVerifier',
  'accessToken',
  'refreshToken',
  'idToken',
  'clientSecret',
  'client_assertion',
  'proxy-authorization',
  'x-api-key',
  'api_key',
  'apiKey',
] as const;

const REDACTED = '[redacted]';

const namesPattern = SECRET_NAMES.map((n) => n.replace(/[-_]/g, '[-_]')).join('|');
/** `name=value` in query strings and form bodies. */
const PARAM_PATTERN = new RegExp(`([?&;\\s"]|^)(${namesPattern})=([^&#"\\s\\\\]*)`, 'gi');
/** `"name":"value"` in serialised JSON, at any depth. */
const JSON_PATTERN = new RegExp(`("(?:${namesPattern})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi');
/** The same inside a JSON string that holds JSON (`\"code\":\"…\"`), e.g. a body quoted in a message. */
const ESCAPED_JSON_PATTERN = new RegExp(
  `(\\\\"(?:${namesPattern})\\\\"\\s*:\\s*)\\\\"(?:(?!\\\\").)*\\\\"`,
  'gi',
);
/** Compact JWS/JWE anywhere (access and ID tokens). */
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
/** Credentials in HTTP authentication syntax, e.g. a header quoted in an error message. */
const AUTH_SCHEME_PATTERN = /\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}/g;

export function scrubText(text: string): string {
  return text
    .replace(JWT_PATTERN, REDACTED)
    .replace(AUTH_SCHEME_PATTERN, `$1 ${REDACTED}`)
    .replace(JSON_PATTERN, `$1"${REDACTED}"`)
    .replace(ESCAPED_JSON_PATTERN, `$1\\"${REDACTED}\\"`)
    .replace(PARAM_PATTERN, `$1$2=${REDACTED}`);
}

/** A URL with the values of secret query parameters replaced. */
export function redactUrlSecrets(url: string): string {
  return scrubText(url);
}

interface RequestLike {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string };
}

export interface LoggerOptions {
  level: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pinoDestination({ fd: 1, sync: false });
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-application-id"]',
          'res.headers["set-cookie"]',
          ...SECRET_NAMES.flatMap((n) =>
            /^\w+$/.test(n) ? [n, `*.${n}`] : [`["${n}"]`, `*["${n}"]`],
          ),
        ],
        censor: REDACTED,
      },
      serializers: {
        req(req: RequestLike) {
          return {
            method: req.method,
            url: req.url === undefined ? undefined : redactUrlSecrets(req.url),
            host: req.headers?.host,
            remoteAddress: req.socket?.remoteAddress,
          };
        },
        err: stdSerializers.err,
      },
      hooks: {
        streamWrite: scrubText,
      },
    },
    destination,
  );
}
