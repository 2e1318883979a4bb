/** Assembles the Fastify application: parsers, gates, routes, the error handler. */
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { BrokerError } from '../errors.js';
import type { FlowService } from '../flow/service.js';
import type { Logger } from '../logging.js';
import { SHARED_SCHEMAS } from '../protocol/models.js';
import type { FlowStore } from '../store/types.js';
import { errorHandler } from './problem.js';
import { opsRoutes } from './routes/ops.js';
import { pkceRoutes } from './routes/pkce.js';
import { registerSecurity, type SecurityOptions } from './security.js';

export const BODY_LIMIT = 64 * 1024;

export interface AppOptions {
  service: FlowService;
  store: FlowStore;
  logger: Logger;
  issuer: string;
  security: SecurityOptions;
  maxWaiters: number;
  appName?: string;
  version?: string;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // Slow clients must not hold sockets forever; /pkce/code waits are not affected (the request is read by then).
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request) => {
    throw new BrokerError('not_found', `No such endpoint: ${request.method} ${request.url.split('?')[0]}`);
  });

  // Our own JSON parser: an empty body is "no seed" (the official client sends none for
  // generateCode()), and prototype-poisoning keys are refused rather than parsed.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      done(new BrokerError('invalid_request', 'The body is not valid JSON.', { oauthError: 'invalid_request' }), undefined);
    }
  });
  await app.register(formbody, { bodyLimit: BODY_LIMIT });

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'pkce-broker — PKCE API',
        description: 'OAuth 2.0 Authorization Code + PKCE for local apps, as the Pieces OS SDKs call it.',
        version: options.version ?? '0.0.0',
      },
      components: {
        securitySchemes: { application: { type: 'apiKey', in: 'header', name: 'X-Application-ID' } },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  registerSecurity(app, options.security);
  await app.register(pkceRoutes, { service: options.service, appName: options.appName ?? 'your app', maxWaiters: options.maxWaiters });
  await app.register(opsRoutes, { store: options.store, issuer: options.issuer });
  return app;
}
