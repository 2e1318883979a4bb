/**
 * The logger, with redaction at the logger itself: whatever a module logs,
 * secrets (verifiers, codes, tokens, states, nonces, app IDs, credentials)
 * never reach the output. Three layers: field paths, a request serializer
 * that scrubs query strings, and a last pass over each written line. What a
 * secret is and how it is hidden is redact.ts's; this module applies it, and
 * cuts long URLs and messages first (an attacker picks the request path).
 */
import {
  destination as pinoDestination,
  pino,
  stdSerializers,
  type DestinationStream,
  type Logger,
} from 'pino';
import { REDACTED, SECRET_NAMES, scrubText, truncateForLog } from './redact.js';

export type { Logger } from 'pino';

/** Longest request URL a log line shows; longer ones are cut before they are scrubbed. */
export const MAX_LOGGED_URL = 2 * 1024;
/** Longest message (or error message, or stack line) a log line shows. */
export const MAX_LOGGED_MESSAGE = 4 * 1024;
/** Longest error stack a log line shows, all lines together. */
const MAX_LOGGED_STACK = 16 * 1024;

/** Kept for the callers that import it from the logger; the rule lives in redact.ts. */

function truncateStack(stack: string): string {
  if (stack.length <= MAX_LOGGED_MESSAGE) return stack;
  // Line by line: a long message in the first line must not push the frames out.
  const lines = stack.split('\n').map((line) => truncateForLog(line, MAX_LOGGED_MESSAGE));
  return truncateForLog(lines.join('\n'), MAX_LOGGED_STACK);
}

/** pino's error serializer, with message and stack cut to size (scrubbed later, with the line). */
function serializeError(error: unknown): unknown {
  const serialized = stdSerializers.err(error as Error) as unknown;
  if (typeof serialized !== 'object' || serialized === null) return serialized;
  const fields = serialized as { message?: unknown; stack?: unknown };
  if (typeof fields.message === 'string')
    fields.message = truncateForLog(fields.message, MAX_LOGGED_MESSAGE);
  if (typeof fields.stack === 'string') fields.stack = truncateStack(fields.stack);
  return serialized;
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
            url:
              req.url === undefined
                ? undefined
                : scrubText(truncateForLog(req.url, MAX_LOGGED_URL)),
            host: req.headers?.host,
            remoteAddress: req.socket?.remoteAddress,
          };
        },
        err: serializeError,
      },
      hooks: {
        // Messages are cut before they are formatted; the whole line is scrubbed as it is written.
        logMethod(args, method) {
          // log.error(err) with no message of its own uses err.message as the message.
          const [first] = args as unknown[];
          if (
            args.length === 1 &&
            first instanceof Error &&
            first.message.length > MAX_LOGGED_MESSAGE
          )
            (args as unknown[]).push(first.message);
          for (let i = 0; i < args.length; i++) {
            const arg: unknown = args[i];
            if (typeof arg === 'string' && arg.length > MAX_LOGGED_MESSAGE)
              (args as unknown[])[i] = truncateForLog(arg, MAX_LOGGED_MESSAGE);
          }
          method.apply(this, args);
        },
        streamWrite: scrubText,
      },
    },
    destination,
  );
}
