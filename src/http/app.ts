/** Assembles the Fastify application: parsers, gates, routes, the error handler. */
import formbody from '@fastify/formbody';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import { BrokerError } from '../errors.js';
import type { DeviceService } from '../flow/device.js';
import type { FlowService } from '../flow/service.js';
import type { SessionService } from '../flow/session.js';
import type { Logger } from '../logging.js';
import { SHARED_SCHEMAS } from '../protocol/models.js';
import type { FlowStore } from '../store/types.js';
import { serverLimitOptions, type ServerLimits } from './limits.js';
import { recordOpenApi } from './openapi.js';
import { problemHandler } from './problem.js';
import type { BrokerMetrics } from '../metrics/metrics.js';
import { metricsRoutes } from './routes/metrics.js';
import {
  lazyCompilersFactory,
  lazyValidatorCompiler,
  plainSerializer,
  registerValidationGate,
} from './compilers.js';
import { authorizeUrlRoutes } from './routes/authorize-url.js';
import { deviceRoutes } from './routes/device.js';
import { docsRoutes } from './routes/docs.js';
import { opsRoutes, type OpsRoutesOptions } from './routes/ops.js';
import { pkceRoutes } from './routes/pkce.js';
import { sessionRoutes } from './routes/session.js';
import { registerSecurity, type SecurityOptions } from './security.js';

export const BODY_LIMIT = 64 * 1024;

/** `__proto__` and `constructor.prototype` keys make a body a 400, rather than being parsed or dropped. */
const JSON_POISONING = 'error';

export interface AppOptions {
  service: FlowService;
  /** POST /device/code and /device/token (RFC 8628); absent, the endpoints are not served. */
  device?: DeviceService;
  /** POST /pkce/revoke and /pkce/logout; absent, they are not served. */
  session?: SessionService;
  store: FlowStore;
  logger: Logger;
  issuer: string;
  /** Every configured provider's state, for GET /healthz. */
  providers: OpsRoutesOptions['providers'];
  security: SecurityOptions;
  /** Header and request timeouts; defaults in limits.ts. */
  limits?: Partial<ServerLimits>;
  maxWaiters: number;
  appName?: string;
  version?: string;
  /** --metrics: GET /metrics, and every error answer counted. Absent or off: no /metrics (404). */
  metrics?: BrokerMetrics;
}

/**
 * One line per request, at debug, when it completes (Fastify's default is two at
 * info): at the default level a busy broker writes no line per request, and
 * formatting plus redacting those lines was the largest cost of GET
 * /pkce/challenge (bench/). Failed requests keep their levels.
 */
class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) super.requestCompleted(error, request, reply);
    else
      reply.log.debug(
        { req: request, res: reply, responseTime: reply.elapsedTime },
        'request completed',
      );
  }
}

type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger, made when the request first logs at an enabled level.
 * pino builds every child by passing its bindings through the redaction
 * stringifier, for a reqId that, now that successful requests log at debug, is
 * mostly never written. Lines go through the real child: same bindings, same
 * redaction. What it buys: with Fastify's eager child instead, GET
 * /pkce/challenge served 0.89× the req/s (mean of four A/B runs, 0.83–1.01×)
 * and took 15–24 % more CPU per request (bench/README.md).
 */
class DeferredChildLogger {
  #real: Logger | undefined;
  readonly #parent: Logger;
  readonly #bindings: Bindings;

  constructor(parent: Logger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  #child(): Logger {
    return (this.#real ??= this.#parent.child(this.#bindings));
  }

  #write(level: LogLevel, args: unknown[]): void {
    if ((this.#real ?? this.#parent).isLevelEnabled(level))
      (this.#child()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.#real ?? this.#parent).level;
  }
  set level(level: string) {
    this.#child().level = level;
  }
  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#write('error', args);
  }
  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }
  info(...args: unknown[]): void {
    this.#write('info', args);
  }
  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.#child().child(bindings, options);
  }
}

function requestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  // Per-route levels or serializers need the real child at once.
  if (Object.keys(options).length > 0) return logger.child(bindings, options);
  return new DeferredChildLogger(logger as Logger, bindings) as unknown as FastifyBaseLogger;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const metrics = options.metrics?.enabled === true ? options.metrics : undefined;
  const handleError = problemHandler(metrics && ((route, code) => metrics.refused(route, code)));
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new RequestLogController(),
    childLoggerFactory: requestLogger,
    bodyLimit: BODY_LIMIT,
    onProtoPoisoning: JSON_POISONING,
    onConstructorPoisoning: JSON_POISONING,
    // Slow clients must not hold sockets forever; /pkce/code waits are not affected (the request is read by then).
    ...serverLimitOptions(options.limits),
    return503OnClosing: true,
    schemaController: { compilersFactory: lazyCompilersFactory },
    // A target the router cannot parse (a malformed absolute-form target, a bad escape) is
    // answered before any hook: as our problem, not Fastify's body that echoes the target.
    frameworkErrors: (error, request, reply) =>
      handleError(
        error.code === 'FST_ERR_BAD_URL'
          ? new BrokerError('invalid_request', 'The request target is not a valid URL.', {
              oauthError: 'invalid_request',
            })
          : error,
        request,
        reply,
      ),
  });

  app.setErrorHandler(handleError);
  app.setSerializerCompiler(plainSerializer);
  app.setValidatorCompiler(lazyValidatorCompiler);
  registerValidationGate(app);
  app.setNotFoundHandler((request) => {
    throw new BrokerError(
      'not_found',
      `No such endpoint: ${request.method} ${request.url.split('?')[0]}`,
    );
  });

  // Fastify's JSON parser (secure-json-parse, refusing the poisoning keys as configured above), with
  // one change: an empty body is "no seed" (the official client's generateCode() sends none).
  const parseJson = app.getDefaultJsonParser(JSON_POISONING, JSON_POISONING);
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (request, body: string, done) => {
      if (body.trim() === '') done(null, undefined);
      else parseJson(request, body, done);
    },
  );
  await app.register(formbody, { bodyLimit: BODY_LIMIT });

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  recordOpenApi(app, {
    title: 'pkce-broker — PKCE API',
    description:
      'OAuth 2.0 Authorization Code + PKCE for local apps, as the Pieces OS SDKs call it.',
    version: options.version ?? '0.0.0',
  });

  registerSecurity(app, options.security);
  await app.register(pkceRoutes, {
    service: options.service,
    appName: options.appName ?? 'your app',
    maxWaiters: options.maxWaiters,
  });
  await app.register(opsRoutes, {
    store: options.store,
    issuer: options.issuer,
    providers: options.providers,
  });
  if (options.session) await app.register(sessionRoutes, { service: options.session });
  await app.register(authorizeUrlRoutes, { service: options.service });
  if (options.device)
    await app.register(deviceRoutes, { service: options.device, maxWaiters: options.maxWaiters });
  await app.register(docsRoutes);
  if (metrics) await app.register(metricsRoutes, { metrics });
  return app;
}
