/** The five endpoints of the PKCE API. Thin: parse, call FlowService, answer. */
import { CALLBACK_PATH } from '../callback-path.js';
import { emptyBodyIsEmpty, WaitingRequests } from '../waiting.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../../errors.js';
import type { CallbackDelivery, FlowService } from '../../flow/service.js';
import { MODEL_SCHEMA, type SeededPKCE, type TokenizedPKCE } from '../../protocol/models.js';
import { CALLBACK_PAGE_HEADERS, prefersHtml, renderCallbackPage } from '../callback-page.js';

const problemResponses = {
  '4xx': { $ref: 'Problem#' },
  '5xx': { $ref: 'Problem#' },
} as const;

const JSON_ONLY = ['application/json'];

const pkceResponse = { 200: { $ref: 'PKCE#' }, ...problemResponses } as const;

/** Parameters a provider may send to the callback, form_post or query. */
const callbackParams = {
  type: 'object',
  properties: {
    code: { type: 'string', maxLength: 4096 },
    state: { type: 'string', maxLength: 1024 },
    iss: { type: 'string', maxLength: 2048 },
    // No maxLength on the provider's error text: refusing it here would leave the flow, and its waiting app,
    // pending until the timeout. The body limit bounds it, and checkCallback (src/provider) cleans it.
    error: { type: 'string' },
    error_description: { type: 'string' },
    error_uri: { type: 'string' },
    // The official client sends `schema` as the string "[object Blob]": accepted and ignored.
    schema: {},
  },
} as const;

export interface PkceRoutesOptions {
  service: FlowService;
  appName: string;
  maxWaiters: number;
}

function toSearchParams(input: unknown): URLSearchParams {
  const params = new URLSearchParams();
  if (input && typeof input === 'object') {
    for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
      if (key === 'schema') continue;
      if (typeof value === 'string') params.set(key, value);
      else if (Array.isArray(value)) {
        // A repeated parameter is ambiguous (RFC 6749 §3.1): refuse rather than pick one.
        throw new BrokerError('invalid_callback', `Parameter "${key}" was given more than once.`, {
          oauthError: 'invalid_request',
        });
      }
    }
  }
  return params;
}

export async function pkceRoutes(app: FastifyInstance, options: PkceRoutesOptions): Promise<void> {
  const { service } = options;
  const waiting = new WaitingRequests(
    options.maxWaiters,
    'Too many sign-ins are waiting for the browser.',
  );

  app.get(
    '/pkce/challenge',
    {
      schema: {
        operationId: 'getChallenge',
        tags: ['PKCE'],
        summary: 'A new PKCE challenge',
        response: pkceResponse,
      },
    },
    async () => ({ schema: MODEL_SCHEMA, challenge: await service.challenge() }),
  );

  app.post<{ Body: SeededPKCE | undefined }>(
    '/pkce/code',
    {
      config: { contentTypes: JSON_ONLY },
      // No body at all is "no seed" (the official client's generateCode() sends none).
      preValidation: emptyBodyIsEmpty,
      schema: {
        operationId: 'generateCode',
        tags: ['PKCE'],
        summary: 'Start a sign-in and wait for its code',
        body: { $ref: 'SeededPKCE#' },
        response: { ...pkceResponse },
      },
    },
    async (request: FastifyRequest<{ Body: SeededPKCE | undefined }>, reply: FastifyReply) => {
      return waiting.run(reply, (disconnected) =>
        service.authorize(request.body ?? {}, disconnected),
      );
    },
  );

  const callback = async (
    request: FastifyRequest,
    reply: FastifyReply,
    input: unknown,
    delivery: CallbackDelivery,
  ) => {
    // How it came matters: a form_post flow's answer never travels in a URL.
    const result = await service.callback(toSearchParams(input), delivery);
    reply.headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    if (prefersHtml(request.headers.accept)) {
      return reply
        .headers(CALLBACK_PAGE_HEADERS)
        .type('text/html; charset=utf-8')
        .send(renderCallbackPage({ ok: true, appName: options.appName }));
    }
    return { schema: MODEL_SCHEMA, result };
  };

  app.post(
    CALLBACK_PATH,
    {
      config: {
        htmlAnswers: true,
        callback: true,
        contentTypes: ['application/x-www-form-urlencoded'],
      },
      schema: {
        operationId: 'respondWithCode',
        tags: ['PKCE'],
        summary: 'The authorization callback (form_post)',
        consumes: ['application/x-www-form-urlencoded'],
        body: callbackParams,
        response: pkceResponse,
      },
    },
    (request, reply) => callback(request, reply, request.body, 'form'),
  );

  app.get(
    CALLBACK_PATH,
    {
      config: { htmlAnswers: true, callback: true },
      schema: {
        operationId: 'respondWithCodeQuery',
        tags: ['PKCE'],
        summary: 'The authorization callback (response_mode=query)',
        querystring: callbackParams,
        response: pkceResponse,
      },
    },
    (request, reply) => callback(request, reply, request.query, 'query'),
  );

  app.post<{ Body: TokenizedPKCE }>(
    '/pkce/token',
    {
      config: { contentTypes: JSON_ONLY },
      schema: {
        operationId: 'generateToken',
        tags: ['PKCE'],
        summary: 'Exchange a code (or refresh token) for tokens',
        body: { $ref: 'TokenizedPKCE#' },
        response: pkceResponse,
      },
    },
    async (request, reply) => {
      if (!request.body)
        throw new BrokerError('invalid_request', 'A TokenizedPKCE body is required.', {
          oauthError: 'invalid_request',
        });
      const answer = await service.token(request.body);
      void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return answer;
    },
  );

  app.post(
    '/pkce/clear',
    {
      config: { contentTypes: JSON_ONLY },
      schema: {
        operationId: 'clearPKCE',
        tags: ['PKCE'],
        summary: 'Cancel every pending sign-in',
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (_request, reply) => {
      await service.clear();
      return reply.code(204).send();
    },
  );
}
